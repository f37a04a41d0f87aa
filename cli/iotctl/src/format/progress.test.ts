import type { CommandOutcome, OutcomeStatus } from '@sensor-streaming/control';
import { describe, expect, it } from 'vitest';
import { formatSummary } from './outcomes.js';
import { formatCounts, formatProgress, ProgressBar } from './progress.js';

const plain = { color: false };
const o = (status: OutcomeStatus): CommandOutcome => ({
  serial: 's',
  commandId: 'c',
  type: 'awake',
  status,
  reason: '',
  rttMs: status === 'APPLIED' ? 10 : null,
});

describe('progress of a bulk command', () => {
  it('counts by outcome in a fixed order whatever order they came in', () => {
    const counts = new Map<string, number>([
      ['TIMED_OUT', 2],
      ['UNROUTABLE', 1],
      ['APPLIED', 9],
      ['EXPIRED', 3],
    ]);
    expect(formatCounts(counts, plain)).toBe('9 APPLIED, 3 EXPIRED, 2 TIMED_OUT, 1 UNROUTABLE');
  });

  it('draws a bar with done/total, percent, counts and elapsed time, fitted to the width', () => {
    const line = formatProgress(4210, 10_000, new Map([['APPLIED', 4210]]), 3210, 100, plain);
    expect(line).toMatch(/^\[#+-+\] {3}4210\/10000 {3}42% {2}4210 APPLIED {2}3\.2 s$/);
    expect(line.length).toBeLessThanOrEqual(100);
    expect(formatProgress(10, 10, new Map([['APPLIED', 10]]), 0, 80, plain)).toMatch(/^\[#+\]/);
  });

  it('redraws in place at most once per interval, and clear() erases it', () => {
    const writes: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ write: (t) => writes.push(t), columns: 80 }, 3, plain, () => now, 50);
    bar.tick(true);
    bar.count(o('APPLIED'));
    bar.tick(); // within the interval: nothing
    now = 60;
    bar.count(o('TIMED_OUT'));
    bar.tick();
    bar.clear();
    bar.clear(); // already clear: nothing
    expect(writes).toHaveLength(3);
    expect(writes[0]?.startsWith('\r\u001b[2K[')).toBe(true);
    expect(writes[0]).toMatch(/\[-+\] {2}0\/3 {4}0%/);
    expect(writes[1]).toContain('2/3   66%  1 APPLIED, 1 TIMED_OUT  0.1 s');
    expect(writes[2]).toBe('\r\u001b[2K');
  });

  it('the summary lists the counts in the same order and the elapsed time when given', () => {
    const s = formatSummary('awake', [o('TIMED_OUT'), o('APPLIED'), o('APPLIED')], 12_345);
    expect(s).toBe(
      'awake: 3 targets, 2 APPLIED, 1 TIMED_OUT; round trip p50 10.0 ms, p99 10.0 ms, max 10.0 ms; 12.3 s\n',
    );
  });
});
