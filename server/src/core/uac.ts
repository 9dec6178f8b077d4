// The UAC core: sends out-of-dialog requests for the apps (NkSIP's nksip_uac, reference §3)
// and reports what comes back. A request is built and checked (uac-build.ts), routed to its
// next hop (target.ts), given a Via and, where NkSIP adds one, a Contact naming the listener
// it leaves from, and handed to a client transaction. Every 1xx goes to `provisional`, the
// final to `final` (a timeout as a synthesised 408 "Timer B/F Timeout", as NkSIP does), a
// request that could not be sent to `error('service_unavailable')`.
//
// CANCEL (§9.1) is held until the INVITE got a provisional and dropped if the final comes
// first; `expires` on an INVITE cancels it after that many seconds. With `auto2xxAck` the ACK
// for each 2xx is built from the 2xx and sent here: the dialog layer takes this over later,
// along with the BYE for extra forked 2xx.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { makeResponse } from '../sip/build.js';
import { newBranch } from '../sip/ids.js';
import { SipRequest, type SipResponse } from '../sip/message.js';
import { formatUri, parseHostPort } from '../sip/uri.js';
import { ClientInviteTransaction } from '../transaction/client-invite.js';
import { type Clock, realClock, type TimerHandle } from '../transaction/clock.js';
import type { ClientTransaction, TransactionLayer } from '../transaction/layer.js';
import type { ClientHandler } from '../transaction/types.js';
import { hostText } from '../transport/address.js';
import type { TransportManager } from '../transport/manager.js';
import type { Endpoint, SipTransport } from '../transport/types.js';
import { dnsResolver, type NextHop, type Resolver, resolveHop, routeRequest, TargetError } from './target.js';
import type { UacDefaults } from './uac-build.js';
import { buildRequest, UacError, type UacErrorKind, type UacRequestSpec } from './uac-build.js';

export type { UacDefaults, UacErrorKind, UacRequestSpec } from './uac-build.js';

export interface UacListener {
  /** Every 1xx, 100 Trying included. */
  provisional?(resp: SipResponse): void;
  /** The final response; an INVITE may get further 2xx from other branches of a fork. */
  final(resp: SipResponse): void;
  /** The request was not sent, or could not be: no `final` follows. */
  error(kind: UacErrorKind, message: string): void;
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
export type UacTransport = SipTransport & Pick<TransportManager, 'localContact'>;

export interface UacCoreOptions {
  layer: TransactionLayer;
  /** A TransportManager (tests may pass anything with the same two methods). */
  transport: UacTransport;
  defaults: UacDefaults;
  logger?: Logger;
  /** Host name → IP; `dns.lookup` by default. IP literals never reach it. */
  resolve?: Resolver;
  /** For INVITE `expires` and the CANCEL guard timer; the real clock by default. */
  clock?: Clock;
}

interface Pending {
  readonly handle: string;
  readonly req: SipRequest;
  /** The Request-URI as built, before any strict-route rewrite (the 2xx ACK falls back to it). */
  readonly ruri: string;
  readonly listener: UacListener;
  readonly isInvite: boolean;
  readonly auto2xxAck: boolean;
  readonly autoExpire: number | undefined;
  readonly makeContact: boolean;
  readonly contactUser: string | undefined;
  readonly localHost: string | undefined;
  txn?: ClientTransaction;
  /** A final response (or an error) was reported. */
  done: boolean;
  /** Set by cancel(): the CANCEL goes out once a provisional has arrived. */
  cancel?: { reason: string | undefined };
  cancelSent: boolean;
  expireTimer?: TimerHandle;
  cancelTimer?: TimerHandle;
  /** 2xx To tags seen, with the ACK sent for each (resent for retransmissions). */
  acks: Map<string, { ack: SipRequest; to: Promise<Endpoint | undefined> } | undefined>;
}

export class UacCore {
  private readonly layer: TransactionLayer;
  private readonly transport: UacTransport;
  private readonly defaults: UacDefaults;
  private readonly log: Logger | undefined;
  private readonly resolver: Resolver;
  private readonly clock: Clock;
  private readonly pending = new Map<string, Pending>();

  constructor(opts: UacCoreOptions) {
    this.layer = opts.layer;
    this.transport = opts.transport;
    this.defaults = opts.defaults;
    this.log = opts.logger;
    this.resolver = opts.resolve ?? dnsResolver;
    this.clock = opts.clock ?? realClock;
  }

