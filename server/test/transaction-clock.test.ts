import { describe, expect, it } from 'vitest';
import { FakeClock, realClock } from '../src/transaction/clock.js';
import { DEFAULT_TIMERS, timerConfig, timerD, timerJ, timerT4 } from '../src/transaction/timers.js';

describe('FakeClock', () => {
  it('fires due timers in time order, ties in the order set, and moves now()', () => {
    const c = new FakeClock(1000);
    const fired: string[] = [];
    c.setTimer(300, () => fired.push(`b@${c.now()}`));
    c.setTimer(100, () => fired.push(`a@${c.now()}`));
    c.setTimer(300, () => fired.push(`c@${c.now()}`));
    c.advance(99);
    expect(fired).toEqual([]);
    expect(c.now()).toBe(1099);
    c.advance(500);
    expect(fired).toEqual(['a@1100', 'b@1300', 'c@1300']);
    expect(c.now()).toBe(1599);
    expect(c.pending).toBe(0);
  });

  it('fires timers set by a firing timer within the same advance when due', () => {
    const c = new FakeClock();
    const fired: number[] = [];
    c.setTimer(10, () => {
      fired.push(c.now());
      c.setTimer(0, () => fired.push(c.now()));
      c.setTimer(20, () => fired.push(c.now()));
    });
    c.advance(25);
    expect(fired).toEqual([10, 10]);
    c.advance(5);
    expect(fired).toEqual([10, 10, 30]);
  });

  it('clears timers and steps to the next due one', () => {
    const c = new FakeClock();
    let n = 0;
    const h = c.setTimer(50, () => n++);
    c.setTimer(70, () => n++);
    c.clearTimer(h);
    expect(c.nextDue()).toBe(70);
    expect(c.advanceToNext()).toBe(true);
    expect(n).toBe(1);
    expect(c.now()).toBe(70);
    expect(c.advanceToNext()).toBe(false);
  });
});

describe('realClock', () => {
  it('fires after the delay and can be cleared', async () => {
    const t0 = realClock.now();
    let cleared = false;
    const h = realClock.setTimer(5, () => {
      cleared = true;
    });
    realClock.clearTimer(h);
    const at = await new Promise<number>((resolve) => realClock.setTimer(10, () => resolve(realClock.now())));
    expect(at - t0).toBeGreaterThanOrEqual(9);
    expect(cleared).toBe(false);
  });
});

describe('timer values (RFC 3261 Table 4)', () => {
  it('defaults T1/T2/T4 to 500/4000/5000 ms and the lifetime to 900 s', () => {
    expect(DEFAULT_TIMERS).toEqual({ t1: 500, t2: 4000, t4: 5000, transTimeout: 900_000 });
  });

  it('zeroes D, I, J and K on reliable transports', () => {
    const c = timerConfig({});
    expect(timerD(c, false)).toBe(32_000);
    expect(timerD(c, true)).toBe(0);
    expect(timerT4(c, false)).toBe(5000);
    expect(timerT4(c, true)).toBe(0);
    expect(timerJ(c, false)).toBe(32_000);
    expect(timerJ(c, true)).toBe(0);
  });

  it('keeps Timer D at least 32 s and at least 64*T1', () => {
    expect(timerD(timerConfig({ t1: 100 }), false)).toBe(32_000);
    expect(timerD(timerConfig({ t1: 1000 }), false)).toBe(64_000);
  });

  it('rejects non-positive timers', () => {
    expect(() => timerConfig({ t1: 0 })).toThrow(RangeError);
    expect(() => timerConfig({ t2: Number.NaN })).toThrow(RangeError);
  });
});
