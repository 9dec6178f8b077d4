// Time for the transaction layer: real timers in the server, a fake one in tests so every
// timer of RFC 3261 §17 can be fired without waiting.

export type TimerHandle = { readonly id: number };

export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(h: TimerHandle): void;
}

// The handle carries the Node timeout itself so clearing needs no lookup table.
class RealTimer implements TimerHandle {
  constructor(
    readonly id: number,
    readonly timeout: NodeJS.Timeout,
  ) {}
}

let realSeq = 0;

/**
 * Wall-clock timers. They are unref'd: pending retransmissions must never keep a process
 * alive that has otherwise finished (tests, shutdown).
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return new RealTimer(++realSeq, t);
  },
  clearTimer(h) {
    if (h instanceof RealTimer) clearTimeout(h.timeout);
  },
};

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when told. Timers due at the same instant fire in the order they
 * were set, as Node's do; a timer set by a firing timer fires in the same `advance` if due.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clearTimer(h: TimerHandle): void {
    this.timers.delete(h.id);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.earliest();
      if (!next || next.at > end) break;
      this.timers.delete(next.id);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }

  /** Moves to the next due timer and fires it (and any due at the same instant); false if none. */
  advanceToNext(): boolean {
    const next = this.earliest();
    if (!next) return false;
    this.advance(next.at - this.t);
    return true;
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer falls due, or undefined when none is pending. */
  nextDue(): number | undefined {
    return this.earliest()?.at;
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const x of this.timers.values()) {
      if (!best || x.at < best.at || (x.at === best.at && x.id < best.id)) best = x;
    }
    return best;
  }
}
