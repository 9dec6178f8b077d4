// Live calls and their limits (NkSIP `max_calls`, global, and `sip_max_calls`, per service).
// NkSIP runs one process per Call-ID and service and refuses a new one beyond either limit;
// here there is no such process, so a call is counted while something of it is live: a
// request received or sent that waits for its final response, or a dialog. Transactions that
// only absorb retransmissions after their final response (Timers J, K, L, M) do not count: a
// limit meant for concurrent calls must not fill with the 32 s tails of finished ones.
//
// A call belongs to its owner, the app whose listener it came through or that sent it ('' for
// the built-in app); the same Call-ID under two owners (a request spiralling through two apps)
// is two calls, as it is two call processes in NkSIP.

/** An owner and its own limit on concurrent calls, if it set one. */
export interface CallScope {
  owner: string;
  maxCalls?: number | undefined;
}

/** The built-in app's calls: no limit of their own. */
export const BUILT_IN_CALLS: CallScope = Object.freeze({ owner: '' });

const SEP = '\n';

export class CallCounter {
  /** References (waiting requests and dialogs) per owner and Call-ID. */
  private readonly refs = new Map<string, number>();
  private readonly perOwner = new Map<string, number>();

  /** `max`: the server-wide limit (NkSIP `max_calls`). */
  constructor(private max: number) {}

  setMax(max: number): void {
    this.max = max;
  }

  /** Live calls in all, or of one owner. */
  count(owner?: string): number {
    return owner === undefined ? this.refs.size : (this.perOwner.get(owner) ?? 0);
  }

  /**
   * One more reference to a call. A call already live always takes it; a new one only within
   * both limits: false means `too_many_calls` and nothing was counted.
   */
  admit(scope: CallScope, callId: string): boolean {
    const key = scope.owner + SEP + callId;
    const n = this.refs.get(key);
    if (n !== undefined) {
      this.refs.set(key, n + 1);
      return true;
    }
    if (this.refs.size >= this.max) return false;
    const own = this.perOwner.get(scope.owner) ?? 0;
    if (scope.maxCalls !== undefined && own >= scope.maxCalls) return false;
    this.refs.set(key, 1);
    this.perOwner.set(scope.owner, own + 1);
    return true;
  }

  /**
   * One more reference, beyond the limits: a dialog is created by a request already counted,
   * and its call must not end while it lives.
   */
  hold(owner: string, callId: string): void {
    const key = owner + SEP + callId;
    const n = this.refs.get(key);
    if (n !== undefined) {
      this.refs.set(key, n + 1);
      return;
    }
    this.refs.set(key, 1);
    this.perOwner.set(owner, (this.perOwner.get(owner) ?? 0) + 1);
  }

  /** One reference fewer; the last one ends the call. */
  release(owner: string, callId: string): void {
    const key = owner + SEP + callId;
    const n = this.refs.get(key);
    if (n === undefined) return;
    if (n > 1) {
      this.refs.set(key, n - 1);
      return;
    }
    this.refs.delete(key);
    const own = (this.perOwner.get(owner) ?? 1) - 1;
    if (own > 0) this.perOwner.set(owner, own);
    else this.perOwner.delete(owner);
  }
}
