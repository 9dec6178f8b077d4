// Offer/answer (RFC 3264) for the INVITE usage of a dialog, where RFC 3261 §13.2.1, RFC 3262
// and RFC 3311 let offers and answers travel (RFC 6337 §2 table): an offer in an INVITE is
// answered in its first reliable response (reliable 1xx or 2xx); an INVITE without one gets
// the offer in that response and the answer in the PRACK or the ACK; a PRACK or UPDATE may
// carry a new offer answered in its 2xx. Unreliable 1xx never complete an exchange (their
// SDP is a preview, repeated later). A rejected request withdraws the offer it carried.
// Each completed exchange is NkSIP's `sip_session_update` {start|update, Local, Remote};
// the end of the INVITE usage after a start is `stop`. Pure state, no I/O.
import type { SipRequest, SipResponse } from '../sip/message.js';
import {
  formatSdp,
  incrementVersion,
  isSdpType,
  parseSdp,
  type SdpDirection,
  setDirection,
  trySdp,
} from '../sip/sdp.js';

/** Who sent a message, from this dialog's point of view. */
export type Party = 'local' | 'remote';

export type SessionUpdate =
  | { type: 'start'; local: Buffer; remote: Buffer }
  | { type: 'update'; local: Buffer; remote: Buffer }
  | { type: 'stop' };

export interface Offer {
  by: Party;
  sdp: Buffer;
  /** The request whose exchange it belongs to (an offer in a response belongs to its request). */
  method: string;
  cseq: number;
}

/** Methods that carry offers or answers. */
const SESSION_METHODS = new Set(['INVITE', 'UPDATE', 'PRACK', 'ACK']);

/** The SDP body of a message, or undefined (no body, another type, or an SDP that does not parse). */
export function sdpOf(msg: SipRequest | SipResponse): Buffer | undefined {
  if (msg.body.length === 0) return undefined;
  let ct: string | undefined;
  try {
    ct = msg.contentType;
  } catch {
    return undefined;
  }
  if (!isSdpType(ct)) return undefined;
  return trySdp(msg.body) ? msg.body : undefined;
}

/**
 * Why an INVITE, UPDATE or PRACK cannot be taken: its body says it is SDP and is not
 * (RFC 3261 §21.4.26: 488). Undefined when it is fine.
 */
export function malformedSdp(req: SipRequest): string | undefined {
  if (!SESSION_METHODS.has(req.method) || req.body.length === 0) return undefined;
  let ct: string | undefined;
  try {
    ct = req.contentType;
  } catch {
    return undefined;
  }
  if (!isSdpType(ct)) return undefined;
  return trySdp(req.body) ? undefined : 'Malformed SDP';
}

/** How a refresh sets the media direction (NkSIP refresh/2: active, hold, inactive), or keeps it. */
export type RefreshMode = SdpDirection | 'keep';

export function isRefreshMode(v: string): v is RefreshMode {
  return ['sendrecv', 'sendonly', 'recvonly', 'inactive', 'keep'].includes(v);
}

/**
 * The body of a session refresh (NkSIP `refresh/2`): the last local SDP with its o= version
 * one higher and, unless `keep`, its direction set.
 */
export function refreshBody(local: Buffer, mode: RefreshMode): Buffer {
  let sdp = incrementVersion(parseSdp(local));
  if (mode !== 'keep') sdp = setDirection(sdp, mode);
  return Buffer.from(formatSdp(sdp));
}

/** A response to an INVITE sent reliably (RFC 3262: RSeq and Require: 100rel). */
export function isReliable(resp: SipResponse): boolean {
  return resp.status > 100 && resp.status < 200 && resp.header('rseq') !== undefined;
}

export class Session {
  /** The last completed exchange (NkSIP `invite_local_sdp` / `invite_remote_sdp`). */
  local: Buffer | undefined;
  remote: Buffer | undefined;
  /** An offer made and not yet answered. */
  offer: Offer | undefined;
  private started = false;

  /** Whether `by` has an offer out that is not answered yet. */
  offerPending(by?: Party): boolean {
    return this.offer !== undefined && (by === undefined || this.offer.by === by);
  }

  /** A request of the INVITE usage (INVITE, UPDATE, PRACK, ACK) sent by `by`. */
  request(by: Party, req: SipRequest, out: SessionUpdate[]): void {
    if (!SESSION_METHODS.has(req.method)) return;
    const sdp = sdpOf(req);
    if (!sdp) return;
    const o = this.offer;
    if (!o) {
      // an ACK only ever answers
      if (req.method !== 'ACK') this.offer = { by, sdp, method: req.method, cseq: req.cseq.seq };
      return;
    }
    if (o.by !== by && (req.method === 'PRACK' || req.method === 'ACK')) this.complete(by, sdp, out);
  }

  /** A response sent by `by` to `req` (sent by the other party). */
  response(by: Party, req: SipRequest, resp: SipResponse, out: SessionUpdate[]): void {
    const method = req.method;
    if (method !== 'INVITE' && method !== 'UPDATE' && method !== 'PRACK') return;
    const code = resp.status;
    const o = this.offer;
    const ours = o !== undefined && o.method === method && o.cseq === req.cseq.seq;
    if (code >= 300) {
      // RFC 3311 §5.2, RFC 3261 §14.1: the rejected request's offer is void
      if (ours) this.offer = undefined;
      return;
    }
    const counts = code >= 200 || (method === 'INVITE' && isReliable(resp));
    if (!counts) return;
    const sdp = sdpOf(resp);
    if (!sdp) return;
    if (o && o.by !== by && ours) {
      this.complete(by, sdp, out);
    } else if (!o && method === 'INVITE' && !sdpOf(req) && !this.answeredIn(req)) {
      // an INVITE without an offer: the first reliable response offers, PRACK/ACK answers
      this.offer = { by, sdp, method, cseq: req.cseq.seq };
    }
  }

  /** The INVITE usage ended: a session that started stops. */
  end(out: SessionUpdate[]): void {
    this.offer = undefined;
    if (this.started) out.push({ type: 'stop' });
    this.started = false;
    this.local = undefined;
    this.remote = undefined;
    this.exchanges.clear();
  }

  /** INVITE CSeqs whose exchange already completed (a 2xx repeating a reliable 1xx's offer is not a new one). */
  private readonly exchanges = new Set<number>();

  private answeredIn(req: SipRequest): boolean {
    return this.exchanges.has(req.cseq.seq);
  }

  private complete(answerBy: Party, answer: Buffer, out: SessionUpdate[]): void {
    const o = this.offer as Offer;
    this.offer = undefined;
    if (o.method === 'INVITE') this.exchanges.add(o.cseq);
    const local = answerBy === 'local' ? answer : o.sdp;
    const remote = answerBy === 'local' ? o.sdp : answer;
    this.local = local;
    this.remote = remote;
    out.push({ type: this.started ? 'update' : 'start', local, remote });
    this.started = true;
  }
}
