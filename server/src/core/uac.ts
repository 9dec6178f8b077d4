// The UAC core: sends out-of-dialog requests for the apps (NkSIP's nksip_uac, reference §3)
// and reports what comes back. A request is built and checked (uac-build.ts), routed to its
// next hop (target.ts), given a Via and, where NkSIP adds one, a Contact naming the listener
// it leaves from, and handed to a client transaction. Every 1xx goes to `provisional`, the
// final to `final` (a timeout as a synthesised 408 "Timer B/F Timeout", as NkSIP does), a
// request that could not be sent to `error('service_unavailable')`.
//
// CANCEL (§9.1) is held until the INVITE got a provisional and dropped if the final comes
// first; `expires` on an INVITE cancels it after that many seconds.
//
// Dialogs (dialog/): every response to an INVITE, SUBSCRIBE, REFER or NOTIFY, and every
// response to a request sent in a dialog, goes through the DialogTable (shared with the UAS
// core), and `provisional`/`final` carry the handle of the dialog it created or used.
// `sendInDialog` builds a request in a dialog (dialog/request.ts) and sends it to the hop of
// its first route or remote target; an ACK leaves without a transaction. With `auto2xxAck`
// the dialog's ACK answers the 2xx (resent for a retransmitted 2xx); an extra 2xx from another
// branch of a fork is always ACKed and hung up with a BYE, as NkSIP does.
//
// Digest (NkSIP's nksip_uac_auto_auth): a request given passwords answers a 401/407 itself,
// up to a number of tries: the same request again with CSeq + 1 (in a dialog, above the
// dialog's local CSeq), a new branch and the credentials (auth/client.ts); the listener sees
// only the final outcome. The dialog a 2xx creates keeps the request that carried the
// credentials, so its ACK carries them too. Where a 2xx came from is authorised in its dialog.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { type AuthRetry, type Pass, UacAuth } from '../auth/client.js';
import type { DialogAuth } from '../auth/dialog-auth.js';
import { makeResponse } from '../sip/build.js';
import { newBranch } from '../sip/ids.js';
import { SipRequest, type SipResponse } from '../sip/message.js';
import { isSipUri, parseHostPort, type Uri } from '../sip/uri.js';
import { ClientInviteTransaction } from '../transaction/client-invite.js';
import { type Clock, realClock, type TimerHandle } from '../transaction/clock.js';
import type { ClientTransaction, TransactionLayer } from '../transaction/layer.js';
import type { ClientHandler } from '../transaction/types.js';
import { hostText, ipFamily } from '../transport/address.js';
import type { TransportManager } from '../transport/manager.js';
import type { Endpoint, LocalAddress, SipTransport } from '../transport/types.js';
import { ChurnMap } from '../util/churn-map.js';
import { BUILT_IN_CALLS, type CallCounter } from './calls.js';
import type { Dialog, DialogContext, DialogUpdate } from './dialog/dialog.js';
import { buildInDialogRequest, DialogError, type InDialogSpec } from './dialog/request.js';
import { DialogTable } from './dialog/table.js';
import { isReliable, type RefreshMode, refreshBody } from './session.js';
import {
  dnsResolver,
  hopOf,
  type Locate,
  type NextHop,
  type Resolver,
  resolveHop,
  routeRequest,
  TargetError,
} from './target.js';
import {
  parseSessionExpires,
  retryAfter422,
  type SessionTimers,
  type TimerSettings,
  uacTimerHeaders,
} from './timers.js';
import type { UacDefaults } from './uac-build.js';
import { buildRequest, UacError, type UacErrorKind, type UacRequestSpec } from './uac-build.js';
import { DEFAULT_TIMER_C_MS } from './uas.js';

export type { InDialogSpec } from './dialog/request.js';
export type { UacDefaults, UacErrorKind, UacRequestSpec } from './uac-build.js';

export interface UacListener {
  /**
   * Every 1xx, 100 Trying included; `dialog` is the handle of the (early) dialog it belongs
   * to. A reliable 1xx (RFC 3262) is reported once, in RSeq order; its PRACK is on its way
   * unless `manualPrack` was asked for.
   */
  provisional?(resp: SipResponse, dialog?: string): void;
  /**
   * The final response; an INVITE may get further 2xx from other branches of a fork (those
   * are ACKed and hung up). `dialog`: the handle of the dialog it created or used. An ACK
   * sent in a dialog reports the 2xx it acknowledges.
   */
  final(resp: SipResponse, dialog?: string): void;
  /** The request was not sent, or could not be: no `final` follows. */
  error(kind: UacErrorKind, message: string): void;
  /**
   * What sending the request, or a response to it, did to a dialog (NkSIP sip_dialog_update
   * on the UAC side): created it, moved its INVITE usage, stopped it. `req` is the request.
   */
  dialogUpdate?(update: DialogUpdate, dialog: Dialog, req: SipRequest): void;
}

export interface UacRequest {
  /** Opaque and unique (`R_…`): what `cancel` takes. */
  readonly handle: string;
  readonly callId: string;
  /**
   * The request as built. When the next hop is a host name, the automatic Contact is added
   * once it has been resolved; the transport writes the Via sent-by when it sends.
   */
  readonly request: SipRequest;
  cancel(reason?: string): boolean;
}

/** What the UAC needs of the transport: sending (the 2xx ACK) and which listener a hop uses. */
export type UacTransport = SipTransport &
  Pick<TransportManager, 'localContact'> &
  Partial<Pick<TransportManager, 'keepAlive'>>;

