import { describe, expect, it } from 'vitest';
import { CallCounter } from '../src/core/calls.js';

describe('CallCounter (NkSIP max_calls / sip_max_calls)', () => {
  it('admits new calls up to the server limit; a live call always takes more references', () => {
    const c = new CallCounter(2);
    expect(c.admit({ owner: 'a' }, 'x')).toBe(true);
    expect(c.admit({ owner: 'b' }, 'y')).toBe(true);
    expect(c.admit({ owner: 'a' }, 'z')).toBe(false);
    expect(c.admit({ owner: 'a' }, 'x')).toBe(true); // same call
    expect(c.count()).toBe(2);
    c.release('a', 'x');
    expect(c.count()).toBe(2); // one reference left
    c.release('a', 'x');
    expect([c.count(), c.count('a')]).toEqual([1, 0]);
    expect(c.admit({ owner: 'a' }, 'z')).toBe(true);
  });

  it("an owner's own limit counts only its calls; the same Call-ID under two owners is two calls", () => {
    const c = new CallCounter(100);
    expect(c.admit({ owner: 'a', maxCalls: 1 }, 'x')).toBe(true);
    expect(c.admit({ owner: 'a', maxCalls: 1 }, 'y')).toBe(false);
    expect(c.admit({ owner: 'b', maxCalls: 1 }, 'x')).toBe(true);
    expect([c.count(), c.count('a'), c.count('b')]).toEqual([2, 1, 1]);
    expect(c.admit({ owner: 'a', maxCalls: 0 }, 'x')).toBe(true); // live: not a new call
  });

  it('hold counts beyond the limits (a dialog of a call already admitted) and is released like any reference', () => {
    const c = new CallCounter(0);
    expect(c.admit({ owner: '' }, 'x')).toBe(false);
    c.hold('', 'x');
    expect(c.count()).toBe(1);
    expect(c.admit({ owner: '' }, 'x')).toBe(true);
    c.release('', 'x');
    c.release('', 'x');
    c.release('', 'x'); // one too many: ignored
    expect([c.count(), c.count('')]).toEqual([0, 0]);
  });
});
