// A SIP dialog (RFC 3261 §12) as NkSIP keeps one (reference §3 "Dialog" metadata, §4
// `sip_dialog_update`): identity, route set, targets, CSeqs, early/secure flags and its usages
// (RFC 5057): at most one INVITE usage plus subscriptions keyed by event and id. Pure state:
// no sockets, no transactions, no timers. Every transition returns the `sip_dialog_update`
// notifications it implies; a `stop` notification means the dialog has no usage left and
// must leave its table (DialogTable does that itself for the messages it is given).
import { formatNameAddr, type NameAddr, parseNameAddr } from '../../sip/headers.js';
import { newId } from '../../sip/ids.js';
import type { SipRequest, SipResponse } from '../../sip/message.js';
import { formatUri, isSipUri, parseUri, type Uri } from '../../sip/uri.js';
import { type Party, Session, type SessionUpdate } from '../session.js';

export type InviteStatus =
  | 'init'
  | 'proceeding_uac'
  | 'proceeding_uas'
  | 'accepted_uac'
  | 'accepted_uas'
  | 'confirmed'
  | 'bye';

/** Why an INVITE usage ended (NkSIP `{invite_status, {stop, Reason}}`): a SIP code or a name. */
export type StopReason =
  | number
  | 'caller_bye'
  | 'callee_bye'
  | 'forced'
  | 'busy'
  | 'cancelled'
  | 'service_unavailable'
  | 'declined'
  | 'timeout'
  | 'ack_timeout'
  | 'no_events';

/** One `sip_dialog_update` notification (reference §4). */
export type DialogUpdate =
  | { type: 'start' }
  | { type: 'target_update' }
  | { type: 'invite_status'; status: InviteStatus | { stop: StopReason } }
  /** The dialog timed out and a BYE with a Reason was sent (NkSIP `invite_timeout`). */
  | { type: 'invite_timeout' }
  | { type: 'stop' }
  /** Session timer reminder (RFC 4028): refresh now; `sdp` is the last local SDP. */
  | { type: 'invite_refresh'; sdp: Buffer }
  /** An offer/answer exchange completed, or the session ended (`sip_session_update`). */
  | { type: 'session'; update: SessionUpdate };

/** The INVITE usage: the last INVITE in the dialog, whichever side sent it. */
export interface InviteUsage {
  status: InviteStatus;
  /** Who sent the INVITE in progress (or the last one). */
  side: 'uac' | 'uas';
  /** Its CSeq number: the ACK for its 2xx carries it. */
  cseq: number;
  request: SipRequest | undefined;
  /** The last 101–299 response to it. */
  response: SipResponse | undefined;
  /** The ACK for its 2xx, once sent or received. */
  ack: SipRequest | undefined;
  /** When a 2xx first answered an INVITE of this usage (NkSIP `invite_answered`). */
  answered: number | undefined;
}

/** A subscription usage (RFC 6665), identified by event package and `id` parameter. */
export interface SubscriptionUsage {
  event: string;
  id: string | undefined;
}

/** What creating a dialog needs beyond the messages. */
export interface DialogContext {
  /** Milliseconds; `created` and `updated` use it. */
  now: number;
  /**
   * A Record-Route URI of our own (this server also proxied the request): NkSIP drops it from
   * the top of the route set so in-dialog requests do not loop through ourselves.
   */
  isLocal?: (uri: Uri) => boolean;
  /** Whether the creating request went over TLS; secure also needs a sips: Request-URI. */
  overTls?: boolean;
  /** The owner of the call the creating request counted in (core/calls.ts); '' by default. */
  owner?: string | undefined;
}

/** Responses that end the dialog and every usage in it (RFC 5057 §5.1, NkSIP). */
const DIALOG_TERMINATING = new Set([404, 410, 416, 482, 483, 484, 485, 502, 604]);
/** Target refresh requests (RFC 3261 §12.2, RFC 3311, RFC 6665). */
export const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY']);
const SUBSCRIPTION_METHODS = new Set(['SUBSCRIBE', 'NOTIFY', 'REFER']);