export interface UacCoreOptions {
  layer: TransactionLayer;
  /** A TransportManager (tests may pass anything with the same two methods). */
  transport: UacTransport;
  defaults: UacDefaults;
  logger?: Logger;
  /** Host name → IP; `dns.lookup` by default. IP literals never reach it. */
  resolve?: Resolver;
  /**
   * RFC 3263 server location (NAPTR, SRV, A/AAAA): every target of a hop with a host name,
   * in order; the request moves on to the next after a transport error, a timeout or a 503
   * (§4.3). Replaces `resolve` when given.
   */
  locate?: Locate;
  /** For INVITE `expires` and the CANCEL guard timer; the real clock by default. */
  clock?: Clock;
  /** The dialogs (shared with the UAS core so a handle works whichever side created it). */
  dialogs?: DialogTable;
  /** A Record-Route URI of our own, left out of the route set of new dialogs. */
  isLocal?: (uri: Uri) => boolean;
  /** The dialogs' authorised sources (shared with the UAS core). */
  dialogAuth?: DialogAuth;
  /**
   * NkSIP `sip_timer_c`, ms: an INVITE that got a provisional response and then nothing for
   * this long ends with 408 "Timer C Timeout" (and is CANCELled). Default 180 s.
   */
  timerCMs?: number;
  /** The live calls and their limits: a request that would start one too many is refused. */
  calls?: CallCounter;
}

/** Automatic digest answers for one request (NkSIP `sip_pass`, `sip_uac_auto_auth_max_tries`). */
export interface UacAuthSpec {
  /** Tried in order: the request's own first, then the app's. */
  pass?: Pass[];
  /** Retries allowed; default 5, 0 turns them off. */
  maxTries?: number;
}

/** In-dialog options that are not part of the request itself. */
export interface InDialogOptions extends UacAuthSpec, SessionOptions {
  auto2xxAck?: boolean;
  localHost?: string;
  /** The local listeners to leave from when one fits (UacDefaults.listeners). */
  listeners?: readonly LocalAddress[];
  /**
   * A re-INVITE or UPDATE without a body becomes a session refresh: the dialog's last local
   * SDP, version incremented, direction set unless `keep` (NkSIP refresh/2).
   */
  refresh?: RefreshMode;
}

/** What an INVITE does with reliable provisional responses (RFC 3262). */
export interface SessionOptions {
  /** The body of the automatic PRACKs (an SDP answer to an offer in the 1xx, or a new offer). */
  prackBody?: Buffer;
  /** No automatic PRACK: the app sends it in the dialog (the RAck is added for it). */
  manualPrack?: boolean;
  /** Ask for a session timer (RFC 4028) on an INVITE or UPDATE: Session-Expires and Min-SE. */
  timers?: TimerSettings;
}

/** NkSIP `sip_uac_auto_auth_max_tries`. */
export const DEFAULT_AUTH_TRIES = 5;

/** Methods whose responses may create a dialog (table.ts decides which do). */
const DIALOG_METHODS = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

interface Pending {
  readonly handle: string;
  /** The request in flight: replaced by each digest retry. */
  req: SipRequest;
  readonly listener: UacListener;
  readonly isInvite: boolean;
  /** Sent in a dialog: every response goes to the dialog table. */
  readonly inDialog: boolean;
  readonly auto2xxAck: boolean;
  readonly autoExpire: number | undefined;
  readonly makeContact: boolean;
  readonly contactUser: string | undefined;
  readonly localHost: string | undefined;
  /** Local listeners to leave from (an app's own), when one fits. */
  readonly listeners: readonly LocalAddress[] | undefined;
  txn?: ClientTransaction;
  /** A final response (or an error) was reported. */
  done: boolean;
  /** Set by cancel(): the CANCEL goes out once a provisional has arrived; `listeners` hear its outcome. */
  cancel?: { reason: string | undefined; listeners: UacListener[] };
  cancelSent: boolean;
  expireTimer?: TimerHandle;
  cancelTimer?: TimerHandle;
  /** Timer C: armed by each provisional response to an INVITE. */
  timerC?: TimerHandle;
  /** 2xx To tags seen (a 2xx with one of them again is a retransmission). */
  tags: Set<string>;
  /** The last RSeq taken per To tag (each early dialog numbers its reliable 1xx). */
  rseqs?: Map<string, number>;
  session: SessionOptions;
  /** RFC 3263 §4.3: the targets still to try when this one fails. */
  alternatives?: Endpoint[];
  /** The current attempt: events of the transactions of earlier ones are ignored. */
  attempt?: object;
  /** The Contact was made here for the target (made again for another one). */
  autoContact?: boolean;
  /** Already retried after a 422 (RFC 4028 §7.4: once). */
  retried422?: boolean;
  /** Where it was sent (a digest retry goes there too; a 2xx from there is authorised). */
  ep?: Endpoint;
  /** Automatic digest answers, when the request has passwords. */
  auth?: { uac: UacAuth; passes: Pass[] };
  /** The owner of the call it counts in until done (core/calls.ts), when counted. */
  callOwner?: string;
}

function authOf(spec: UacAuthSpec | undefined): Pending['auth'] {
  const passes = spec?.pass ?? [];
  const maxTries = spec?.maxTries ?? DEFAULT_AUTH_TRIES;
  if (passes.length === 0 || maxTries <= 0) return undefined;
  return { uac: new UacAuth({ maxTries }), passes };
}

export class UacCore {
  private readonly layer: TransactionLayer;
  private readonly transport: UacTransport;
  private readonly defaults: UacDefaults;
  private readonly log: Logger | undefined;
  private readonly resolver: Resolver;
  private readonly locator: Locate | undefined;
  private readonly clock: Clock;
  private readonly pending = new ChurnMap<string, Pending>();
  /** The dialogs, UAC and UAS side. */
  readonly dialogs: DialogTable;
  private readonly isLocal: ((uri: Uri) => boolean) | undefined;
  /** Where each ACK sent went (a retransmitted 2xx gets it again). */
  private readonly ackDest = new WeakMap<SipRequest, Promise<Endpoint | undefined>>();
  private readonly dialogAuth: DialogAuth | undefined;
  /** RFC 5626 keep-alives of the flows registrations with `;ob` went over, by endpoint. */
  private readonly flows = new Map<string, { stop(): void }>();

