// The UAS core: what happens to a request between the transaction layer and whoever decides
// its answer (today the built-in defaults, later the SipApps). It applies NkSIP's processing
// order (reference §4): CANCEL matching, merged requests, the stateless checks, then the
// decision; every server transaction it is handed gets exactly one final response.
// It owns the UAS side of the dialogs (dialog/): requests with a To tag are checked against
// them after the route decision (NkSIP step 5), every response sent on a server transaction
// creates, updates or stops its dialog, and ACKs for 2xx confirm them. One periodic sweep
// stops dialogs idle for longer than the dialog timeout; a 2xx never ACKed stops its dialog.
import type { Logger } from 'pino';
import { UasAuthorizer } from '../auth/authorize.js';
import { DialogAuth } from '../auth/dialog-auth.js';
import { Authenticator } from '../auth/server.js';
import { makeResponse, makeStatelessResponse, reasonPhrase } from '../sip/build.js';
import { newTag } from '../sip/ids.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Parsed } from '../sip/parser.js';
import type { Uri } from '../sip/uri.js';
import { checkRequest, checkResponse } from '../sip/validate.js';
import {
  type Clock,
  realClock,
  type ServerFailure,
  type ServerTxn,
  type TimerHandle,
  type TransactionLayer,
} from '../transaction/index.js';
import { sixtyFourT1 } from '../transaction/timers.js';
import { type Incoming, isReliable, type SipTransport, type Source } from '../transport/types.js';
import { ChurnMap } from '../util/churn-map.js';
import type { AppHandler, RequestContext } from './app.js';
import { BUILT_IN_CALLS, type CallCounter } from './calls.js';
import type { RouteDecision } from './decision.js';
import { defaultApp } from './default-app.js';
import { inDialogError, receiveInDialog } from './dialog/check.js';
import type { Dialog, DialogUpdate, StopReason } from './dialog/dialog.js';
import { DialogTable } from './dialog/table.js';
import type { Forwarder } from './forwarder.js';
import { ReliableProvisionals, sendReliably } from './prack.js';
import { type Reply, reply, responseOptions } from './reply.js';
import { malformedSdp } from './session.js';
import { DEFAULT_TIMERS, type SessionTimers, sessionTooSmall, uasSessionExpires } from './timers.js';
import { precheck, type UasProfile } from './uas-checks.js';

export interface UasCoreOptions {
  transport: SipTransport;
  layer: TransactionLayer;
  profile: (source: Source) => UasProfile;
  /** The application logic; NkSIP's defaults when absent. */
  app?: AppHandler;
  /** The proxy, for `proxy` decisions; without one they are answered 500. */
  forwarder?: Forwarder;
  logger?: Logger;
  /** Time for dialogs (activity, the timeout sweep, the ACK wait). Default: the real clock. */
  clock?: Clock;
  /** The UAS dialogs; a new table when absent. */
  dialogs?: DialogTable;
  /**
   * NkSIP `sip_dialog_timeout`, ms: a dialog without any request or response for this long
   * is stopped. Default 1800 s.
   */
  dialogTimeoutMs?: number;
  /**
   * NkSIP `sip_timer_c`, ms: an INVITE the app holds this long after it arrived or after its
   * last provisional response is answered 408 "Timer C Timeout". Default 180 s.
   */
  timerCMs?: number;
  /** Our own URIs: a Record-Route of ours on top is left out of a dialog's route set. */
  isLocal?: (uri: Uri) => boolean;
  /**
   * Hangs up a dialog whose INVITE session timed out: NkSIP sends a BYE with
   * `Reason: SIP;cause=408;text="Dialog Timeout"` before stopping it. Sending needs the UAC
   * core, which the composition owns; without this the dialog only stops.
   */
  hangUp?: (dialog: Dialog, reason: string) => void;
  /** Digest challenges and checks (nonce secret and lifetime); one on `clock` when absent. */
  authenticator?: Authenticator;
  /** The dialogs' authorised sources (shared with the UAC core); a new one when absent. */
  dialogAuth?: DialogAuth;
  /** The live calls and their limits: a request that would start one too many gets 503. */
  calls?: CallCounter;
}

/** The Reason of the BYE sent when a dialog times out (NkSIP). */
export const DIALOG_TIMEOUT_REASON = 'SIP;cause=408;text="Dialog Timeout"';

/** How long after an INVITE's Expires the UAS core answers 487 itself. */
export const INVITE_EXPIRY_GRACE_MS = 1000;