/** Whether a response to `method` creates a dialog: INVITE 101–299, SUBSCRIBE/REFER/NOTIFY 2xx. */
export function createsDialog(method: string, status: number): boolean {
  if (method === 'INVITE') return status > 100 && status < 300;
  return SUBSCRIPTION_METHODS.has(method) && status >= 200 && status < 300;
}

/** The dialog id: Call-ID, local tag, remote tag (RFC 3261 §12). */
export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}

/** NkSIP's stop reason for a final response code. */
export function stopReason(code: number): StopReason {
  switch (code) {
    case 486:
      return 'busy';
    case 487:
      return 'cancelled';
    case 503:
      return 'service_unavailable';
    case 603:
      return 'declined';
    default:
      return code;
  }
}

function newHandle(): string {
  return `D_${newId()}`;
}

function rawHeader(msg: SipRequest | SipResponse, name: string): string {
  const v = msg.header(name);
  if (v === undefined) throw new Error(`no ${name} header`);
  return v;
}

/** The single Contact URI of a message, or undefined when there are none or several. */
function singleContact(msg: SipRequest | SipResponse): Uri | undefined {
  try {
    const cs = msg.contacts;
    return cs.length === 1 ? (cs[0] as NameAddr).uri : undefined;
  } catch {
    return undefined;
  }
}

/** Event package and id of a SUBSCRIBE/NOTIFY (the `refer` package for REFER, id its CSeq). */
export function subscriptionOf(req: SipRequest): SubscriptionUsage {
  if (req.method === 'REFER') return { event: 'refer', id: String(req.cseq.seq) };
  const ev = req.header('event') ?? '';
  const semi = ev.indexOf(';');
  const event = (semi < 0 ? ev : ev.slice(0, semi)).trim().toLowerCase();
  let id: string | undefined;
  if (semi >= 0) {
    const m = /;\s*id\s*=\s*([^;\s]+)/i.exec(ev.slice(semi));
    if (m) id = m[1];
  }
  return { event, id };
}

function subKey(s: SubscriptionUsage): string {
  return `${s.event};${s.id ?? ''}`;
}

export class Dialog {
  /** Opaque and unique: what apps hold (`D_…`). */
  readonly handle = newHandle();
  readonly id: string;
  readonly callId: string;
  /** The owner of its call (core/calls.ts): the dialog keeps that call live. */
  readonly owner: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** Which side created it: we sent the creating request (uac) or answered it (uas). */
  readonly role: 'uac' | 'uas';
  /** From tag of the creating request: who is the caller, for caller_bye/callee_bye. */
  readonly callerTag: string;
  readonly created: number;
  /** Last time a request or response of the dialog was processed (for NkSIP `dialog_timeout`). */
  updated: number;
  /** From (UAC) or To (UAS) of the creating exchange as sent, tag included (`raw_local_uri`). */
  readonly rawLocalUri: string;
  /** To (UAC) or From (UAS) of the creating exchange as received, tag included. */
  readonly rawRemoteUri: string;
  /** Undefined until we send a request in the dialog (UAS side). */
  localSeq: number | undefined;
  /** Undefined until the peer sends a request in the dialog (UAC side, §12.2.2). */
  remoteSeq: number | undefined;
  /** Our Contact URI. */
  localTarget: Uri | undefined;
  /** The peer's Contact URI: where in-dialog requests go. */
  remoteTarget: Uri;
  /** Route header values for in-dialog requests, in the order they are sent. */
  routeSet: NameAddr[];
  /** Set once the dialog is confirmed (or a NOTIFY was accepted): the route set is final. */
  routeSetFrozen = false;
  early: boolean;
  readonly secure: boolean;
  invite: InviteUsage | undefined;
  /** Offer/answer of the INVITE usage: `invite_local_sdp`, `invite_remote_sdp`, the pending offer. */
  readonly session = new Session();
  /** UAC: the RAck of the last reliable 1xx received and not yet PRACKed (RFC 3262). */
  rack: string | undefined;
  readonly subscriptions = new Map<string, SubscriptionUsage>();
  private stopped = false;
  private readonly isLocal: ((uri: Uri) => boolean) | undefined;

