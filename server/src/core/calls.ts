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

import { ChurnMap } from '../util/churn-map.js';

/** An owner and its own limit on concurrent calls, if it set one. */
export interface CallScope {
  owner: string;
  maxCalls?: number | undefined;
}

/** The built-in app's calls: no limit of their own. */
export const BUILT_IN_CALLS: CallScope = Object.freeze({ owner: '' });

export class CallCounter {
  /** References (waiting requests and dialogs) per Call-ID, per owner. */
  private readonly owners = new Map<string, ChurnMap<string, number>>();
  private total = 0;

  /** `max`: the server-wide limit (NkSIP `max_calls`). */
  constructor(private readonly max: number) {}

  /** Live calls in all, or of one owner. */
  count(owner?: string): number {
    return owner === undefined ? this.total : (this.owners.get(owner)?.size ?? 0);
  }

  /**
   * One more reference to a call. A call already live always takes it; a new one only within
   * both limits: false means `too_many_calls` and nothing was counted.
   */
  admit(scope: CallScope, callId: string): boolean {
    const calls = this.owners.get(scope.owner);
    const n = calls?.get(callId);
    if (n !== undefined) {
      calls?.set(callId, n + 1);
      return true;
    }
    if (this.total >= this.max) return false;
    if (scope.maxCalls !== undefined && (calls?.size ?? 0) >= scope.maxCalls) return false;
    this.add(scope.owner, calls, callId);
    return true;
  }

  /**
   * One more reference, beyond the limits: a dialog is created by a request already counted,
   * and its call must not end while it lives.
   */
  hold(owner: string, callId: string): void {
    const calls = this.owners.get(owner);
    const n = calls?.get(callId);
    if (n !== undefined) calls?.set(callId, n + 1);
    else this.add(owner, calls, callId);
  }

  /** One reference fewer; the last one ends the call. */
  release(owner: string, callId: string): void {
    const calls = this.owners.get(owner);
    const n = calls?.get(callId);
    if (calls === undefined || n === undefined) return;
    if (n > 1) {
      calls.set(callId, n - 1);
      return;
    }
    // an owner's map stays, empty: owners are the apps, few, and their calls come and go
    calls.delete(callId);
    this.total--;
  }

  private add(owner: string, calls: ChurnMap<string, number> | undefined, callId: string): void {
    if (calls) calls.set(callId, 1);
    else this.owners.set(owner, new ChurnMap<string, number>().set(callId, 1));
    this.total++;
  }
}
