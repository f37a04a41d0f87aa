import { describe, expect, it } from 'vitest';
import { LruMap } from './lru-map.js';

describe('LruMap', () => {
  it('evicts the least recently used entry past its bound and reports it', () => {
    const evicted: string[] = [];
    const m = new LruMap<string, number>({ maxEntries: 2, onEvict: (k) => evicted.push(k) });
    m.set('a', 1).set('b', 2);
    m.get('a'); // a is now the most recent
    m.set('c', 3);
    expect([...m.keys()]).toEqual(['a', 'c']);
    expect(evicted).toEqual(['b']);
  });

  it('stays bounded under a flood of distinct keys', () => {
    const m = new LruMap<string, number>({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) m.set(`s${i}`, i);
    expect(m.size).toBe(100);
    expect(m.has('s9999')).toBe(true);
    expect(m.has('s0')).toBe(false);
  });

  it('skips pinned entries and evicts the next one', () => {
    const m = new LruMap<string, number>({ maxEntries: 2, canEvict: (k) => k !== 'pinned' });
    m.set('pinned', 0).set('b', 1).set('c', 2);
    expect([...m.keys()]).toEqual(['pinned', 'c']);
  });

  it('peek does not refresh recency', () => {
    const m = new LruMap<string, number>({ maxEntries: 2 });
    m.set('a', 1).set('b', 2);
    m.peek('a');
    m.set('c', 3);
    expect(m.has('a')).toBe(false);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new LruMap({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});