  private constructor(role: 'uac' | 'uas', req: SipRequest, resp: SipResponse, ctx: DialogContext) {
    this.isLocal = ctx.isLocal;
    const fromTag = req.fromTag;
    const toTag = resp.toTag;
    if (fromTag === undefined) throw new Error('dialog request without a From tag');
    if (toTag === undefined) throw new Error('dialog response without a To tag');
    this.role = role;
    this.callId = req.callId;
    this.owner = ctx.owner ?? '';
    this.callerTag = fromTag;
    this.localTag = role === 'uac' ? fromTag : toTag;
    this.remoteTag = role === 'uac' ? toTag : fromTag;
    this.id = dialogId(this.callId, this.localTag, this.remoteTag);
    this.created = ctx.now;
    this.updated = ctx.now;
    this.rawLocalUri = role === 'uac' ? rawHeader(req, 'from') : rawHeader(resp, 'to');
    this.rawRemoteUri = role === 'uac' ? rawHeader(resp, 'to') : rawHeader(req, 'from');
    this.secure = req.ruri.scheme === 'sips' && ctx.overTls !== false;
    const ours = role === 'uac' ? req : resp;
    const theirs = role === 'uac' ? resp : req;
    this.localTarget = singleContact(ours);
    const target = singleContact(theirs);
    // no (or several) Contact: the peer is unreachable in the dialog but the dialog exists;
    // NkSIP keeps an `invalid.invalid` target until a later message gives one.
    this.remoteTarget = this.secured(target ?? parseUri('sip:invalid.invalid'));
    this.localSeq = role === 'uac' ? req.cseq.seq : undefined;
    this.remoteSeq = role === 'uas' ? req.cseq.seq : undefined;
    this.routeSet = [];
    this.updateRouteSet(role, req, resp);
    this.early = resp.status < 200;
  }

  /** Our request got a 101–299 response with a To tag (INVITE; 2xx for SUBSCRIBE/REFER/NOTIFY). */
  static uac(
    req: SipRequest,
    resp: SipResponse,
    ctx: DialogContext,
  ): { dialog: Dialog; updates: DialogUpdate[] } {
    if (!createsDialog(req.method, resp.status))
      throw new Error(`${req.method} ${resp.status} creates no dialog`);
    const d = new Dialog('uac', req, resp, ctx);
    const updates: DialogUpdate[] = [{ type: 'start' }];
    d.startUsage(req, 'uac', updates);
    updates.push(...d.uacResponse(req, resp, ctx.now));
    return { dialog: d, updates };
  }

  /** We answer `req` with `resp` (101–299 for INVITE, 2xx for SUBSCRIBE/REFER/NOTIFY). */
  static uas(
    req: SipRequest,
    resp: SipResponse,
    ctx: DialogContext,
  ): { dialog: Dialog; updates: DialogUpdate[] } {
    if (!createsDialog(req.method, resp.status))
      throw new Error(`${req.method} ${resp.status} creates no dialog`);
    const d = new Dialog('uas', req, resp, ctx);
    const updates: DialogUpdate[] = [{ type: 'start' }];
    d.startUsage(req, 'uas', updates);
    updates.push(...d.uasResponse(req, resp, ctx.now));
    return { dialog: d, updates };
  }

  get inviteStatus(): InviteStatus | undefined {
    return this.invite?.status;
  }

  /** No usage left: the dialog is over. */
  get ended(): boolean {
    return this.stopped;
  }

  /** `local_uri` / `remote_uri` metadata, parsed. */
  get localUri(): NameAddr {
    return parseNameAddr(this.rawLocalUri);
  }