  constructor(opts: UacCoreOptions) {
    this.layer = opts.layer;
    this.transport = opts.transport;
    this.defaults = opts.defaults;
    this.log = opts.logger;
    this.resolver = opts.resolve ?? dnsResolver;
    this.locator = opts.locate;
    this.clock = opts.clock ?? realClock;
    this.dialogs = opts.dialogs ?? new DialogTable();
    this.isLocal = opts.isLocal;
    this.dialogAuth = opts.dialogAuth;
    this.timerCMs = opts.timerCMs ?? DEFAULT_TIMER_C_MS;
    this.calls = opts.calls;
  }

  private readonly timerCMs: number;
  private readonly calls: CallCounter | undefined;

  /**
   * Sends a request. What can be known at once is reported synchronously: `listener.error`
   * is called before `send` returns, and `send` then returns undefined (bad input, an
   * unusable next hop such as sips:, no listener to reach an IP-literal next hop). Otherwise
   * the handle comes back and everything else (responses, a failed name resolution, a failed
   * send) is reported later, never before `send` has returned.
   */
  send(
    spec: UacRequestSpec,
    listener: UacListener,
    defaults?: Partial<UacDefaults>,
    auth?: UacAuthSpec,
    session: SessionOptions = {},
  ): UacRequest | undefined {
    const d: UacDefaults = { ...this.defaults };
    for (const [k, v] of Object.entries(defaults ?? {})) {
      if (v !== undefined) (d as unknown as Record<string, unknown>)[k] = v;
    }
    let hop: NextHop;
    let p: Pending;
    try {
      const built = buildRequest(spec, d, this.clock.now());
      hop = routeRequest(built.req);
      const localHost = checkLocalHost(spec.localHost ?? d.localHost);
      built.req.headers.unshift({ name: 'via', value: viaFor(hop) });
      built.req.invalidate();
      p = {
        handle: newHandle(),
        req: built.req,
        listener,
        isInvite: built.req.method === 'INVITE',
        inDialog: false,
        auto2xxAck: spec.auto2xxAck === true,
        autoExpire:
          !spec.noAutoExpire && spec.expires !== undefined && spec.expires > 0 ? spec.expires : undefined,
        makeContact: built.makeContact,
        contactUser: built.contactUser,
        localHost,
        listeners: d.listeners,
        done: false,
        cancelSent: false,
        tags: new Set(),
        session,
      };
      const a = authOf(auth);
      if (a) p.auth = a;
      // NkSIP: a request that would start a call beyond a limit is not sent
      const scope = d.calls ?? BUILT_IN_CALLS;
      if (this.calls && !this.calls.admit(scope, p.req.callId)) {
        throw new UacError('too_many_calls', `too many calls (${this.calls.count(scope.owner)} live)`);
      }
      if (this.calls) p.callOwner = scope.owner;
    } catch (err) {
      // anything else is input the types did not keep out (an app sent a number as a URI...)
      const known = err instanceof UacError || err instanceof TargetError;
      const kind = known ? err.kind : 'invalid_option';
      const message = err instanceof Error ? err.message : String(err);
      this.log?.debug({ kind, err: message, method: spec.method }, 'uac request refused');
      tell(this.log, () => listener.error(kind, message));
      return undefined;
    }
    this.pending.set(p.handle, p);
    if (!this.start(p, hop)) return undefined;
    const handle = p.handle;
    return {
      handle,
      callId: p.req.callId,
      request: p.req,
      cancel: (reason?: string) => this.cancel(handle, reason),
    };
  }

  /**
   * Sends a request in the dialog `dialogHandle` (RFC 3261 §12.2.1.1), reported as `send`
   * reports: `error` before returning when the dialog is unknown or ended (`unknown_dialog`,
   * also for an ACK with no 2xx to acknowledge), when an INVITE is in progress
   * (`request_pending`) or the spec is bad. The request goes to the hop of its first route or
   * remote target as built. An ACK leaves without a transaction and reports, as its final,
   * the 2xx it acknowledges.
   */
  sendInDialog(
    dialogHandle: string,
    spec: InDialogSpec,
    listener: UacListener,
    opts: InDialogOptions = {},
  ): UacRequest | undefined {
    const dialog = this.dialogs.handle(dialogHandle);
    let built: ReturnType<typeof buildInDialogRequest> | undefined;
    let hop: NextHop;
    let p: Pending;
    try {
      if (!dialog) throw new DialogError('unknown_dialog', `unknown dialog ${dialogHandle}`);
      const localHost = checkLocalHost(opts.localHost ?? this.defaults.localHost);
      if (opts.refresh !== undefined && spec.body === undefined)
        spec = withRefresh(dialog, spec, opts.refresh);
      built = buildInDialogRequest(dialog, spec, this.clock.now());
      hop = hopOf(built.nextHop);
      const req = built.req;
      p = {
        handle: newHandle(),
        req,
        listener,
        isInvite: req.method === 'INVITE',
        inDialog: true,
        auto2xxAck: opts.auto2xxAck === true,
        autoExpire: undefined,
        makeContact: built.makeContact,
        contactUser: userOf(dialog),
        localHost,
        listeners: opts.listeners ?? this.defaults.listeners,
        done: false,
        cancelSent: false,
        tags: new Set(),
        session: opts,
      };
      const a = req.method === 'ACK' ? undefined : authOf(opts);
      if (a) p.auth = a;
    } catch (err) {
      const kind = errorKindOf(err);
      const message = err instanceof Error ? err.message : String(err);
      this.log?.debug(
        { kind, err: message, method: spec.method, dialog: dialogHandle },
        'uac request refused',
      );
      // built but not sent: the dialog hears of it as a local 503 (a BYE ends it)
      if (built && dialog) this.localResponse(built.req, 503, listener);
      tell(this.log, () => listener.error(kind, message));
      return undefined;
    }
    this.tellDialog(listener, built.updates, dialog, p.req);
    if (this.calls && p.req.method !== 'ACK') {
      this.calls.hold(dialog.owner, p.req.callId);
      p.callOwner = dialog.owner;
    }
    const handle = p.handle;
    const out: UacRequest = {
      handle,
      callId: p.req.callId,
      request: p.req,
      cancel: (reason?: string) => this.cancel(handle, reason),
    };
    if (p.req.method === 'ACK') {
      const acked = dialog.invite?.response;
      void this.sendDirect(p.req, hop, p.listeners).then((ep) => {
        if (ep && acked) tell(this.log, () => listener.final(acked, dialog.handle));
        else tell(this.log, () => listener.error('service_unavailable', 'the ACK could not be sent'));
      });
      return out;
    }
    this.pending.set(handle, p);
    if (!this.start(p, hop)) return undefined;
    return out;
  }

