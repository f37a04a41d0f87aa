import { describe, expect, it } from 'vitest';
import { WindowAggregator, type WindowResult } from './window-aggregator.js';

const S = 1_000_000; // 1 s in µs

function drain(w: WindowAggregator): WindowResult[] {
  const out: WindowResult[] = [];
  w.advance(out);
  return out;
}

describe('WindowAggregator, tumbling', () => {
  it('emits the 1-minute average only once an event at or after the window end arrives', () => {
    const w = new WindowAggregator({ sizeUs: 60 * S, slideUs: 60 * S, allowedLatenessUs: 0 }, 'avg');
    // 0 s..50 s: values 1..6
    for (let i = 0; i < 6; i++) w.add(i * 10 * S, i + 1);
    expect(drain(w)).toEqual([]);
    w.add(59_999_999, 7); // still inside [0, 60 s)
    expect(drain(w)).toEqual([]);
    w.add(60 * S, 100); // first event of the next window closes [0, 60 s)
    // (1+2+3+4+5+6+7)/7 = 4; the 100 at exactly 60 s belongs to [60 s, 120 s)
    expect(drain(w)).toEqual([{ startUs: 0, endUs: 60 * S, count: 7, value: 4 }]);
  });

  it('holds the window open for the allowed lateness and reports later events as late', () => {
    const w = new WindowAggregator({ sizeUs: 60 * S, slideUs: 60 * S, allowedLatenessUs: 3 * S }, 'max');
    expect(w.add(10 * S, 5)).toBe(true);
    expect(w.add(62 * S, 1)).toBe(true); // watermark 59 s: [0, 60 s) still open
    expect(drain(w)).toEqual([]);
    expect(w.add(59 * S, 9)).toBe(true); // 3 s late but within the allowed lateness: counted
    expect(w.add(63 * S, 1)).toBe(true); // watermark 60 s: closes [0, 60 s)
    expect(drain(w)).toEqual([{ startUs: 0, endUs: 60 * S, count: 2, value: 9 }]);
    expect(w.add(59_500_000, 50)).toBe(false); // its window is gone: late, not counted
    expect(w.add(200 * S, 0)).toBe(true);
    expect(drain(w)).toEqual([{ startUs: 60 * S, endUs: 120 * S, count: 2, value: 1 }]);
  });

  it('computes rms and skips empty windows across a gap', () => {
    const w = new WindowAggregator({ sizeUs: S, slideUs: S, allowedLatenessUs: 0 }, 'rms');
    w.add(0, 3);
    w.add(500_000, 4);
    w.add(10 * S, 1); // 9 empty windows in between
    w.add(11 * S, 1);
    // rms(3, 4) = sqrt((9 + 16) / 2) = sqrt(12.5)
    expect(drain(w)).toEqual([
      { startUs: 0, endUs: S, count: 2, value: Math.sqrt(12.5) },
      { startUs: 10 * S, endUs: 11 * S, count: 1, value: 1 },
    ]);
  });
});

describe('WindowAggregator, sliding', () => {
  it('emits a 30 s window every 10 s over the last three panes', () => {
    const w = new WindowAggregator({ sizeUs: 30 * S, slideUs: 10 * S, allowedLatenessUs: 0 }, 'avg');
    // one sample per 5 s, value = seconds / 5: 0 s->0, 5 s->1, ... 45 s->9
    for (let t = 0; t < 50; t += 5) w.add(t * S, t / 5);
    const out = drain(w);
    // the watermark is 45 s, so windows ending at 10, 20, 30, 40 s are closed
    expect(out.map((r) => [r.startUs / S, r.endUs / S, r.count, r.value])).toEqual([
      [-20, 10, 2, 0.5], // 0, 1
      [-10, 20, 4, 1.5], // 0..3
      [0, 30, 6, 2.5], // 0..5
      [10, 40, 6, 4.5], // 2..7
    ]);
    expect(w.add(29 * S, 1000)).toBe(false); // before the end of the last emitted window (40 s)
  });
});
