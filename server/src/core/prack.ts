// Reliable provisional responses, UAS side (RFC 3262 §3, NkSIP nksip_100rel): a 1xx to an
// INVITE whose sender supports or requires 100rel is sent with `Require: 100rel` and an RSeq
// one above the last, and retransmitted (T1, doubling) until a PRACK with the matching RAck
// arrives; after 64*T1 without one the INVITE is rejected with a 5xx. One reliable 1xx at a
// time per INVITE: another while one is unacknowledged is refused (NkSIP `pending_prack`).
// A 2xx that would overtake an unacknowledged 1xx carrying SDP waits for its PRACK (§3).
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Clock, TimerHandle } from '../transaction/clock.js';
import type { ServerTxn } from '../transaction/types.js';
import { ChurnMap } from '../util/churn-map.js';
import type { Reply } from './reply.js';
import { sdpOf } from './session.js';

/** A reliable 1xx asked for while the previous one waits for its PRACK. */
export class PendingPrack extends Error {
  override name = 'PendingPrack';
  readonly kind = 'pending_prack';
}

function has100rel(req: SipRequest, header: string): boolean {
  return req.headerValues(header).some((t) => t.trim().toLowerCase() === '100rel');
}

/** Whether the request's sender takes reliable provisionals (Supported or Require: 100rel). */
export function supports100rel(req: SipRequest): boolean {
  return has100rel(req, 'supported') || has100rel(req, 'require');
}

/**
 * Whether a 101–199 to `req` goes reliably: asked for (rel_*) and supported, or required by
 * the caller, in which case every one does (RFC 3262 §3, NkSIP).
 */
export function sendReliably(req: SipRequest, asked: boolean): boolean {
  return has100rel(req, 'require') || (asked && has100rel(req, 'supported'));
}

/** RAck (RFC 3262 §7.2): response number, CSeq number and method. */
export function parseRAck(v: string | undefined): { rseq: number; cseq: number; method: string } | undefined {
  const m = /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z]+)\s*$/.exec(v ?? '');
  if (!m) return undefined;
  return { rseq: Number(m[1]), cseq: Number(m[2]), method: (m[3] as string).toUpperCase() };
}

interface Unacked {
  rseq: number;
  resp: SipResponse;
  timer: TimerHandle;
  interval: number;
  elapsed: number;
  hasSdp: boolean;
}

interface RelState {
  txn: ServerTxn;
  key: string;
  nextRseq: number;
  unacked: Unacked | undefined;
  /** A 2xx held until the 1xx with SDP is PRACKed. */
  deferred: Reply | undefined;
}

export interface ReliableOptions {
  clock: Clock;
  t1: () => number;
  /** Sends `resp` again on its transaction (a retransmission). */
  resend: (txn: ServerTxn, resp: SipResponse) => void;
  /** No PRACK within 64*T1: the INVITE gets this final answer. */
  giveUp: (txn: ServerTxn, r: Reply) => void;
  /** The deferred 2xx may go now. */
  release: (txn: ServerTxn, r: Reply) => void;
}

function keyOf(callId: string, localTag: string, cseq: number): string {
  return `${callId}\n${localTag}\n${cseq}`;
}

export class ReliableProvisionals {
  private readonly byTxn = new WeakMap<ServerTxn, RelState>();
  private readonly byKey = new ChurnMap<string, RelState>();

  constructor(private readonly o: ReliableOptions) {}

  /** INVITEs with reliable provisional state (for leak checks). */
  get size(): number {
    return this.byKey.size;
  }

  /**
   * The RSeq for the next reliable 1xx on `txn`; throws PendingPrack while the previous one
   * is unacknowledged. `localTag` is the To tag of the responses.
   */
  nextRseq(txn: ServerTxn, localTag: string): number {
    let st = this.byTxn.get(txn);
    if (st?.unacked) throw new PendingPrack('a reliable provisional response is waiting for its PRACK');
    if (!st) {
      const req = txn.request;
      // RFC 3262 §3: the first RSeq is random, below 2^31 with room to count up
      st = {
        txn,
        key: keyOf(req.callId, localTag, req.cseq.seq),
        nextRseq: 1 + Math.floor(Math.random() * 2 ** 30),
        unacked: undefined,
        deferred: undefined,
      };
      this.byTxn.set(txn, st);
      this.byKey.set(st.key, st);
    }
    return st.nextRseq;
  }

  /** The reliable 1xx with `rseq` went out: retransmit it until PRACKed or given up. */
  sent(txn: ServerTxn, resp: SipResponse, rseq: number): void {
    const st = this.byTxn.get(txn);
    if (!st) return;
    st.nextRseq = rseq + 1;
    const t1 = this.o.t1();
    const u: Unacked = {
      rseq,
      resp,
      timer: undefined as unknown as TimerHandle,
      interval: t1,
      elapsed: 0,
      hasSdp: sdpOf(resp) !== undefined,
    };
    const arm = () => {
      u.timer = this.o.clock.setTimer(u.interval, () => {
        if (st.unacked !== u) return;
        u.elapsed += u.interval;
        if (u.elapsed >= 64 * t1 || txn.state !== 'proceeding') {
          st.unacked = undefined;
          this.drop(st);
          // §3: the INVITE is rejected with a 5xx (the deferred 2xx, if any, never goes)
          if (txn.state === 'proceeding') this.o.giveUp(txn, { status: 504, reason: 'No PRACK Received' });
          return;
        }
        this.o.resend(txn, u.resp);
        u.interval *= 2;
        arm();
      });
    };
    st.unacked = u;
    arm();
  }

  /**
   * A final response is about to go on `txn`: true when it must wait (a 2xx overtaking an
   * unacknowledged 1xx with SDP); otherwise the retransmissions stop and the state goes.
   */
  final(txn: ServerTxn, r: Reply): boolean {
    const st = this.byTxn.get(txn);
    if (!st) return false;
    if (r.status < 300 && st.unacked?.hasSdp) {
      st.deferred = r;
      return true;
    }
    this.drop(st);
    return false;
  }

  /**
   * A PRACK in the dialog with local tag `localTag`: true when its RAck matches the
   * unacknowledged reliable 1xx (its retransmissions stop; a deferred 2xx is released),
   * false when it matches nothing (RFC 3262 §3: 481).
   */
  prack(req: SipRequest, localTag: string): boolean {
    const rack = parseRAck(req.header('rack'));
    if (rack?.method !== 'INVITE') return false;
    const st = this.byKey.get(keyOf(req.callId, localTag, rack.cseq));
    const u = st?.unacked;
    if (!st || !u || u.rseq !== rack.rseq) return false;
    this.o.clock.clearTimer(u.timer);
    st.unacked = undefined;
    const deferred = st.deferred;
    if (deferred) {
      st.deferred = undefined;
      this.drop(st);
      this.o.release(st.txn, deferred);
    }
    return true;
  }

  /** Shutdown: every retransmission stops. */
  close(): void {
    for (const st of this.byKey.values()) if (st.unacked) this.o.clock.clearTimer(st.unacked.timer);
    this.byKey.clear();
  }

  private drop(st: RelState): void {
    if (st.unacked) this.o.clock.clearTimer(st.unacked.timer);
    st.unacked = undefined;
    this.byKey.delete(st.key);
    this.byTxn.delete(st.txn);
  }
}