  /**
   * Cancels a pending INVITE (§9.1): the CANCEL leaves at once if a provisional has arrived,
   * else as soon as one does, and never if the final comes first. False for an unknown
   * handle (or one already answered) and for a request that is not an INVITE. `listener`
   * hears the CANCEL's own final response, or `unknown_request` when the INVITE was
   * answered before the CANCEL could leave.
   */
  cancel(handle: string, reason?: string, listener?: UacListener): boolean {
    const p = this.pending.get(handle);
    if (!p?.isInvite || p.done) return false;
    if (p.cancel) {
      if (listener) p.cancel.listeners.push(listener);
      return true;
    }
    p.cancel = { reason, listeners: listener ? [listener] : [] };
    if (p.txn instanceof ClientInviteTransaction && p.txn.gotProvisional) this.sendCancel(p);
    return true;
  }

  /**
   * The authorised sources of a dialog (NkSIP get_authorized_list), emptied with `clear`
   * (clear_authorized_list); undefined for an unknown or ended dialog.
   */
  authorizedList(dialogHandle: string, clear = false): string[] | undefined {
    const d = this.dialogs.handle(dialogHandle);
    if (!d || d.ended || !this.dialogAuth) return undefined;
    return clear ? this.dialogAuth.clear(d) : this.dialogAuth.list(d);
  }

  /** Session timers (RFC 4028), shared with the UAS core. */
  setSessionTimers(t: SessionTimers): void {
    this.sessionTimers = t;
  }

  private sessionTimers: SessionTimers | undefined;

  stats(): { pending: number } {
    return { pending: this.pending.size };
  }

  /**
   * The targets of a hop: at once for an IP literal, else through RFC 3263 (or the plain
   * resolver when no locator was given).
   */
  private targetsOf(hop: NextHop): Endpoint | Promise<Endpoint[]> {
    if (this.locator && ipFamily(hop.host) === 0) return this.locator(hop);
    const ep = resolveHop(hop, this.resolver);
    return ep instanceof Promise ? ep.then((e) => [e]) : ep;
  }

  /** Sends `p` to the first target of `hop`; false (error reported) when that failed at once. */
  private start(p: Pending, hop: NextHop): boolean {
    const ep = this.targetsOf(hop);
    if (!(ep instanceof Promise)) return this.dispatch(p, ep);
    ep.then(([first, ...rest]) => {
      if (!first) throw new Error('no target');
      p.alternatives = rest;
      this.dispatch(p, first);
    }).catch((err: Error) => this.fail(p, `cannot resolve ${hop.host}: ${err.message}`));
    return true;
  }

  /**
   * RFC 3263 §4.3: the request failed at its target (no answer, a transport error, a 503)
   * before any provisional: the same request as a new transaction (a new branch, and a new
   * Contact when it was made here) to the next target. False when there is none.
   */
  private failover(p: Pending, why: string): boolean {
    if (p.done || p.cancel || !p.alternatives || p.alternatives.length === 0) return false;
    if (p.txn instanceof ClientInviteTransaction && p.txn.gotProvisional) return false;
    const next = p.alternatives.shift() as Endpoint;
    const old = p.req;
    let viaDone = false;
    const headers: SipRequest['headers'] = [];
    for (const h of old.headers) {
      if (h.name === 'contact' && p.autoContact) continue;
      if (h.name === 'via' && !viaDone) {
        viaDone = true;
        headers.push({ name: 'via', value: viaFor(next) });
      } else {
        headers.push({ name: h.name, value: h.value });
      }
    }
    p.req = new SipRequest(old.method, old.uri, headers, old.body);
    p.txn = undefined;
    p.autoContact = false;
    p.attempt = undefined;
    this.log?.debug(
      { callId: old.callId, why, next: `${next.transport}:${hostText(next.address)}:${next.port}` },
      'uac: trying the next target',
    );
    // later, so nothing of the failed attempt runs inside the new one
    queueMicrotask(() => {
      if (!p.done) this.dispatch(p, next);
    });
    return true;
  }

