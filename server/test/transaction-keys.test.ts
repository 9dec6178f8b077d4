// Long-lived strings must not keep the message text they were sliced from.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { detached, flat } from '../src/transaction/keys.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function keepSlices(keep: (slice: string) => string): string[] {
  // built at run time (a literal would live in the code anyway), and out of scope on return
  const parent = Array.from({ length: 4096 }, (_, i) => `${i}`.padEnd(1024, 'x')).join('');
  return Array.from({ length: 64 }, (_, i) => keep(parent.slice(i * 1024, i * 1024 + 40)));
}

/** Heap bytes still held, after a full GC, by what `keep` returns from slices of a 4 MiB text. */
function retainedBy(keep: (slice: string) => string): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = keepSlices(keep);
  gc();
  const held = process.memoryUsage().heapUsed - before;
  expect(kept).toHaveLength(64); // still reachable when measured
  return held;
}

describe('transaction keys', () => {
  it('detached: the same text, without the text it was cut from', () => {
    const parentSize = 4 * 1024 * 1024;
    // the control shows the measure works: plain slices keep the whole parent
    expect(retainedBy((s) => s)).toBeGreaterThan(parentSize / 2);
    expect(retainedBy(detached)).toBeLessThan(parentSize / 8);
    const text = 'Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n'.repeat(3);
    expect(detached(text.slice(9, 39))).toBe('a84b4c76e66710@pc33.atlanta.com'.slice(0, 30));
  });

  it('flat: a key built from slices keeps none of them', () => {
    const parentSize = 4 * 1024 * 1024;
    expect(retainedBy((s) => flat(`${s}\n${s.length}`))).toBeLessThan(parentSize / 8);
  });
});
