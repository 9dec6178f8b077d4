// UAC commands from an app instance: each UacCommand becomes a UacCore request with the app's
// defaults (from, route, local host), and what comes back is streamed as UacEvents carrying
// the command id, the request handle, the dialog handle and the Call-ID. A command with a
// dialog_handle (BYE, INFO, re-INVITE, UPDATE, ACK, ...) is sent in that dialog.
// What a request does to a dialog (the dialog its response creates, the session its offer or
// answer starts) goes to the instance that sent it as DialogUpdate and SessionUpdate
// notifications; what the peer's requests do goes to the app's callbacks (dispatch.ts).
import type { Logger } from 'pino';
import type { Pass } from '../auth/client.js';
import type { DialogUpdateContext } from '../core/app.js';
import type { Dialog, DialogUpdate } from '../core/dialog/dialog.js';
import { isRefreshMode, isReliable } from '../core/session.js';
import { DEFAULT_TIMERS, type TimerSettings } from '../core/timers.js';
import type {
  InDialogOptions,
  InDialogSpec,
  SessionOptions,
  UacCore,
  UacErrorKind,
  UacListener,
  UacRequestSpec,
} from '../core/uac.js';
import type { UacDefaults } from '../core/uac-build.js';
import type { AuthorizedList, AuthorizedListRequest } from '../gen/nksip/v1/service.js';
import {
  type Credential,
  UacErrorKind as PbUacErrorKind,
  type UacOptions as PbUacOptions,
  type UacCommand,
  type UacEvent,
} from '../gen/nksip/v1/uac.js';
import type { SipResponse } from '../sip/message.js';
import { fromText, toText } from '../sip/message.js';
import { isSipUri, uriParam } from '../sip/uri.js';
import type { LocalAddress, Source, TransportName } from '../transport/types.js';
import type { AppSettings } from './app-config.js';
import { headerOpFromPb, looksLikeSdp, responseToPb } from './convert.js';

/** The part of UacCore apps use. */
export type UacPort = Pick<UacCore, 'send' | 'cancel' | 'sendInDialog'> &
  Partial<Pick<UacCore, 'authorizedList'>>;

/** A Credential of the contract as the UAC core's Pass (text; empty realm or user: any / From's). */
/**
 * What an app's requests default to (its `from`, `route`, local host, Allow, Supported) and the
 * listeners they leave from; shared by UAC commands and automatic registrations.
 */
export function uacDefaultsOf(
  settings: AppSettings,
  listeners?: readonly LocalAddress[],
): Partial<UacDefaults> {
  const d: Partial<UacDefaults> = {};
  if (settings.from !== undefined) d.from = settings.from;
  if (settings.route.length > 0) d.route = settings.route;
  if (settings.localHost !== undefined) d.localHost = settings.localHost;
  if (settings.allow !== undefined) d.allow = settings.allow;
  if (settings.supported !== undefined) d.supported = settings.supported.join(', ');
  if (listeners && listeners.length > 0) d.listeners = listeners;
  d.calls = { owner: settings.name, maxCalls: settings.maxCalls };
  return d;
}

export function passFromPb(c: Credential): Pass {
  const p: Pass = { password: c.password };
  if (c.realm !== '') p.realm = c.realm;
  if (c.user !== '') p.user = c.user;
  return p;
}

function errorKind(kind: UacErrorKind | string): PbUacErrorKind {
  const v = (PbUacErrorKind as unknown as Record<string, number>)[`UAC_ERROR_KIND_${kind.toUpperCase()}`];
  return v ?? PbUacErrorKind.UAC_ERROR_KIND_UNSPECIFIED;
}

export interface UacSessionHooks {
  /** Where the app hears of changes to dialogs its own requests made or used. */
  onDialog?: (update: DialogUpdate, ctx: DialogUpdateContext) => void;
  /** The listeners the app is served on; its requests leave from them. */
  listeners?: () => readonly LocalAddress[];
}

/**
 * The transport context of a dialog seen from our side (the peer's target, our target), for
 * notifications that have no received request to take it from.
 */
