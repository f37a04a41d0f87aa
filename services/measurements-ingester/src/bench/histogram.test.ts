import { describe, expect, it } from 'vitest';
import { diffBuckets, histogramQuantile, median, parseCounter, parseHistogram } from './histogram.js';

const TEXT = `# HELP sensor_streaming_e2e_lag_seconds lag
# TYPE sensor_streaming_e2e_lag_seconds histogram
sensor_streaming_e2e_lag_seconds_bucket{le="0.1",kind="data",service="mi"} 50
sensor_streaming_e2e_lag_seconds_bucket{le="0.2",kind="data",service="mi"} 90
sensor_streaming_e2e_lag_seconds_bucket{le="0.5",kind="data",service="mi"} 100
sensor_streaming_e2e_lag_seconds_bucket{le="+Inf",kind="data",service="mi"} 100
sensor_streaming_e2e_lag_seconds_bucket{le="0.1",kind="logs",service="mi"} 7
sensor_streaming_e2e_lag_seconds_sum{kind="data",service="mi"} 12
sensor_streaming_samples_written_total{channel="vibration",service="mi"} 1000
sensor_streaming_samples_written_total{channel="temperature",service="mi"} 500
sensor_streaming_samples_written_total_extra 3
`;

describe('bench histogram helpers', () => {
  it('parses the buckets of one label set', () => {
    const b = parseHistogram(TEXT, 'sensor_streaming_e2e_lag_seconds', { kind: 'data' });
    expect([...b]).toEqual([
      [0.1, 50],
      [0.2, 90],
      [0.5, 100],
      [Number.POSITIVE_INFINITY, 100],
    ]);
  });

  it('interpolates quantiles inside the bucket that holds them', () => {
    const b = parseHistogram(TEXT, 'sensor_streaming_e2e_lag_seconds', { kind: 'data' });
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.7, b)).toBeCloseTo(0.15);
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.2 + 0.3 * 0.9);
    expect(histogramQuantile(0.99, new Map())).toBeUndefined();
  });

  it('answers the largest finite bound for a quantile in the +Inf bucket', () => {
    const b = new Map([
      [1, 1],
      [Number.POSITIVE_INFINITY, 10],
    ]);
    expect(histogramQuantile(0.99, b)).toBe(1);
  });

  it('diffs two scrapes', () => {
    const before = new Map([
      [0.1, 10],
      [Number.POSITIVE_INFINITY, 20],
    ]);
    const after = new Map([
      [0.1, 15],
      [Number.POSITIVE_INFINITY, 40],
    ]);
    expect([...diffBuckets(after, before)]).toEqual([
      [0.1, 5],
      [Number.POSITIVE_INFINITY, 20],
    ]);
  });

  it('sums a counter over label sets, ignoring longer names', () => {
    expect(parseCounter(TEXT, 'sensor_streaming_samples_written_total')).toBe(1500);
    expect(parseCounter(TEXT, 'sensor_streaming_samples_written_total', { channel: 'temperature' })).toBe(
      500,
    );
  });

  it('takes the median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