  get remoteUri(): NameAddr {
    return parseNameAddr(this.rawRemoteUri);
  }

  /** `raw_route_set`: the Route header values. */
  get rawRouteSet(): string[] {
    return this.routeSet.map((r) => formatNameAddr(r, formatUri));
  }

  /** The retransmitted 2xx of an INVITE we already ACKed: the caller sends this ACK again. */
  ackToResend(resp: SipResponse): SipRequest | undefined {
    const inv = this.invite;
    if (inv?.side !== 'uac' || resp.status < 200 || resp.status >= 300) return undefined;
    if (resp.cseq.method !== 'INVITE' || resp.cseq.seq !== inv.cseq) return undefined;
    return inv.status === 'confirmed' ? inv.ack : undefined;
  }

  // ---------------------------------------------------------------- usages

  addSubscription(s: SubscriptionUsage): void {
    this.subscriptions.set(subKey(s), s);
  }

  /** Ends one subscription usage; the dialog stops when it was the last usage. */
  removeSubscription(s: SubscriptionUsage): DialogUpdate[] {
    const updates: DialogUpdate[] = [];
    if (this.subscriptions.delete(subKey(s))) this.endIfUnused(updates);
    return updates;
  }

  /** Stops every usage (NkSIP `nksip_dialog:stop/1`, a dialog-terminating response, a timeout). */
  stop(reason: StopReason = 'forced'): DialogUpdate[] {
    const updates: DialogUpdate[] = [];
    if (this.stopped) return updates;
    this.subscriptions.clear();
    if (this.invite) this.stopInvite(reason, updates);
    this.endIfUnused(updates);
    return updates;
  }

  // ---------------------------------------------------------------- our side sends (UAC)

  /**
   * A request we send in the dialog (request.ts calls this after building it): local CSeq
   * kept as the highest sent, a re-INVITE opens the INVITE usage, a BYE moves it to `bye`,
   * our ACK for an accepted INVITE confirms it.
   */
  requestSent(req: SipRequest, now: number): DialogUpdate[] {
    const updates: DialogUpdate[] = [];
    this.updated = now;
    const seq = req.cseq.seq;
    if (req.method === 'ACK') {
      const inv = this.invite;
      if (inv && inv.side === 'uac' && inv.status === 'accepted_uac' && seq === inv.cseq) {
        inv.ack = req;
        this.setInvite('confirmed', updates);
        this.sessionRequest('local', req, updates);
      }
      return updates;
    }
    if (this.localSeq === undefined || seq > this.localSeq) this.localSeq = seq;
    if (req.method === 'PRACK') this.rack = undefined;
    if (req.method === 'INVITE') this.startUsage(req, 'uac', updates);
    else if (req.method === 'BYE' && this.invite) this.setInvite('bye', updates);
    else if (this.invite) this.sessionRequest('local', req, updates);
    return updates;
  }

  /** A response to a request we sent in this dialog (the creating one included). */
  uacResponse(req: SipRequest, resp: SipResponse, now: number): DialogUpdate[] {
    return this.response('uac', req, resp, now);
  }

  // ---------------------------------------------------------------- the peer sends (UAS)

  /**
   * A request from the peer that passed the checks (check.ts): remote CSeq recorded,
   * a re-INVITE opens the INVITE usage, a BYE moves it to `bye`.
   */
  requestReceived(req: SipRequest, now: number): DialogUpdate[] {
    const updates: DialogUpdate[] = [];
    this.updated = now;
    this.remoteSeq = req.cseq.seq;
    if (req.method === 'INVITE') this.startUsage(req, 'uas', updates);
    else if (req.method === 'BYE' && this.invite) this.setInvite('bye', updates);
    else if (this.invite) this.sessionRequest('remote', req, updates);
    return updates;
  }

