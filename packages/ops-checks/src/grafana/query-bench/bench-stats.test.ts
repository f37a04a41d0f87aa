import { describe, expect, it } from 'vitest';
import { formatMs, percentile } from './bench-stats.js';
import { rawViewStatements, readsMeasurementRollup, readsRollupInRange } from './raw-equivalent.js';

describe('percentile (nearest rank)', () => {
  it('takes the value at ceil(p% of n)', () => {
    const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 95)).toBe(10);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
    expect(formatMs(12.345)).toBe('12.3');
    expect(formatMs(1234.5)).toBe('1235');
  });
});

describe('rawViewStatements', () => {
  const from = new Date('2026-01-01T00:00:00Z');
  const to = new Date('2026-01-02T00:00:00Z');

  it('defines every rollup as a GROUP BY over raw rows bounded by the range plus one bucket', () => {
    const stmts = rawViewStatements(from, to);
    expect(stmts.map((s) => /TEMP VIEW (\w+)/.exec(s)?.[1])).toEqual([
      'measurements_1m',
      'measurements_1h',
      'measurements_1d',
      'error_counts_1m',
    ]);
    expect(stmts[1]).toContain("time_bucket(INTERVAL '1 hour', time)");
    expect(stmts[1]).toContain("time >= '2025-12-31T23:00:00.000Z' AND time < '2026-01-02T01:00:00.000Z'");
    expect(stmts[3]).toContain("FROM public.sensor_logs WHERE level = 'ERROR'");
  });

  it('classifies dashboard queries', () => {
    expect(readsRollupInRange('SELECT 1 FROM measurements_1m WHERE $__timeFilter(bucket)')).toBe(true);
    expect(readsRollupInRange("SELECT 1 FROM measurements_1m WHERE bucket > now() - interval '1 hour'")).toBe(
      false,
    );
    expect(readsMeasurementRollup('SELECT 1 FROM error_counts_1m')).toBe(false);
    expect(readsMeasurementRollup('SELECT 1 FROM measurements_1d')).toBe(true);
  });
});