  /**
   * Sends a request. What can be known at once is reported synchronously: `listener.error`
   * is called before `send` returns, and `send` then returns undefined (bad input, an
   * unusable next hop such as sips:, no listener to reach an IP-literal next hop). Otherwise
   * the handle comes back and everything else (responses, a failed name resolution, a failed
   * send) is reported later, never before `send` has returned.
   */
  send(spec: UacRequestSpec, listener: UacListener, defaults?: Partial<UacDefaults>): UacRequest | undefined {
    const d: UacDefaults = { ...this.defaults };
    for (const [k, v] of Object.entries(defaults ?? {})) {
      if (v !== undefined) (d as unknown as Record<string, unknown>)[k] = v;
    }
    let hop: NextHop;
    let p: Pending;
    try {
      const built = buildRequest(spec, d, this.clock.now());
      const ruri = built.req.uri;
      hop = routeRequest(built.req);
      const localHost = checkLocalHost(spec.localHost ?? d.localHost);
      built.req.headers.unshift({ name: 'via', value: viaFor(hop) });
      built.req.invalidate();
      p = {
        handle: newHandle(),
        req: built.req,
        ruri,
        listener,
        isInvite: built.req.method === 'INVITE',
        auto2xxAck: spec.auto2xxAck === true,
        autoExpire:
          !spec.noAutoExpire && spec.expires !== undefined && spec.expires > 0 ? spec.expires : undefined,
        makeContact: built.makeContact,
        contactUser: built.contactUser,
        localHost,
        done: false,
        cancelSent: false,
        acks: new Map(),
      };
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
    const ep = resolveHop(hop, this.resolver);
    if (ep instanceof Promise) {
      ep.then(
        (e) => this.dispatch(p, e),
        (err: Error) => this.fail(p, `cannot resolve ${hop.host}: ${err.message}`),
      );
    } else if (!this.dispatch(p, ep)) {
      return undefined;
    }
    const handle = p.handle;
    return {
      handle,
      callId: p.req.callId,
      request: p.req,
      cancel: (reason?: string) => this.cancel(handle, reason),
    };
  }

  /**
   * Cancels a pending INVITE (§9.1): the CANCEL leaves at once if a provisional has arrived,
   * else as soon as one does, and never if the final comes first. False for an unknown
   * handle (or one already answered) and for a request that is not an INVITE.
   */
  cancel(handle: string, reason?: string): boolean {
    const p = this.pending.get(handle);
    if (!p?.isInvite || p.done) return false;
    if (p.cancel) return true;
    p.cancel = { reason };
    if (p.txn instanceof ClientInviteTransaction && p.txn.gotProvisional) this.sendCancel(p);
    return true;
  }

  stats(): { pending: number } {
    return { pending: this.pending.size };
  }

  /** Adds the Contact and starts the transaction; false (error reported) when that failed. */
  private dispatch(p: Pending, ep: Endpoint): boolean {
    if (p.done) return false;
    try {
      if (p.makeContact && !p.req.hasHeader('contact')) this.addContact(p, ep);
    } catch (err) {
      this.fail(
        p,
        `no local address to reach ${ep.transport}:${hostText(ep.address)}:${ep.port}: ${(err as Error).message}`,
      );
      return false;
    }
    const handler: ClientHandler = {
      onResponse: (resp) => this.onResponse(p, resp),
      onTimeout: () => this.onTimeout(p),
      onTransportError: (err) =>
        this.fail(p, `cannot send to ${ep.transport}:${hostText(ep.address)}:${ep.port}: ${err.message}`),
    };
    try {
      p.txn = this.layer.sendRequest(p.req, ep, handler);
    } catch (err) {
      this.fail(p, `cannot send: ${(err as Error).message}`);
      return false;
    }
    this.log?.debug({ method: p.req.method, callId: p.req.callId, to: ep }, 'uac request sent');
    if (p.isInvite && p.autoExpire !== undefined) {
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
    const tp = local.transport === 'udp' ? '' : `;transport=${local.transport}`;
    const value = `<sip:${user}${host}:${local.port}${tp}>`;
    const at = p.req.headers.findIndex((h) => h.name === 'cseq');
    p.req.headers.splice(at < 0 ? p.req.headers.length : at + 1, 0, { name: 'contact', value });
    p.req.invalidate();
  }

  private onResponse(p: Pending, resp: SipResponse): void {
    const s = resp.status;
    if (s < 200) {
      if (p.done) return;
      if (p.cancel && !p.cancelSent) this.sendCancel(p);
      tell(this.log, () => p.listener.provisional?.(resp));
      return;
    }
    if (p.isInvite && s < 300) {
      // the transaction passes on every 2xx while Accepted: retransmissions and forks
      const tag = resp.toTag ?? '';
      if (p.acks.has(tag)) {
        const sent = p.acks.get(tag);
        if (sent) this.resendAck(sent);
        return;
      }
      p.acks.set(tag, p.auto2xxAck ? this.sendAck(p, resp) : undefined);
    } else if (p.done) {
      return;
    }
    this.finish(p);
    tell(this.log, () => p.listener.final(resp));
  }

  private onTimeout(p: Pending): void {
    if (p.done) return;
    this.finish(p);
    const reason = p.isInvite ? 'Timer B Timeout' : 'Timer F Timeout';
    tell(this.log, () => p.listener.final(makeResponse(p.req, 408, { reason })));
  }

  /** Ends a request with an error (it could not be sent); a no-op once answered. */
  private fail(p: Pending, message: string): void {
    if (p.done) return;
    this.finish(p);
    this.log?.debug({ callId: p.req.callId, err: message }, 'uac request failed');
    tell(this.log, () => p.listener.error('service_unavailable', message));
  }

  private finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    if (p.expireTimer) this.clock.clearTimer(p.expireTimer);
    if (p.cancelTimer) this.clock.clearTimer(p.cancelTimer);
    p.expireTimer = undefined;
    p.cancelTimer = undefined;
    this.pending.delete(p.handle);
  }

  private sendCancel(p: Pending): void {
    const txn = p.txn;
    if (!(txn instanceof ClientInviteTransaction) || p.cancelSent) return;
    p.cancelSent = true;
    const callId = p.req.callId;
    const log = this.log;
    try {
      this.layer.sendCancel(
        txn,
        {
          onResponse: (r) => log?.debug({ callId, status: r.status }, 'CANCEL answered'),
          onTimeout: () => log?.debug({ callId }, 'CANCEL timed out'),
          onTransportError: (err) => log?.debug({ callId, err }, 'CANCEL could not be sent'),
        },
        p.cancel?.reason,
      );
    } catch (err) {
      this.log?.warn({ callId, err }, 'CANCEL failed');
    }
    // §9.1: no final within 64*T1 of the CANCEL: the INVITE is over
    p.cancelTimer = this.clock.setTimer(64 * this.layer.timers.t1, () => {
      p.cancelTimer = undefined;
      if (p.done) return;
      txn.abort();
      this.finish(p);
      tell(this.log, () => p.listener.final(makeResponse(p.req, 408, { reason: 'Cancel Timeout' })));
    });
  }

  /**
   * The ACK for a 2xx outside a dialog (§13.2.2.4): to the 2xx Contact, through the reversed
   * Record-Route, same CSeq number, a new branch.
   */
  private sendAck(p: Pending, resp: SipResponse): { ack: SipRequest; to: Promise<Endpoint | undefined> } {
    let target = p.ruri;
    try {
      const c = resp.contacts[0];
      if (c) target = formatUri(c.uri);
    } catch {
      this.log?.debug({ callId: p.req.callId }, '2xx with a bad Contact: ACK to the Request-URI');
    }
    const ack = new SipRequest('ACK', target);
    ack.addHeader('max-forwards', '70');
    for (const rr of resp.headerValues('record-route').reverse()) ack.addHeader('route', rr);
    for (const h of p.req.headers) if (h.name === 'from' || h.name === 'call-id') ack.headers.push(h);
    const to = resp.headers.find((h) => h.name === 'to');
    if (to) ack.headers.push({ name: 'to', value: to.value });
    ack.addHeader('cseq', `${p.req.cseq.seq} ACK`);
    ack.invalidate();
    let dest: Promise<Endpoint | undefined>;
    try {
      const hop = routeRequest(ack);
      ack.headers.unshift({ name: 'via', value: viaFor(hop) });
      ack.invalidate();
      dest = Promise.resolve(resolveHop(hop, this.resolver));
    } catch (err) {
      dest = Promise.reject(err);
    }
    const sent = {
      ack,
      to: dest.catch((err: Error) => {
        this.log?.warn({ callId: p.req.callId, err: err.message }, 'no way to send the ACK for a 2xx');
        return undefined;
      }),
    };
    this.resendAck(sent);
    return sent;
  }

  private resendAck(sent: { ack: SipRequest; to: Promise<Endpoint | undefined> }): void {
    sent.to.then((ep) => {
      if (!ep) return;
      this.transport.sendRequest(sent.ack, ep).catch((err: Error) => {
        this.log?.debug({ err: err.message }, 'ACK send failed');
      });
    });
  }
}

/** A Via for the transport to complete: it writes the real sent-by, transport and rport. */
function viaFor(hop: NextHop): string {
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