  /**
   * An ACK from the peer: `confirmed` when it ACKs our 2xx (same CSeq as the INVITE),
   * `retransmission` when the INVITE is already confirmed or ended by a BYE, else `unmatched`.
   */
  ackReceived(
    ack: SipRequest,
    now: number,
  ): { result: 'confirmed' | 'retransmission' | 'unmatched'; updates: DialogUpdate[] } {
    const updates: DialogUpdate[] = [];
    const inv = this.invite;
    if (inv?.side !== 'uas') return { result: 'unmatched', updates };
    if (inv.status === 'accepted_uas' && ack.cseq.seq === inv.cseq) {
      this.updated = now;
      inv.ack = ack;
      this.setInvite('confirmed', updates);
      this.sessionRequest('remote', ack, updates);
      return { result: 'confirmed', updates };
    }
    if (inv.status === 'confirmed' || inv.status === 'bye') return { result: 'retransmission', updates };
    return { result: 'unmatched', updates };
  }

  /** A response we send to a request of the peer in this dialog (the creating one included). */
  uasResponse(req: SipRequest, resp: SipResponse, now: number): DialogUpdate[] {
    return this.response('uas', req, resp, now);
  }

  // ---------------------------------------------------------------- internals

  /** The response side of both roles (NkSIP `do_response` of nksip_call_uac/uas_dialog). */
  private response(side: 'uac' | 'uas', req: SipRequest, resp: SipResponse, now: number): DialogUpdate[] {
    const updates: DialogUpdate[] = [];
    const code = resp.status;
    if (code < 101 || this.stopped) return updates;
    this.updated = now;
    const method = req.method;
    // our request may predate the dialog (a SUBSCRIBE whose NOTIFY came first): never reuse its CSeq
    if (side === 'uac' && method !== 'ACK' && (this.localSeq === undefined || req.cseq.seq > this.localSeq)) {
      this.localSeq = req.cseq.seq;
    }
    if (DIALOG_TERMINATING.has(code)) return this.stop(code);
    if (this.invite) {
      const out: SessionUpdate[] = [];
      this.session.response(side === 'uac' ? 'remote' : 'local', req, resp, out);
      for (const update of out) updates.push({ type: 'session', update });
    }
    if ((code === 481 || (code === 408 && side === 'uac')) && !SUBSCRIPTION_METHODS.has(method)) {
      if (this.invite) this.stopInvite(code, updates);
      this.endIfUnused(updates);
      return updates;
    }
    const ok = code >= 200 && code < 300;
    switch (method) {
      case 'INVITE': {
        const inv = this.invite;
        const proceeding = side === 'uac' ? 'proceeding_uac' : 'proceeding_uas';
        if (!inv || inv.side !== side || inv.cseq !== req.cseq.seq) break;
        if (inv.status !== proceeding && inv.status !== 'init') break; // a late or repeated answer
        if (code < 300) {
          inv.response = resp;
          // the initial INVITE refreshes the target from every 1xx/2xx of an early dialog;
          // a re-INVITE only on its 2xx (RFC 6141 §3.3)
          const first = inv.answered === undefined;
          if (first) this.updateRouteSet(side, req, resp);
          if (first || ok) this.updateTargets(side, req, resp, updates);
          if (ok) {
            inv.answered ??= now;
            this.early = false;
            this.routeSetFrozen = true;
            this.setInvite(side === 'uac' ? 'accepted_uac' : 'accepted_uas', updates);
          } else {
            this.setInvite(proceeding, updates);
          }
        } else if (inv.answered === undefined) {
          this.stopInvite(stopReason(code), updates);
        } else {
          this.setInvite('confirmed', updates); // a rejected re-INVITE leaves the session as it was
        }
        break;
      }
      case 'BYE':
        if (code >= 200 && this.invite) {
          this.stopInvite(req.fromTag === this.callerTag ? 'caller_bye' : 'callee_bye', updates);
        }
        break;
      case 'UPDATE':
        if (ok) this.updateTargets(side, req, resp, updates);
        break;
      case 'SUBSCRIBE':
      case 'NOTIFY':
      case 'REFER':
        if (ok) {
          // a subscription usage starts with its accepted SUBSCRIBE or REFER (RFC 5057 §4.2)
          if (method !== 'NOTIFY') this.addSubscription(subscriptionOf(req));
          this.updateRouteSet(side, req, resp);
          if (method !== 'REFER') this.updateTargets(side, req, resp, updates);
          if (method === 'NOTIFY') this.routeSetFrozen = true;
          if (this.early) this.early = false;
        }
        break;
    }
    this.endIfUnused(updates);
    return updates;
  }

