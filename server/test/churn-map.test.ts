import { describe, expect, it } from 'vitest';
import { ChurnMap } from '../src/util/churn-map.js';

describe('ChurnMap', () => {
  it('behaves as a Map: insertion order, overwrite, delete, clear', () => {
    const m = new ChurnMap<string, number>();
    m.set('a', 1).set('b', 2).set('c', 3);
    m.set('a', 10); // an overwrite keeps the first position
    expect(m.delete('b')).toBe(true);
    expect(m.delete('b')).toBe(false);
    expect(m.size).toBe(2);
    expect(m.get('a')).toBe(10);
    expect(m.has('b')).toBe(false);
    expect([...m]).toEqual([
      ['a', 10],
      ['c', 3],
    ]);
    expect([...m.keys()]).toEqual(['a', 'c']);
    expect([...m.values()]).toEqual([10, 3]);
    const seen: string[] = [];
    m.forEach((v, k, map) => {
      seen.push(`${k}=${v}/${map.size}`);
    });
    expect(seen).toEqual(['a=10/2', 'c=3/2']);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.get('a')).toBeUndefined();
  });

  it('moves a small, churning map to a fresh table now and then, losing nothing', () => {
    const m = new ChurnMap<number, string>();
    const table = () => (m as unknown as { map: Map<number, string> }).map;
    const tables = new Set([table()]);
    // a window of 50 live entries over 10,000 insertions, as pending callbacks are
    for (let i = 0; i < 10_000; i++) {
      m.set(i, `v${i}`);
      tables.add(table());
      if (i >= 50) m.delete(i - 50);
    }
    expect(m.renewals).toBeGreaterThanOrEqual(9);
    // each renewal is a Map of its own (a fresh table in the young generation)
    expect(tables.size).toBe(m.renewals + 1);
    expect(m.size).toBe(50);
    expect([...m.keys()]).toEqual(Array.from({ length: 50 }, (_, k) => 9_950 + k));
    expect(m.get(9_999)).toBe('v9999');
    expect(m.get(9_949)).toBeUndefined();
  });

  it('overwriting an entry is not an insertion', () => {
    const m = new ChurnMap<string, number>();
    for (let i = 0; i < 5_000; i++) m.set('same', i);
    expect(m.renewals).toBe(0);
    expect(m.get('same')).toBe(4_999);
  });

  it('leaves a large map alone: copying it would cost more than it saves', () => {
    const m = new ChurnMap<number, number>();
    // 5,000 live entries (completed transactions' records) over 60,000 insertions
    for (let i = 0; i < 60_000; i++) {
      m.set(i, i);
      if (i >= 5_000) m.delete(i - 5_000);
    }
    expect(m.renewals).toBe(0);
    expect(m.size).toBe(5_000);
    expect(m.get(55_000)).toBe(55_000);
  });
});