/** NkSIP's `sip_dialog_timeout` default: 1800 s. */
export const DEFAULT_DIALOG_TIMEOUT_MS = 1_800_000;

/** NkSIP's `sip_timer_c` default (RFC 3261 §16.6: more than 3 minutes): 180 s. */
export const DEFAULT_TIMER_C_MS = 180_000;

export class UasCore {
  private readonly transport: SipTransport;
  private readonly layer: TransactionLayer;
  private readonly profile: (source: Source) => UasProfile;
  private readonly log: Logger | undefined;
  private app: AppHandler;
  private readonly forwarder: Forwarder | undefined;
  private draining = false;
  /** The dialogs table, shared with the UAC core (server.ts passes it to both). */
  readonly dialogs: DialogTable;
  private readonly clock: Clock;
  private readonly dialogTimeoutMs: number;
  private readonly isLocal: ((uri: Uri) => boolean) | undefined;
  private readonly hangUp: ((dialog: Dialog, reason: string) => void) | undefined;
  /** Transactions answered by the dialog checks themselves: their response leaves the dialog alone. */
  private readonly noDialog = new WeakSet<ServerTxn>();
  /** The request (and its source) that created each dialog, for updates with no request of their own. */
  private readonly origins = new WeakMap<Dialog, { req: SipRequest; source: Source }>();
  /** Dialogs whose INVITE was answered 2xx and waits for its ACK (64*T1), and the 2xx resends. */
  private readonly ackWaits = new ChurnMap<Dialog, { timer: TimerHandle; resend?: TimerHandle }>();
  /** INVITEs carrying Expires, until their final response (RFC 3261 §13.3.1). */
  private readonly inviteExpiries = new ChurnMap<ServerTxn, TimerHandle>();
  /** Requests handed to the app, until their final response: Timer C, or 64*T1 for non-INVITE. */
  private readonly holds = new ChurnMap<ServerTxn, TimerHandle>();
  private readonly timerCMs: number;
  /** The one periodic dialog timeout sweep; armed only while there are dialogs. */
  private sweepTimer: TimerHandle | undefined;
  private closed = false;
  /** Per-dialog authorised sources: the `dialog` token of `authorize`. */
  readonly dialogAuth: DialogAuth;
  private readonly authorizer: UasAuthorizer;
  /** Reliable 1xx waiting for their PRACK (RFC 3262). */
  readonly reliable: ReliableProvisionals;
  /** Session timers (RFC 4028), shared with the UAC core; none until server.ts sets them. */
  private sessionTimers: SessionTimers | undefined;
  private readonly calls: CallCounter | undefined;

  constructor(opts: UasCoreOptions) {
    this.transport = opts.transport;
    this.layer = opts.layer;
    this.profile = opts.profile;
    this.log = opts.logger;
    this.app = opts.app ?? defaultApp(opts.profile);
    this.forwarder = opts.forwarder;
    this.dialogs = opts.dialogs ?? new DialogTable();
    this.clock = opts.clock ?? realClock;
    this.dialogTimeoutMs = opts.dialogTimeoutMs ?? DEFAULT_DIALOG_TIMEOUT_MS;
    this.timerCMs = opts.timerCMs ?? DEFAULT_TIMER_C_MS;
    this.isLocal = opts.isLocal;
    this.hangUp = opts.hangUp;
    this.dialogAuth = opts.dialogAuth ?? new DialogAuth();
    this.calls = opts.calls;
    this.authorizer = new UasAuthorizer(
      opts.authenticator ?? new Authenticator({ clock: this.clock }),
      this.dialogAuth,
    );
    this.reliable = new ReliableProvisionals({
      clock: this.clock,
      t1: () => this.layer.timers.t1,
      resend: (txn, resp) => {
        txn.respond(resp);
      },
      giveUp: (txn, r) => {
        this.log?.info({ callId: txn.request.callId }, 'no PRACK for a reliable provisional response');
        this.respond(txn, r);
      },
      release: (txn, r) => this.respond(txn, r, undefined, true),
    });
    this.layer.setUser({
      onRequest: (req, txn, source) => this.onRequest(req, txn, source),
      onAck: (ack, source) => this.onAck(ack, source),
      onStrayResponse: (resp, source) => {
        if (this.forwarder) this.forwarder.stray(resp, source);
        else this.log?.debug({ status: resp.status, source }, 'stray response dropped');
      },
      onServerFailure: (txn, reason) => this.onServerFailure(txn, reason),
      onSettled: (txn) => this.calls?.release(txn.callOwner as string, txn.request.callId),
    });
  }