export function dialogSource(d: Dialog): Source {
  const remote = d.remoteTarget;
  const local = d.localTarget;
  const sip = isSipUri(remote) ? remote : undefined;
  const tp = sip ? uriParam(sip, 'transport') : undefined;
  const transport: TransportName =
    typeof tp === 'string' && ['tcp', 'tls', 'ws', 'wss'].includes(tp.toLowerCase())
      ? (tp.toLowerCase() as TransportName)
      : sip?.scheme === 'sips'
        ? 'tls'
        : 'udp';
  const defaultPort = transport === 'tls' ? 5061 : 5060;
  const lsip = local && isSipUri(local) ? local : undefined;
  return {
    transport,
    address: stripBrackets(sip?.host ?? ''),
    port: sip?.port ?? defaultPort,
    localAddress: stripBrackets(lsip?.host ?? ''),
    localPort: lsip?.port ?? defaultPort,
  };
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/**
 * The 100rel and session timer options of a command: a session timer is asked for when the
 * command gives `session_expires` or the app runs the timers plugin.
 */
function sessionOptions(o: PbUacOptions | undefined, plugin: TimerSettings | undefined): SessionOptions {
  const out: SessionOptions = {};
  if (o && o.prackBody.length > 0) out.prackBody = Buffer.from(o.prackBody);
  if (o?.manualPrack) out.manualPrack = true;
  if ((o && o.sessionExpires > 0) || plugin) {
    const base = plugin ?? DEFAULT_TIMERS;
    const minSe = o && o.minSe > 0 ? o.minSe : base.minSe;
    const se = o && o.sessionExpires > 0 ? o.sessionExpires : base.se;
    out.timers = { se: Math.max(se, minSe), minSe };
  }
  return out;
}

/** One instance's UAC requests: it may CANCEL only those it sent. */
export class UacSession {
  private readonly owned = new Set<string>();
  private closed = false;

  constructor(
    private readonly uac: UacPort | undefined,
    private readonly settings: AppSettings,
    private readonly emit: (ev: UacEvent) => void,
    private readonly log?: Logger,
    private readonly hooks: UacSessionHooks = {},
  ) {}

  /** The app's listeners (or the server's own for an app without), where its requests leave from. */
  private listeners(): LocalAddress[] | undefined {
    const ls = this.hooks.listeners?.();
    return ls && ls.length > 0
      ? ls.map((l) => ({ transport: l.transport, address: l.address, port: l.port }))
      : undefined;
  }

  close(): void {
    this.closed = true;
    this.owned.clear();
  }

  private event(ev: Partial<UacEvent> & Pick<UacEvent, 'id' | 'event'>): void {
    if (this.closed) return;
    this.emit({ requestHandle: '', dialogHandle: '', subscriptionHandle: '', callId: '', rseq: 0, ...ev });
  }

  private fail(id: number, kind: PbUacErrorKind, message: string, extra: Partial<UacEvent> = {}): void {
    this.event({ id, event: { $case: 'error', value: { kind, message } }, ...extra });
  }

  handle(cmd: UacCommand): void {
    const method = cmd.method.trim().toUpperCase();
    const o = cmd.options;
    if (cmd.subscriptionHandle !== '') {
      this.fail(
        cmd.id,
        PbUacErrorKind.UAC_ERROR_KIND_UNKNOWN_DIALOG,
        `unknown subscription ${cmd.subscriptionHandle}`,
      );
      return;
    }
    if (cmd.dialogHandle !== '' && method !== 'CANCEL') {
      this.inDialog(cmd, method);
      return;
    }
    if (method === 'CANCEL') {
      const requestHandle = cmd.requestHandle;
      // the CANCEL command completes with the CANCEL's own final response
      const listener: UacListener = {
        final: (resp) =>
          this.event({ id: cmd.id, requestHandle, event: { $case: 'final', value: responseToPb(resp) } }),
        error: (kind, message) => this.fail(cmd.id, errorKind(kind), message, { requestHandle }),
      };
      const ok =
        this.owned.has(requestHandle) && this.uac?.cancel(requestHandle, o?.reason || undefined, listener);
      if (!ok) {
        this.fail(
          cmd.id,
          PbUacErrorKind.UAC_ERROR_KIND_UNKNOWN_REQUEST,
          `no pending INVITE of this instance with handle ${JSON.stringify(cmd.requestHandle)}`,
          { requestHandle: cmd.requestHandle },
        );
      }
      return;
    }
    if (method === 'ACK') {
      this.fail(
        cmd.id,
        PbUacErrorKind.UAC_ERROR_KIND_UNKNOWN_DIALOG,
        'ACK is sent within a dialog: give dialog_handle',
      );
      return;
    }
    if (!this.uac) {
      this.fail(cmd.id, PbUacErrorKind.UAC_ERROR_KIND_NOT_IMPLEMENTED, 'this server has no UAC core');
      return;
    }
    if (cmd.uri.trim() === '') {
      this.fail(cmd.id, PbUacErrorKind.UAC_ERROR_KIND_INVALID_URI, 'uri is required out of a dialog');
      return;
    }
    const spec: UacRequestSpec = { method, uri: fromText(cmd.uri.trim()) };
    let provisionals = false;
    if (o) {
      try {
        if (o.headers.length > 0) spec.headers = o.headers.map(headerOpFromPb);
      } catch (e) {
        this.fail(cmd.id, PbUacErrorKind.UAC_ERROR_KIND_INVALID_OPTION, (e as Error).message);
        return;
      }
      if (o.body.length > 0) spec.body = Buffer.from(o.body);
      if (o.contentType !== '') spec.contentType = fromText(o.contentType);
      // NkSIP: an SDP body gets its Content-Type without being asked
      else if (looksLikeSdp(o.body)) spec.contentType = 'application/sdp';
      if (o.contact !== '') spec.contact = fromText(o.contact);
      if (o.makeContact) spec.makeContact = true;
      if (o.from !== '') spec.from = fromText(o.from);
      if (o.to !== '') spec.to = fromText(o.to);
      if (o.route.length > 0) spec.route = o.route.map(fromText);
      if (o.callId !== '') spec.callId = fromText(o.callId);
      if (o.cseq !== undefined) spec.cseq = o.cseq;
      if (o.expires !== undefined) spec.expires = o.expires;
      if (o.event !== '') spec.event = fromText(o.event);
      if (o.referTo !== '') spec.referTo = fromText(o.referTo);
      if (o.unregister) spec.unregister = true;
      if (o.unregisterAll) spec.unregisterAll = true;
      if (o.toAsFrom) spec.toAsFrom = true;
      if (o.auto2xxAck) spec.auto2xxAck = true;
      if (o.noAutoExpire) spec.noAutoExpire = true;
      if (o.reason !== '') spec.reason = fromText(o.reason);
      if (o.subscriptionState !== '') spec.subscriptionState = fromText(o.subscriptionState);
      if (o.sipIfMatch !== '') spec.sipIfMatch = fromText(o.sipIfMatch);
      if (o.localHost !== '') spec.localHost = o.localHost;
      provisionals = o.provisionals;
    }
    const auth = this.authSpec(o?.pass ?? [], o?.authMaxTries);
    const defaults = uacDefaultsOf(this.settings, this.listeners());
    const session = sessionOptions(o, this.settings.timers);
    this.dispatch(cmd.id, provisionals, (listener) =>
      this.uac?.send(spec, listener, defaults, auth, session),
    );
  }

  /** The request's passwords first, then the app's (NkSIP: per request, then `sip_pass`). */
  private authSpec(pass: Credential[], maxTries: number | undefined): { pass: Pass[]; maxTries?: number } {
    const all = [...pass, ...this.settings.pass].map(passFromPb);
    return maxTries === undefined ? { pass: all } : { pass: all, maxTries };
  }

  /** NkSIP's get_authorized_list / clear_authorized_list for a dialog. */
  authorizedList(req: AuthorizedListRequest): AuthorizedList {
    const sources = this.uac?.authorizedList?.(req.dialogHandle, req.clear);
    return {
      id: req.id,
      dialogHandle: req.dialogHandle,
      found: sources !== undefined,
      sources: sources ?? [],
    };
  }

  /** A command in a dialog: BYE, INFO, re-INVITE, UPDATE, MESSAGE, OPTIONS, NOTIFY, REFER, ACK... */
  private inDialog(cmd: UacCommand, method: string): void {
    if (!this.uac) {
      this.fail(cmd.id, PbUacErrorKind.UAC_ERROR_KIND_NOT_IMPLEMENTED, 'this server has no UAC core');
      return;
    }
    const o = cmd.options;
    const spec: InDialogSpec = { method };
    const opts: InDialogOptions = {};
    if (this.settings.localHost !== undefined) opts.localHost = this.settings.localHost;
    const listeners = this.listeners();
    if (listeners) opts.listeners = listeners;
    let provisionals = false;
    if (o) {
      try {
        if (o.headers.length > 0) spec.headers = o.headers.map(headerOpFromPb);
      } catch (e) {
        this.fail(cmd.id, PbUacErrorKind.UAC_ERROR_KIND_INVALID_OPTION, (e as Error).message);
        return;
      }
      if (o.body.length > 0) spec.body = Buffer.from(o.body);
      if (o.contentType !== '') spec.contentType = fromText(o.contentType);
      // NkSIP: an SDP body gets its Content-Type without being asked
      else if (looksLikeSdp(o.body)) spec.contentType = 'application/sdp';
      if (o.contact !== '') spec.contact = fromText(o.contact);
      if (o.cseq !== undefined) spec.cseq = o.cseq;
      if (o.reason !== '') spec.reason = fromText(o.reason);
      if (o.auto2xxAck) opts.auto2xxAck = true;
      if (o.localHost !== '') opts.localHost = o.localHost;
      Object.assign(opts, sessionOptions(o, this.settings.timers));
      if (o.refresh !== '') {
        const mode = o.refresh.trim().toLowerCase();
        const named: Record<string, string> = { active: 'sendrecv', hold: 'sendonly' };
        const m = named[mode] ?? mode;
        if (!isRefreshMode(m)) {
          this.fail(
            cmd.id,
            PbUacErrorKind.UAC_ERROR_KIND_INVALID_OPTION,
            `bad refresh ${JSON.stringify(o.refresh)}`,
          );
          return;
        }
        opts.refresh = m;
      }
      provisionals = o.provisionals;
    }
    const auth = this.authSpec(o?.pass ?? [], o?.authMaxTries);
    opts.pass = auth.pass;
    if (auth.maxTries !== undefined) opts.maxTries = auth.maxTries;
    const uac = this.uac;
    this.dispatch(cmd.id, provisionals, (listener) =>
      uac.sendInDialog(cmd.dialogHandle, spec, listener, opts),
    );
  }

  /** Sends through `send` with a listener turning what comes back into UacEvents. */
  private dispatch(
    id: number,
    provisionals: boolean,
    send: (listener: UacListener) => ReturnType<UacPort['send']>,
  ): void {
    let handle = '';
    let callId = '';
    const res = (resp: SipResponse, which: 'provisional' | 'final', dialog: string | undefined) => {
      this.event({
        id,
        requestHandle: handle,
        dialogHandle: dialog ?? '',
        callId,
        rseq: which === 'provisional' && isReliable(resp) ? Number(resp.header('rseq')) || 0 : 0,
        event:
          which === 'final'
            ? { $case: 'final', value: responseToPb(resp) }
            : { $case: 'provisional', value: responseToPb(resp) },
      });
    };
    let sent: ReturnType<UacPort['send']>;
    try {
      sent = send({
        provisional: provisionals ? (resp, dialog) => res(resp, 'provisional', dialog) : undefined,
        final: (resp, dialog) => {
          this.owned.delete(handle);
          res(resp, 'final', dialog);
        },
        error: (kind, message) => {
          this.owned.delete(handle);
          this.fail(id, errorKind(kind), message, { requestHandle: handle, callId });
        },
        dialogUpdate: (update, dialog, req) => {
          if (this.closed || !this.hooks.onDialog) return;
          this.hooks.onDialog(update, { dialog, req, source: dialogSource(dialog) });
        },
      });
    } catch (err) {
      this.log?.error({ err }, 'UAC send failed');
      this.fail(id, PbUacErrorKind.UAC_ERROR_KIND_SERVICE_UNAVAILABLE, (err as Error).message);
      return;
    }
    if (sent) {
      handle = sent.handle;
      callId = toText(sent.callId);
      this.owned.add(handle);
    }
  }
}