  /** Adds the Contact and starts the transaction; false (error reported) when that failed. */
  private dispatch(p: Pending, resolved: Endpoint): boolean {
    if (p.done) return false;
    const ep = p.listeners ? { ...resolved, from: p.listeners } : resolved;
    const m = p.req.method;
    if (p.session.timers && (m === 'INVITE' || m === 'UPDATE') && !p.req.hasHeader('session-expires')) {
      for (const [n, v] of uacTimerHeaders(p.session.timers)) p.req.addHeader(n, v);
      const sup = p.req.headerValues('supported').map((t) => t.trim().toLowerCase());
      if (!sup.includes('timer')) p.req.addHeader('supported', 'timer');
      p.req.invalidate();
    }
    try {
      if (p.makeContact && !p.req.hasHeader('contact')) this.addContact(p, ep);
    } catch (err) {
      if (this.failover(p, (err as Error).message)) return true;
      this.fail(
        p,
        `no local address to reach ${ep.transport}:${hostText(ep.address)}:${ep.port}: ${(err as Error).message}`,
      );
      return false;
    }
    const attempt = {};
    p.attempt = attempt;
    const current = () => p.attempt === attempt;
    const handler: ClientHandler = {
      onResponse: (resp) => {
        if (current()) this.onResponse(p, resp);
      },
      onTimeout: () => {
        if (current()) this.onTimeout(p);
      },
      onTransportError: (err) => {
        if (!current()) return;
        const why = `cannot send to ${ep.transport}:${hostText(ep.address)}:${ep.port}: ${err.message}`;
        if (!this.failover(p, why)) this.fail(p, why);
      },
    };
    p.ep = ep;
    try {
      p.txn = this.layer.sendRequest(p.req, ep, handler);
    } catch (err) {
      if (this.failover(p, (err as Error).message)) return true;
      this.fail(p, `cannot send: ${(err as Error).message}`);
      return false;
    }
    this.log?.debug({ method: p.req.method, callId: p.req.callId, to: ep }, 'uac request sent');
    if (p.isInvite && p.autoExpire !== undefined && p.expireTimer === undefined) {
      p.expireTimer = this.clock.setTimer(p.autoExpire * 1000, () => {
        p.expireTimer = undefined;
        if (!p.done) {
          this.log?.debug({ callId: p.req.callId }, 'INVITE expired: cancelling');
          this.cancel(p.handle);
        }
      });
    }
    return true;
  }

  private addContact(p: Pending, ep: Endpoint): void {
    const local = this.transport.localContact(ep);
    const host = p.localHost ?? hostText(local.host);
    const user = p.contactUser !== undefined ? `${p.contactUser}@` : '';
    // §8.1.1.8: a sips: Request-URI (TLS all the way) gets a sips: Contact
    const sips = p.req.ruri.scheme === 'sips' && local.transport === 'tls';
    const tp = local.transport === 'udp' || sips ? '' : `;transport=${local.transport}`;
    const value = `<${sips ? 'sips' : 'sip'}:${user}${host}:${local.port}${tp}>`;
    const at = p.req.headers.findIndex((h) => h.name === 'cseq');
    p.req.headers.splice(at < 0 ? p.req.headers.length : at + 1, 0, { name: 'contact', value });
    p.req.invalidate();
    p.autoContact = true;
  }

  private onResponse(p: Pending, resp: SipResponse): void {
    const s = resp.status;
    if (s < 200) {
      if (p.done) return;
      const rseq = p.isInvite ? this.reliableRseq(p, resp) : undefined;
      if (rseq === null) return;
      const d = this.applyDialog(p, resp);
      if (rseq !== undefined && d) this.prack(p, d, rseq);
      if (p.cancel && !p.cancelSent) this.sendCancel(p);
      if (p.isInvite) this.armTimerC(p);
      tell(this.log, () => p.listener.provisional?.(resp, d?.handle));
      return;
    }
    if (p.isInvite && s < 300) {
      // the transaction passes on every 2xx while Accepted: retransmissions and forks
      const tag = resp.toTag ?? '';
      if (p.tags.has(tag)) {
        const ack = this.dialogs.findUac(resp)?.ackToResend(resp);
        if (ack) void this.sendDirect(ack);
        return;
      }
      p.tags.add(tag);
      const extra = p.done;
      const d = this.applyDialog(p, resp);
      if (d && p.ep) this.dialogAuth?.add(d, p.ep);
      if (!d) this.log?.warn({ callId: p.req.callId }, '2xx to an INVITE without a dialog: not ACKed');
      if (extra) {
        // another branch of a fork answered too: ACK it and hang it up (NkSIP)
        if (d) {
          this.sendDialogAck(d, p.listener, p.listeners);
          this.sendInDialog(
            d.handle,
            { method: 'BYE' },
            {
              final: () => {},
              error: () => {},
              dialogUpdate: (u, dd, r) => p.listener.dialogUpdate?.(u, dd, r),
            },
            p.listeners ? { listeners: p.listeners } : {},
          );
        }
      } else {
        if (d && !p.inDialog) {
          // the other branches still ringing are over
          for (const o of this.dialogs.earlySiblings(d)) this.stopSibling(p, o, 'forced');
        }
        if (d && p.auto2xxAck) this.sendDialogAck(d, p.listener, p.listeners);
        if (d) this.armTimer(p, d, resp);
        this.finish(p);
      }
      tell(this.log, () => p.listener.final(resp, d?.handle));
      return;
    }
    if (p.done) return;
    if (s === 422 && this.retry422(p, resp)) return;
    this.finalResponse(p, resp);
  }

  /**
   * Timer C (NkSIP's UAC, RFC 3261 §16.6 for proxies): a provisional response and then
   * nothing: the INVITE ends with 408 "Timer C Timeout" and is CANCELled, so the far end stops
   * ringing (a 2xx that crosses the CANCEL is ACKed and hung up as an extra 2xx).
   */
  private armTimerC(p: Pending): void {
    if (p.timerC) this.clock.clearTimer(p.timerC);
    p.timerC = this.clock.setTimer(this.timerCMs, () => {
      p.timerC = undefined;
      if (p.done) return;
      this.log?.info({ callId: p.req.callId }, 'Timer C fired: INVITE ended with 408');
      if (!p.cancel) p.cancel = { reason: undefined, listeners: [] };
      this.sendCancel(p);
      this.finalResponse(p, makeResponse(p.req, 408, { reason: 'Timer C Timeout' }));
    });
  }

