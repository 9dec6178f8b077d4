// Long-lived strings must not keep the message text they were sliced from.
import { describe, expect, it } from 'vitest';
import { detached, flat } from '../src/sip/strings.js';
import { bigText, heldBy } from './support/heap.js';

const TEXT = 4 * 1024 * 1024;

/** 64 strings made by `keep` from 40-character slices of a 4 MiB text, which is dropped. */
function keepSlices(keep: (slice: string) => string): string[] {
  const parent = bigText();
  return Array.from({ length: 64 }, (_, i) => keep(parent.slice(i * 1024, i * 1024 + 40)));
}

describe('long-lived strings', () => {
  it('detached: the same text, without the text it was cut from', () => {
    // the control shows the measure works: plain slices keep the whole parent
    expect(heldBy(() => keepSlices((s) => s)).held).toBeGreaterThan(TEXT / 2);
    const { held, kept } = heldBy(() => keepSlices(detached));
    expect(held).toBeLessThan(TEXT / 8);
    expect(kept[1]).toBe('1'.padEnd(40, 'x'));
  });

  it('flat: a key built from slices keeps none of them', () => {
    const { held, kept } = heldBy(() => keepSlices((s) => flat(`${s}\n${s.length}`)));
    expect(held).toBeLessThan(TEXT / 8);
    expect(kept[2]).toBe(`${'2'.padEnd(40, 'x')}\n40`);
  });
});