  setSessionTimers(t: SessionTimers): void {
    this.sessionTimers = t;
  }

  /** Who decides from now on (the apps layer swaps SipApps in and out). */
  setApp(app: AppHandler): void {
    this.app = app;
  }

  /** From now on new requests get 503 (shutdown); live transactions carry on. */
  drain(): void {
    this.draining = true;
  }

  /** Shutdown: the dialog sweep and the ACK waits stop (the dialogs themselves are left). */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) this.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const w of this.ackWaits.values()) {
      this.clock.clearTimer(w.timer);
      if (w.resend) this.clock.clearTimer(w.resend);
    }
    this.ackWaits.clear();
    for (const t of this.inviteExpiries.values()) this.clock.clearTimer(t);
    this.inviteExpiries.clear();
    for (const t of this.holds.values()) this.clock.clearTimer(t);
    this.holds.clear();
    this.reliable.close();
    this.sessionTimers?.close();
  }

  /**
   * Entry for everything the transport receives: the stateless checks of RFC 3261 §8.2
   * (answered without a transaction, so a malformed INVITE gets no 100 Trying first), then
   * the transaction layer.
   */
  receive(inc: Incoming): void {
    const parsed: Parsed = inc.defect === undefined ? { msg: inc.msg } : { msg: inc.msg, defect: inc.defect };
    let verdict: { status: number; reason: string } | string | undefined;
    try {
      verdict = inc.msg.kind === 'request' ? checkRequest(parsed) : checkResponse(parsed);
    } catch (err) {
      this.log?.error({ err }, 'message check failed');
      return;
    }
    if (verdict === undefined) {
      this.layer.receive(inc);
      return;
    }
    if (typeof verdict === 'string' || inc.msg.kind === 'response') {
      this.log?.debug({ reason: verdict, source: inc.source }, 'malformed response dropped');
      return;
    }
    this.rejectStateless(inc.msg, inc.source, verdict.status, verdict.reason);
  }

  /** Answers without a transaction: malformed requests and stateless decisions. */
  private rejectStateless(req: SipRequest, source: Source, status: number, reason: string, r?: Reply): void {
    if (req.method === 'ACK') return;
    this.log?.debug({ status, reason, source, method: req.method }, 'stateless answer');
    let resp: SipResponse;
    try {
      resp = makeStatelessResponse(req, status, responseOptions(r ?? { status, reason }));
    } catch {
      return;
    }
    this.transport.sendResponse(resp, source).catch((err: unknown) => {
      this.log?.debug({ err }, 'could not send the rejection');
    });
  }

  private onRequest(req: SipRequest, txn: ServerTxn, source: Source): void {
    if (req.method === 'CANCEL') {
      this.onCancel(req, txn);
      return;
    }
    if (this.draining) {
      this.respond(txn, { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '5']] });
      return;
    }
    if (this.calls && !this.countCall(req, txn, source)) {
      this.log?.info({ callId: req.callId, method: req.method }, 'too many calls: 503');
      this.respond(txn, { status: 503, reason: 'Too Many Calls' });
      return;
    }
    if (this.app.authorize) {
      // NkSIP step 3. Rejections go through the transaction: it absorbs the ACK of a 401/407
      // to an INVITE and answers retransmissions with the same challenge, with no new
      // callbacks; the client's retry is a new transaction anyway.
      const app = this.app;
      const dialog = req.toTag !== undefined ? this.dialogs.findUas(req) : undefined;
      this.settle(
        () => this.authorizer.run(app, req, source, dialog),
        (rejection) => {
          if (rejection) {
            // a request not let in never reaches its dialog: a 401 to a BYE must not end it
            this.noDialog.add(txn);
            this.respond(txn, rejection);
          } else if (txn.state === 'trying' || txn.state === 'proceeding') this.routeStep(req, txn, source);
        },
        txn,
        'authorize',
      );
      return;
    }
    this.routeStep(req, txn, source);
  }

  /**
   * The request counts in its call until its final response (NkSIP starts a call process for
   * it); false when it would start a call beyond the server's or its app's limit.
   */
  private countCall(req: SipRequest, txn: ServerTxn, source: Source): boolean {
    const calls = this.calls as CallCounter;
    const scope = this.app.callScope?.(source) ?? BUILT_IN_CALLS;
    if (!calls.admit(scope, req.callId)) return false;
    txn.callOwner = scope.owner;
    txn.counted = true;
    return true;
  }

  /** NkSIP step 4: sip_route, then what its answer says. */
  private routeStep(req: SipRequest, txn: ServerTxn, source: Source): void {
    this.settle(
      () => this.app.route(req, source),
      (decision) => this.decided(req, txn, source, decision),
      txn,
      'route',
    );
  }

  /** What NkSIP does with each sip_route answer (reference §4). */
  private decided(req: SipRequest, txn: ServerTxn, source: Source, d: RouteDecision): void {
    switch (d.kind) {
      case 'process':
      case 'process_stateless': {
        const stateless = d.kind === 'process_stateless';
        if (stateless && req.method === 'INVITE') {
          this.respond(txn, { status: 500, reason: 'Invalid Service Reply' });
          return;
        }
        // a merged request is a loop only for the UAS; a proxy sees legitimate spirals
        // that look the same (RFC 3261 §8.2.2.2, §16.3). The UAS is the element behind one
        // listener: a copy that reached another listener (another app of this server, after
        // one of them proxied it there) is not merged for this one.
        if (txn.mergedWith !== undefined && !stateless && sameListener(txn.mergedWith.source, source)) {
          this.respond(txn, { status: 482, reason: 'Loop Detected' });
          return;
        }
        // NkSIP step 5: a request with a To tag must belong to one of our dialogs
        const ctx: RequestContext = {};
        if (req.toTag !== undefined) {
          const found = stateless ? this.checkInDialog(req) : this.receiveInDialog(req, source);
          if ('reply' in found) {
            if (!stateless) this.noDialog.add(txn);
            this.finish(txn, found.reply, stateless);
            return;
          }
          if (found.dialog) ctx.dialog = found.dialog;
        }
        // RFC 3262 §3: a PRACK must match an unacknowledged reliable 1xx
        if (req.method === 'PRACK' && !(ctx.dialog && this.reliable.prack(req, ctx.dialog.localTag))) {
          // our 481 says nothing about the dialog itself
          if (!stateless) this.noDialog.add(txn);
          this.finish(txn, reply(481), stateless);
          return;
        }
        const bad = malformedSdp(req);
        const rejection =
          precheck(req, this.profile(source)) ??
          (bad ? reply(488, bad) : undefined) ??
          // the app's timer settings are looked up only for the requests that may carry one
          (req.method === 'INVITE' || req.method === 'UPDATE'
            ? sessionTooSmall(req, this.app.timers?.(source) ?? DEFAULT_TIMERS)
            : undefined);
        if (rejection) {
          this.finish(txn, rejection, stateless);
          return;
        }
        if (req.method === 'INVITE' && !stateless) this.armInviteExpiry(req, txn);
        if (!stateless) this.armHold(txn);
        const provisional = (r: Reply) => r.status > 100 && r.status < 200 && this.respond(txn, r);
        this.settle(
          () =>
            ctx.dialog
              ? this.app.method(req, source, provisional, ctx)
              : this.app.method(req, source, provisional),
          (r) => this.finish(txn, r, stateless),
          txn,
          'method',
        );
        return;
      }
      case 'reply':
        this.respond(txn, d.reply);
        return;
      case 'reply_stateless':
        this.finish(txn, d.reply, true);
        return;
      case 'proxy':
        if (!this.forwarder) {
          this.respond(txn, { status: 500, reason: 'No Proxy' });
          return;
        }
        this.forwarder.forward(req, txn, source, d.targets, d.options);
        return;
      case 'proxy_stateless':
        txn.abort();
        if (this.forwarder) this.forwarder.forwardStateless(req, source, d.targets, d.options);
        return;
    }
  }

  /** An ACK for a 2xx: proxied on if the route decision says so, else told to the app. */
  private onAck(ack: SipRequest, source: Source): void {
    this.settle(
      () => this.app.route(ack, source),
      (d) => {
        if ((d.kind === 'proxy' || d.kind === 'proxy_stateless') && this.forwarder) {
          this.forwarder.forwardAck(ack, source, d.targets, d.options);
        } else if (d.kind === 'process' || d.kind === 'process_stateless') {
          this.ackInDialog(ack, source);
        }
      },
      undefined,
      'route',
    );
  }

  /**
   * RFC 3261 §13.3.1: an INVITE whose Expires passes before the app answered it is answered
   * 487 by the UAS core, as NkSIP does; the app's answer, when it comes, finds it answered.
   */
  private armInviteExpiry(req: SipRequest, txn: ServerTxn): void {
    const value = req.header('expires');
    if (value === undefined || !/^\s*\d{1,10}\s*$/.test(value)) return;
    const secs = Number(value);
    if (this.closed || secs > 2 ** 31 / 1000) return;
    // a second's grace: a caller that cancels at its own expiry (NkSIP's UAC does) gets its CANCEL in first
    const timer = this.clock.setTimer(secs * 1000 + INVITE_EXPIRY_GRACE_MS, () => {
      if (this.inviteExpiries.get(txn) !== timer) return;
      this.inviteExpiries.delete(txn);
      if (txn.state !== 'proceeding') return;
      this.log?.debug({ callId: req.callId, expires: secs }, 'INVITE expired unanswered: 487');
      this.respond(txn, { status: 487 });
    });
    this.inviteExpiries.set(txn, timer);
  }

  /**
   * NkSIP's UAS timers: an app that holds an INVITE past Timer C (restarted by each
   * provisional response it sends) or any other request past 64*T1 gets it answered 408
   * ("Timer C Timeout", "No-INVITE Timeout"); its answer, when it comes, finds it answered.
   */
  private armHold(txn: ServerTxn): void {
    if (this.closed) return;
    const old = this.holds.get(txn);
    if (old !== undefined) this.clock.clearTimer(old);
    const isInvite = txn.request.method === 'INVITE';
    const ms = isInvite ? this.timerCMs : sixtyFourT1(this.layer.timers);
    const timer = this.clock.setTimer(ms, () => {
      if (this.holds.get(txn) !== timer) return;
      this.holds.delete(txn);
      if (txn.state === 'terminated') return;
      const reason = isInvite ? 'Timer C Timeout' : 'No-INVITE Timeout';
      this.log?.info({ callId: txn.request.callId, method: txn.request.method }, `${reason}: 408`);
      this.respond(txn, { status: 408, reason }, undefined, true);
    });
    this.holds.set(txn, timer);
  }

  /** The ACK of a 2xx we sent confirms its dialog; then the app is told, with the dialog. */
  private ackInDialog(ack: SipRequest, source: Source): void {
    const r = receiveInDialog(this.dialogs, ack, { now: this.clock.now() });
    switch (r.kind) {
      case 'none':
        this.app.ack?.(ack, source);
        return;
      case 'drop':
        this.log?.debug({ callId: ack.callId, why: r.why }, 'ACK dropped');
        return;
      case 'ack':
        this.dialogChanged(r.dialog, r.updates, ack, source);
        if (r.result === 'confirmed') {
          this.stopAckWait(r.dialog);
          this.app.ack?.(ack, source, { dialog: r.dialog });
        }
        return;
      default:
        // receiveInDialog answers an ACK only with none, drop or ack
        return;
    }
  }

  /** The dialog checks of a stateful request: recorded in its dialog when it passes. */
  private receiveInDialog(
    req: SipRequest,
    source: Source,
  ): { reply: Reply } | { dialog: Dialog | undefined } {
    const r = receiveInDialog(this.dialogs, req, { now: this.clock.now() });
    switch (r.kind) {
      case 'reply':
        return { reply: r.reply };
      case 'process':
        if (r.dialog) this.dialogChanged(r.dialog, r.updates, req, source);
        return { dialog: r.dialog };
      default:
        // none (CANCEL never comes here) and the ACK kinds (nor does ACK)
        return { dialog: undefined };
    }
  }

  /**
   * The same checks for a request processed statelessly: nothing is recorded, since its
   * response will not pass through the dialog either.
   */
  private checkInDialog(req: SipRequest): { reply: Reply } | { dialog: Dialog } {
    const dialog = this.dialogs.findUas(req);
    if (!dialog) return { reply: reply(481) };
    const error = inDialogError(dialog, req);
    return error ? { reply: error } : { dialog };
  }

  /** A response went out on `txn`: its dialog is created, updated or stopped. */
  private dialogResponse(txn: ServerTxn, resp: SipResponse): void {
    const req = txn.request;
    let step: ReturnType<DialogTable['uasResponse']>;
    try {
      const ctx: Parameters<DialogTable['uasResponse']>[2] = { now: this.clock.now(), owner: txn.callOwner };
      if (this.isLocal) ctx.isLocal = this.isLocal;
      step = this.dialogs.uasResponse(req, resp, ctx);
    } catch (err) {
      this.log?.debug({ err, callId: req.callId, status: resp.status }, 'response left out of dialogs');
      return;
    }
    const { dialog, updates, created } = step;
    if (!dialog) return;
    // NkSIP: the peer of a 2xx we send in a dialog is authorised there
    if (resp.status >= 200 && resp.status < 300) this.dialogAuth.add(dialog, txn.source);
    if (created) {
      this.origins.set(dialog, { req, source: txn.source });
      this.armSweep();
    }
    this.dialogChanged(dialog, updates, req, txn.source);
    const inv = dialog.invite;
    if (
      !dialog.ended &&
      req.method === 'INVITE' &&
      resp.status >= 200 &&
      resp.status < 300 &&
      inv?.status === 'accepted_uas' &&
      inv.cseq === req.cseq.seq
    ) {
      this.waitAck(dialog, inv.cseq, txn, resp);
    }
  }

  /**
   * RFC 3261 §13.3.1.4: our 2xx is resent over an unreliable transport (T1 doubling up to
   * T2) until its ACK comes (the transaction layer leaves that to us, RFC 6026); no ACK
   * within 64*T1 ends the dialog (NkSIP `ack_timeout`).
   */
  private waitAck(dialog: Dialog, cseq: number, txn: ServerTxn, resp: SipResponse): void {
    if (this.closed) return;
    this.stopAckWait(dialog);
    const timer = this.clock.setTimer(sixtyFourT1(this.layer.timers), () => {
      const w = this.ackWaits.get(dialog);
      if (w?.timer !== timer) return;
      this.stopAckWait(dialog);
      const inv = dialog.invite;
      if (inv?.status === 'accepted_uas' && inv.cseq === cseq) this.stopDialog(dialog, 'ack_timeout');
    });
    const wait: { timer: TimerHandle; resend?: TimerHandle } = { timer };
    this.ackWaits.set(dialog, wait);
    if (isReliable(txn.source.transport)) return;
    const { t1, t2 } = this.layer.timers;
    const resend = (interval: number) => {
      wait.resend = this.clock.setTimer(interval, () => {
        if (this.ackWaits.get(dialog) !== wait) return;
        txn.respond(resp);
        resend(Math.min(2 * interval, t2));
      });
    };
    resend(t1);
  }

  private stopAckWait(dialog: Dialog): void {
    const w = this.ackWaits.get(dialog);
    if (w === undefined) return;
    this.clock.clearTimer(w.timer);
    if (w.resend) this.clock.clearTimer(w.resend);
    this.ackWaits.delete(dialog);
  }

  /**
   * A server transaction failed. An INVITE whose 2xx could not be sent (Accepted) will never
   * be ACKed: its dialog stops as an ACK timeout would stop it.
   */
  private onServerFailure(txn: ServerTxn, reason: ServerFailure): void {
    const req = txn.request;
    this.log?.debug({ method: req.method, reason }, 'transaction failed');
    if (req.method !== 'INVITE' || txn.state !== 'accepted') return;
    const local = req.toTag ?? txn.localTag;
    const remote = req.fromTag;
    if (local === undefined || remote === undefined) return;
    const dialog = this.dialogs.get(req.callId, local, remote);
    const inv = dialog?.invite;
    if (dialog && inv?.status === 'accepted_uas' && inv.cseq === req.cseq.seq) {
      this.stopDialog(dialog, 'ack_timeout');
    }
  }

  /** Stops a dialog on our own account (timeouts, an app's stop command), tells the app and logs it. */
  stopDialog(dialog: Dialog, why: StopReason): void {
    const updates = dialog.stop(why);
    this.dialogs.settle(dialog, updates);
    this.log?.info({ callId: dialog.callId, dialog: dialog.handle, reason: why }, 'dialog stopped');
    const origin = this.origins.get(dialog);
    if (origin) this.dialogChanged(dialog, updates, origin.req, origin.source);
    else this.stopAckWait(dialog);
  }

  /** Tells the app what changed in a dialog; a stopped dialog has nothing left to wait for. */
  private dialogChanged(dialog: Dialog, updates: DialogUpdate[], req: SipRequest, source: Source): void {
    if (dialog.ended) this.stopAckWait(dialog);
    for (const update of updates) {
      try {
        if (update.type === 'session') this.app.sessionUpdate?.(update.update, { dialog, req, source });
        else this.app.dialogUpdate?.(update, { dialog, req, source });
      } catch (err) {
        this.log?.error({ err, dialog: dialog.handle }, 'dialog update callback failed');
      }
    }
  }

  /**
   * NkSIP's dialog timeout, as one periodic sweep over the table rather than a timer per
   * dialog: every dialog whose last activity (`updated`) is older than the timeout stops.
   */
  private armSweep(): void {
    if (this.sweepTimer !== undefined || this.closed || this.dialogs.size === 0) return;
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.dialogTimeoutMs / 10)));
    this.sweepTimer = this.clock.setTimer(every, () => {
      this.sweepTimer = undefined;
      this.sweep();
      this.armSweep();
    });
  }

  /**
   * Stops every dialog idle for the dialog timeout; returns how many. A dialog with an
   * answered INVITE session is hung up first (the app hears `invite_timeout`, the peer gets
   * a BYE with a Reason), as NkSIP does; the others just stop with reason `timeout`.
   */
  sweep(): number {
    const oldest = this.clock.now() - this.dialogTimeoutMs;
    let n = 0;
    for (const d of this.dialogs.all()) {
      if (d.updated > oldest) continue;
      n++;
      const status = d.inviteStatus;
      if (this.hangUp && (status === 'confirmed' || status === 'accepted_uac' || status === 'accepted_uas')) {
        const origin = this.origins.get(d);
        if (origin) this.dialogChanged(d, [{ type: 'invite_timeout' }], origin.req, origin.source);
        try {
          this.hangUp(d, DIALOG_TIMEOUT_REASON);
        } catch (err) {
          this.log?.warn({ err, dialog: d.handle }, 'could not hang up a timed-out dialog');
        }
      }
      this.stopDialog(d, 'timeout');
    }
    return n;
  }

  /**
   * Runs an app step that may answer now or later; a throw or rejection answers the request
   * 500 (an ACK, having no transaction, is only logged).
   */
  private settle<T>(
    step: () => T | Promise<T>,
    then: (v: T) => void,
    txn: ServerTxn | undefined,
    what: string,
  ): void {
    const fail = (err: unknown) => {
      this.log?.error({ err, step: what }, 'app step failed');
      if (txn) this.respond(txn, { status: 500, reason: 'Server Internal Error' });
    };
    const next = (r: T) => {
      try {
        then(r);
      } catch (err) {
        fail(err);
      }
    };
    let v: T | Promise<T>;
    try {
      v = step();
    } catch (err) {
      fail(err);
      return;
    }
    if (v instanceof Promise) v.then(next, fail);
    else next(v);
  }

  /** The final answer, through the transaction or (stateless) straight to the transport. */
  private finish(txn: ServerTxn, r: Reply, stateless: boolean): void {
    if (!stateless) {
      this.respond(txn, r);
      return;
    }
    txn.abort();
    this.rejectStateless(txn.request, txn.source, r.status, r.reason ?? reasonPhrase(r.status), r);
  }

  /**
   * A CANCEL whose INVITE has no transaction here: if the INVITE was proxied statelessly,
   * the route decision says so again and the CANCEL follows it (its branch is derived the
   * same way, so it matches downstream); otherwise 481 (§9.2).
   */
  private cancelWithoutInvite(cancel: SipRequest, txn: ServerTxn): void {
    this.settle(
      () => this.app.route(cancel, txn.source),
      (d) => {
        if (d.kind === 'proxy_stateless' && this.forwarder) {
          txn.abort();
          this.forwarder.forwardStateless(cancel, txn.source, d.targets, d.options);
        } else {
          this.respond(txn, { status: 481 });
        }
      },
      txn,
      'route',
    );
  }

  /** RFC 3261 §9.2: 200 for the CANCEL, 487 for the INVITE if it is still unanswered. */
  private onCancel(cancel: SipRequest, txn: ServerTxn): void {
    const invite = this.layer.findInviteForCancel(cancel);
    if (!invite) {
      this.cancelWithoutInvite(cancel, txn);
      return;
    }
    // RFC 3261 §9.2: the 200 to the CANCEL and the INVITE's responses share a To tag
    const tag = invite.localTag ?? newTag();
    invite.localTag = tag;
    this.respond(txn, { status: 200 }, tag);
    if (this.forwarder?.isProxying(invite)) {
      // the 487 comes back from downstream (§16.10)
      this.forwarder.cancel(invite, cancel);
    } else if (invite.state === 'proceeding') {
      this.respond(invite, { status: 487 });
      this.app.cancelled?.(invite.request, cancel);
    }
  }

  /**
   * Sends a response on the transaction; false when it already had its final one. A reliable
   * 1xx (when the caller supports 100rel) gets Require and RSeq and is retransmitted until
   * PRACKed; it throws PendingPrack while the previous one is unacknowledged. A 2xx that
   * must wait for a PRACK (`undeferred` unset) is held and reported as sent.
   */
  respond(txn: ServerTxn, r: Reply, toTag?: string, undeferred = false): boolean {
    // one To tag per server transaction, so every response to a request carries the same
    let tag = toTag ?? txn.localTag;
    if (tag === undefined && r.status > 100) {
      tag = newTag();
      txn.localTag = tag;
    }
    const req = txn.request;
    const isInvite = req.method === 'INVITE';
    let rseq: number | undefined;
    if (
      isInvite &&
      r.status > 100 &&
      r.status < 200 &&
      tag !== undefined &&
      sendReliably(req, r.reliable === true)
    ) {
      if (txn.state !== 'proceeding') return false;
      rseq = this.reliable.nextRseq(txn, tag);
    }
    if (
      isInvite &&
      r.status >= 200 &&
      !undeferred &&
      txn.state === 'proceeding' &&
      this.reliable.final(txn, r)
    ) {
      return true;
    }
    // RFC 4028 §9: a 2xx to an INVITE or UPDATE that asked for a session timer confirms it
    const timer =
      r.status >= 200 && r.status < 300 && (isInvite || req.method === 'UPDATE') && this.sessionTimers
        ? uasSessionExpires(req)
        : undefined;
    if (timer) {
      r = {
        ...r,
        headers: [
          ...(r.headers ?? []).filter(([n]) => !/^(session-expires|x)$/i.test(n)),
          ['Session-Expires', `${timer.se};refresher=${timer.refresher}`],
          ...(timer.require ? ([['Require', 'timer']] as [string, string][]) : []),
        ],
      };
    }
    const opts = responseOptions(r);
    if (tag !== undefined) opts.toTag = tag;
    const resp = makeResponse(req, r.status, opts);
    if (rseq !== undefined) {
      // the PRACK goes to the Contact of the reliable 1xx (RFC 3262 §4 via §12.1.1)
      const contact = this.profile(txn.source).contact;
      if (!resp.hasHeader('contact') && contact !== undefined) resp.addHeader('contact', contact);
      if (!resp.hasHeader('require')) resp.addHeader('require', '100rel');
      else resp.setHeader('require', `${resp.header('require')}, 100rel`);
      resp.addHeader('rseq', String(rseq));
    }
    copyRecordRoute(req, resp);
    const sent = txn.respond(resp);
    if (sent && r.status >= 200) {
      const expiry = this.inviteExpiries.get(txn);
      if (expiry !== undefined) {
        this.clock.clearTimer(expiry);
        this.inviteExpiries.delete(txn);
      }
      const hold = this.holds.get(txn);
      if (hold !== undefined) {
        this.clock.clearTimer(hold);
        this.holds.delete(txn);
      }
    } else if (sent && isInvite && r.status > 100 && this.holds.has(txn)) {
      this.armHold(txn);
    }
    if (sent && rseq !== undefined) this.reliable.sent(txn, resp, rseq);
    if (sent && !this.noDialog.has(txn)) this.dialogResponse(txn, resp);
    const localTag = req.toTag ?? tag;
    if (sent && timer && localTag !== undefined && req.fromTag !== undefined) {
      const dialog = this.dialogs.get(req.callId, localTag, req.fromTag);
      if (dialog) {
        this.sessionTimers?.arm(dialog, timer.se, timer.refresher === 'uas', (u) =>
          this.dialogChanged(dialog, [u], req, txn.source),
        );
      }
    }
    return sent;
  }
}

function sameListener(a: Source, b: Source): boolean {
  return a.localPort === b.localPort && a.localAddress === b.localAddress;
}

/**
 * A dialog-creating response carries the request's Record-Route, so the caller learns the
 * route set (RFC 3261 §12.1.1; NkSIP does it for 101–299 to INVITE and NOTIFY).
 */
function copyRecordRoute(req: SipRequest, resp: SipResponse): void {
  if (resp.status <= 100 || resp.status >= 300) return;
  if (
    req.method !== 'INVITE' &&
    req.method !== 'NOTIFY' &&
    req.method !== 'SUBSCRIBE' &&
    req.method !== 'REFER'
  )
    return;
  for (const h of req.headers) if (h.name === 'record-route') resp.headers.push(h);
}