  /** RFC 4028 §7.4: a 422 to our INVITE: once more, asking for the Min-SE it names. */
  private retry422(p: Pending, resp: SipResponse): boolean {
    if (!p.isInvite || p.retried422 || !p.ep || p.cancel) return false;
    const req = retryAfter422(p.req, resp);
    if (!req) return false;
    this.log?.debug({ callId: req.callId, minSe: resp.header('min-se') }, '422: INVITE sent again');
    if (p.expireTimer) this.clock.clearTimer(p.expireTimer);
    if (p.timerC) this.clock.clearTimer(p.timerC);
    p.expireTimer = undefined;
    p.timerC = undefined;
    p.done = true; // what the first transaction still says is not ours any more
    const next: Pending = { ...p, req, done: false, retried422: true, tags: new Set(), cancelSent: false };
    delete next.txn;
    delete next.rseqs;
    this.pending.set(p.handle, next);
    if (!this.dispatch(next, p.ep)) this.pending.delete(p.handle);
    return true;
  }

  /**
   * RFC 5626 §4.4: a registration whose Contact carries `;ob` keeps its flow alive (every
   * Flow-Timer seconds when the registrar sent one, else NkSIP's 25 s on UDP, 120 s on a
   * connection) until it is removed (Expires 0).
   */
  private outboundFlow(p: Pending, resp: SipResponse): void {
    const ep = p.ep;
    if (!ep || !this.transport.keepAlive) return;
    const contacts = p.req.headerValues('contact');
    if (!contacts.some((c) => /;ob(?=[;>\s]|$)/i.test(c))) return;
    const key = `${ep.transport}|${ep.address}|${ep.port}`;
    const removed =
      p.req.header('expires')?.trim() === '0' || contacts.every((c) => /;\s*expires\s*=\s*0\b/i.test(c));
    this.flows.get(key)?.stop();
    this.flows.delete(key);
    if (removed) return;
    const timer = Number(resp.header('flow-timer'));
    const secs = Number.isInteger(timer) && timer > 0 ? timer : ep.transport === 'udp' ? 25 : 120;
    try {
      this.flows.set(key, this.transport.keepAlive(ep, secs * 1000));
    } catch (err) {
      this.log?.debug({ err, to: ep }, 'no keep-alive for the registration flow');
    }
  }

  /** Stops the keep-alives of registration flows. */
  close(): void {
    for (const f of this.flows.values()) f.stop();
    this.flows.clear();
  }

  /** A 2xx to an INVITE or UPDATE that set a session interval (RFC 4028 §7.2) arms its timers. */
  private armTimer(p: Pending, d: Dialog, resp: SipResponse): void {
    const se = parseSessionExpires(resp);
    if (!se || !this.sessionTimers) return;
    const listener = p.listener;
    this.sessionTimers.arm(d, se.se, (se.refresher ?? 'uac') === 'uac', (u) =>
      tell(this.log, () => listener.dialogUpdate?.(u, d, p.req)),
    );
  }

  /**
   * The RSeq of a reliable 1xx to take (RFC 3262 §4), undefined for an unreliable one, null
   * for one to ignore: a retransmission or one out of order (not one above the last).
   */
  private reliableRseq(p: Pending, resp: SipResponse): number | undefined | null {
    if (!isReliable(resp)) return undefined;
    const rseq = Number(resp.header('rseq'));
    if (!Number.isInteger(rseq) || rseq < 1) return null;
    const tag = resp.toTag ?? '';
    p.rseqs ??= new Map();
    const last = p.rseqs.get(tag);
    if (last !== undefined && rseq !== last + 1) {
      this.log?.debug(
        { callId: p.req.callId, rseq, last },
        'reliable 1xx ignored (repeated or out of order)',
      );
      return null;
    }
    p.rseqs.set(tag, rseq);
    return rseq;
  }

  /** PRACKs a reliable 1xx in its early dialog, or leaves the RAck for the app's own PRACK. */
  private prack(p: Pending, d: Dialog, rseq: number): void {
    d.rack = `${rseq} ${p.req.cseq.seq} INVITE`;
    if (p.session.manualPrack) return;
    const spec: InDialogSpec = { method: 'PRACK' };
    const body = p.session.prackBody;
    // our own offer still unanswered: a PRACK may not carry another one (RFC 3262 §5)
    if (body && body.length > 0 && !d.session.offerPending('local')) {
      spec.body = body;
      spec.contentType = 'application/sdp';
    }
    const log = this.log;
    const listener: UacListener = {
      final: (r) => log?.debug({ callId: d.callId, status: r.status }, 'PRACK answered'),
      error: (kind, message) => log?.debug({ callId: d.callId, kind, message }, 'PRACK not sent'),
    };
    const tellApp = p.listener.dialogUpdate?.bind(p.listener);
    if (tellApp) listener.dialogUpdate = tellApp;
    this.sendInDialog(d.handle, spec, listener, p.localHost ? { localHost: p.localHost } : {});
  }

  /** A final non-2xx (or to a request other than INVITE), received or made up here. */
  private finalResponse(p: Pending, resp: SipResponse): void {
    if (p.done) return;
    if (resp.status === 503 && this.failover(p, '503')) return;
    // a challenge answered here is never seen, by the app nor by the dialog (a 401 to a BYE
    // must not end it)
    if (this.authRetry(p, resp)) return;
    const d = this.applyDialog(p, resp);
    if (d && p.ep && resp.status < 300) this.dialogAuth?.add(d, p.ep);
    if (d && p.req.method === 'UPDATE' && resp.status < 300) this.armTimer(p, d, resp);
    if (p.req.method === 'REGISTER' && resp.status < 300) this.outboundFlow(p, resp);
    if (p.isInvite && !p.inDialog) {
      // the early dialogs of other branches end with the INVITE
      const tag = p.req.fromTag;
      if (tag !== undefined) {
        for (const o of this.dialogs.forRequest(p.req.callId, tag)) {
          if (o.early) this.stopSibling(p, o, resp.status);
        }
      }
    }
    this.finish(p);
    tell(this.log, () => p.listener.final(resp, d?.handle));
  }