  /** Opens the INVITE usage (or records a subscription) for a request that creates one. */
  private startUsage(req: SipRequest, side: 'uac' | 'uas', updates: DialogUpdate[]): void {
    if (req.method === 'INVITE') {
      const answered = this.invite?.answered;
      this.invite = {
        status: this.invite?.status ?? 'init',
        side,
        cseq: req.cseq.seq,
        request: req,
        response: undefined,
        ack: undefined,
        answered,
      };
      this.setInvite(side === 'uac' ? 'proceeding_uac' : 'proceeding_uas', updates);
      this.sessionRequest(side === 'uac' ? 'local' : 'remote', req, updates);
    } else if (SUBSCRIPTION_METHODS.has(req.method)) {
      this.addSubscription(subscriptionOf(req));
    }
  }

  private setInvite(status: InviteStatus, updates: DialogUpdate[]): void {
    const inv = this.invite;
    if (!inv || inv.status === status) return;
    inv.status = status;
    updates.push({ type: 'invite_status', status });
  }

  private stopInvite(reason: StopReason, updates: DialogUpdate[]): void {
    if (!this.invite) return;
    this.invite = undefined;
    updates.push({ type: 'invite_status', status: { stop: reason } });
    const out: SessionUpdate[] = [];
    this.session.end(out);
    for (const update of out) updates.push({ type: 'session', update });
  }

  private sessionRequest(by: Party, req: SipRequest, updates: DialogUpdate[]): void {
    const out: SessionUpdate[] = [];
    this.session.request(by, req, out);
    for (const update of out) updates.push({ type: 'session', update });
  }

  private endIfUnused(updates: DialogUpdate[]): void {
    if (this.stopped || this.invite !== undefined || this.subscriptions.size > 0) return;
    this.stopped = true;
    updates.push({ type: 'stop' });
  }

  /**
   * Route set from Record-Route while it may still change (§12.1.1, §12.1.2, §13.2.2.4):
   * the response's reversed for the UAC, the request's in order for the UAS.
   */
  private updateRouteSet(side: 'uac' | 'uas', req: SipRequest, resp: SipResponse): void {
    if (this.routeSetFrozen) return;
    const rr = (side === 'uac' ? resp : req).headerValues('record-route').map(parseNameAddr);
    if (side === 'uac') rr.reverse();
    const first = rr[0];
    if (first && this.isLocal?.(first.uri)) rr.shift();
    this.routeSet = rr;
  }

  /** Remote target from the peer's single Contact, local target from ours. */
  private updateTargets(
    side: 'uac' | 'uas',
    req: SipRequest,
    resp: SipResponse,
    updates: DialogUpdate[],
  ): void {
    const ours = side === 'uac' ? req : resp;
    const theirs = side === 'uac' ? resp : req;
    const local = singleContact(ours);
    if (local) this.localTarget = local;
    const remote = singleContact(theirs);
    if (!remote) return;
    const next = this.secured(remote);
    const before = formatUri(this.remoteTarget);
    this.remoteTarget = next;
    if (before !== formatUri(next) && !/^sips?:invalid\.invalid$/.test(before)) {
      updates.push({ type: 'target_update' });
    }
  }

  /** In a secure dialog the remote target is used as sips: (NkSIP). */
  private secured(u: Uri): Uri {
    return this.secure && isSipUri(u) && u.scheme === 'sip' ? { ...u, scheme: 'sips' } : u;
  }
}