  /** An early dialog of another branch ends with the INVITE (or its winner); the app is told. */
  private stopSibling(p: Pending, o: Dialog, reason: Parameters<Dialog['stop']>[0]): void {
    const updates = o.stop(reason);
    this.dialogs.settle(o, updates);
    this.tellDialog(p.listener, updates, o, p.req);
  }

  private tellDialog(listener: UacListener, updates: DialogUpdate[], d: Dialog, req: SipRequest): void {
    if (!listener.dialogUpdate) return;
    for (const u of updates) tell(this.log, () => listener.dialogUpdate?.(u, d, req));
  }

  /**
   * A 401/407 to a request with passwords: sends it again with the credentials when it can
   * (a password fits, tries left, not the same nonce refused again); true when it did.
   */
  private authRetry(p: Pending, resp: SipResponse): boolean {
    if (!p.auth || p.cancel || !p.ep || (resp.status !== 401 && resp.status !== 407)) return false;
    let retry: AuthRetry | undefined;
    let next: SipRequest | undefined;
    try {
      retry = p.auth.uac.retry(p.req, resp, p.auth.passes);
      if (retry) next = this.retryRequest(p, retry);
    } catch (err) {
      this.log?.debug({ err, callId: p.req.callId }, 'no digest retry');
      return false;
    }
    if (!next || !retry) return false;
    this.log?.debug(
      { callId: next.callId, status: resp.status, realms: retry.answered.map((a) => a.realm) },
      'answering a digest challenge',
    );
    p.req = next;
    p.txn = undefined;
    p.tags.clear();
    const ep = p.ep;
    // later, so a listener never hears of the retry inside the response that caused it
    queueMicrotask(() => {
      if (!p.done) this.dispatch(p, ep);
    });
    return true;
  }

  /**
   * The request again (RFC 3261 §22.2): same Call-ID, tags, Request-URI and body, CSeq + 1
   * (above the dialog's local CSeq in a dialog, which records it), a new branch, the
   * credential lines replaced. Undefined when its dialog is gone.
   */
  private retryRequest(p: Pending, retry: AuthRetry): SipRequest | undefined {
    const old = p.req;
    let seq = old.cseq.seq + 1;
    const dialog = p.inDialog ? this.dialogs.findUac(old) : undefined;
    if (p.inDialog) {
      if (!dialog || dialog.ended) return undefined;
      seq = Math.max(seq, (dialog.localSeq ?? 0) + 1);
    }
    const headers: SipRequest['headers'] = [];
    let viaDone = false;
    for (const h of old.headers) {
      if (h.name === 'authorization' || h.name === 'proxy-authorization') continue;
      if (h.name === 'via' && !viaDone) {
        viaDone = true;
        const proto = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)/i.exec(h.value)?.[1] ?? 'UDP';
        headers.push({
          name: 'via',
          value: `SIP/2.0/${proto.toUpperCase()} localhost;branch=${newBranch()}`,
        });
      } else if (h.name === 'cseq') {
        headers.push({ name: 'cseq', value: `${seq} ${old.method}` });
      } else {
        headers.push({ name: h.name, value: h.value });
      }
    }
    for (const [name, value] of retry.headers) headers.push({ name: name.toLowerCase(), value });
    const next = new SipRequest(old.method, old.uri, headers, old.body);
    if (dialog) dialog.requestSent(next, this.clock.now());
    return next;
  }

  /** Applies a response to the dialog table when it may concern a dialog; its dialog. */
  private applyDialog(p: Pending, resp: SipResponse): Dialog | undefined {
    if (!p.inDialog && !DIALOG_METHODS.has(p.req.method)) return undefined;
    try {
      const ctx: DialogContext = { now: this.clock.now(), owner: p.callOwner };
      if (this.isLocal) ctx.isLocal = this.isLocal;
      const step = this.dialogs.uacResponse(p.req, resp, ctx);
      if (step.dialog) this.tellDialog(p.listener, step.updates, step.dialog, p.req);
      return step.dialog;
    } catch (err) {
      this.log?.debug({ err, callId: p.req.callId, status: resp.status }, 'response left out of dialogs');
      return undefined;
    }
  }

  /** A response made up here (timeout, failure to send) for a request sent in a dialog. */
  private localResponse(req: SipRequest, status: number, listener?: UacListener): void {
    try {
      const step = this.dialogs.uacResponse(req, makeResponse(req, status), { now: this.clock.now() });
      if (listener && step.dialog) this.tellDialog(listener, step.updates, step.dialog, req);
    } catch (err) {
      this.log?.debug({ err, callId: req.callId }, 'local response left out of dialogs');
    }
  }

  private onTimeout(p: Pending): void {
    if (p.done) return;
    if (this.failover(p, 'timeout')) return;
    const reason = p.isInvite ? 'Timer B Timeout' : 'Timer F Timeout';
    this.finalResponse(p, makeResponse(p.req, 408, { reason }));
  }

  /** Ends a request with an error (it could not be sent); a no-op once answered. */
  private fail(p: Pending, message: string): void {
    if (p.done) return;
    this.finish(p);
    if (p.inDialog) this.localResponse(p.req, 503, p.listener);
    this.log?.debug({ callId: p.req.callId, err: message }, 'uac request failed');
    tell(this.log, () => p.listener.error('service_unavailable', message));
  }

  private finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    if (p.callOwner !== undefined) this.calls?.release(p.callOwner, p.req.callId);
    if (p.cancel && !p.cancelSent) {
      for (const l of p.cancel.listeners.splice(0)) {
        tell(this.log, () =>
          l.error('unknown_request', 'the INVITE was answered before the CANCEL could be sent'),
        );
      }
    }
    if (p.expireTimer) this.clock.clearTimer(p.expireTimer);
    if (p.cancelTimer) this.clock.clearTimer(p.cancelTimer);
    if (p.timerC) this.clock.clearTimer(p.timerC);
    p.expireTimer = undefined;
    p.cancelTimer = undefined;
    p.timerC = undefined;
    this.pending.delete(p.handle);
  }

  private sendCancel(p: Pending): void {
    const txn = p.txn;
    if (!(txn instanceof ClientInviteTransaction) || p.cancelSent) return;
    p.cancelSent = true;
    const callId = p.req.callId;
    const log = this.log;
    const listeners = p.cancel?.listeners ?? [];
    const each = (fn: (l: UacListener) => void) => {
      for (const l of listeners.splice(0)) tell(log, () => fn(l));
    };
    try {
      const cancel = this.layer.sendCancel(
        txn,
        {
          onResponse: (r) => {
            log?.debug({ callId, status: r.status }, 'CANCEL answered');
            if (r.status >= 200) each((l) => l.final(r));
          },
          onTimeout: () => {
            log?.debug({ callId }, 'CANCEL timed out');
            each((l) => l.final(makeResponse(cancel.request, 408, { reason: 'Timer F Timeout' })));
          },
          onTransportError: (err) => {
            log?.debug({ callId, err }, 'CANCEL could not be sent');
            each((l) => l.error('service_unavailable', `the CANCEL could not be sent: ${err.message}`));
          },
        },
        p.cancel?.reason,
      );
    } catch (err) {
      this.log?.warn({ callId, err }, 'CANCEL failed');
      each((l) => l.error('service_unavailable', `the CANCEL could not be sent: ${(err as Error).message}`));
    }
    // §9.1: no final within 64*T1 of the CANCEL: the INVITE is over
    p.cancelTimer = this.clock.setTimer(64 * this.layer.timers.t1, () => {
      p.cancelTimer = undefined;
      if (p.done) return;
      txn.abort();
      this.finalResponse(p, makeResponse(p.req, 408, { reason: 'Cancel Timeout' }));
    });
  }

  /** The dialog's ACK for its 2xx (§13.2.2.4), sent without a transaction. */
  private sendDialogAck(d: Dialog, listener: UacListener, from?: readonly LocalAddress[]): void {
    try {
      const built = buildInDialogRequest(d, { method: 'ACK' }, this.clock.now());
      this.tellDialog(listener, built.updates, d, built.req);
      void this.sendDirect(built.req, hopOf(built.nextHop), from);
    } catch (err) {
      this.log?.warn({ callId: d.callId, err: (err as Error).message }, 'no way to send the ACK for a 2xx');
    }
  }

  /**
   * Sends a request outside any transaction (an ACK) to `hop`, or again to where it went the
   * first time; resolves with the endpoint, undefined when it could not be sent.
   */
  private sendDirect(
    req: SipRequest,
    hop?: NextHop,
    from?: readonly LocalAddress[],
  ): Promise<Endpoint | undefined> {
    let dest = this.ackDest.get(req);
    if (!dest) {
      if (!hop) return Promise.resolve(undefined);
      let to: Promise<Endpoint>;
      try {
        to = Promise.resolve(this.targetsOf(hop)).then((t) => {
          const ep = Array.isArray(t) ? t[0] : t;
          if (!ep) throw new Error(`no target for ${hop.host}`);
          return from ? { ...ep, from } : ep;
        });
      } catch (err) {
        to = Promise.reject(err);
      }
      dest = to.catch((err: Error) => {
        this.log?.warn({ callId: req.callId, err: err.message }, `no way to send the ${req.method}`);
        return undefined;
      });
      this.ackDest.set(req, dest);
    }
    return dest.then((ep) => {
      if (!ep) return undefined;
      return this.transport.sendRequest(req, ep).then(
        () => ep,
        (err: Error) => {
          this.log?.debug({ err: err.message }, `${req.method} send failed`);
          return undefined;
        },
      );
    });
  }
}

/** The spec of a session refresh: the dialog's local SDP, incremented, as body. */
function withRefresh(d: Dialog, spec: InDialogSpec, mode: RefreshMode): InDialogSpec {
  const local = d.session.local;
  if (!local) throw new UacError('invalid_option', 'refresh: the dialog has no local SDP yet');
  if (spec.method !== 'INVITE' && spec.method !== 'UPDATE') {
    throw new UacError('invalid_option', 'refresh is a re-INVITE or an UPDATE');
  }
  return { ...spec, body: refreshBody(local, mode), contentType: 'application/sdp' };
}

/** A Via for the transport to complete: it writes the real sent-by, transport and rport. */
function viaFor(hop: { transport: string }): string {
  return `SIP/2.0/${hop.transport.toUpperCase()} localhost;branch=${newBranch()}`;
}

/** `localHost` goes into the Contact as is (IPv6 in brackets): it must be a host. */
function checkLocalHost(h: string | undefined): string | undefined {
  if (h === undefined || h === '') return undefined;
  const text = hostText(h.trim());
  try {
    const { port } = parseHostPort(text);
    if (port !== undefined) throw new Error('port not allowed');
  } catch (err) {
    throw new UacError('invalid_option', `bad localHost ${h}: ${(err as Error).message}`);
  }
  return text;
}

/** The kind an in-dialog request is refused with (NkSIP's invalid_dialog is unknown_dialog here). */
function errorKindOf(err: unknown): UacErrorKind {
  if (err instanceof DialogError) return err.kind === 'invalid_dialog' ? 'unknown_dialog' : err.kind;
  if (err instanceof UacError || err instanceof TargetError) return err.kind;
  return 'invalid_option';
}

/** The user of the dialog's local URI, for an automatic Contact (NkSIP uses the From user). */
function userOf(d: Dialog): string | undefined {
  try {
    const u = d.localUri.uri;
    return isSipUri(u) ? u.user : undefined;
  } catch {
    return undefined;
  }
}

function newHandle(): string {
  return `R_${randomBytes(12).toString('base64url')}`;
}

/** Calls into the app's listener: what it throws is logged, never thrown into the stack. */
function tell(log: Logger | undefined, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log?.error({ err }, 'uac listener threw');
  }
}
