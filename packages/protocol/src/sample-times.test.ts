import { describe, expect, it } from 'vitest';
import type { MeasurementBatch } from './domain-types.js';
import { sampleTimesUs } from './sample-times.js';

const base: MeasurementBatch = {
  serial: 's',
  channel: 'c',
  unit: '',
  sequence: 1,
  firstSampleTimeUs: 1_767_225_600_000_000,
  samplePeriodNs: 1_000_000,
  values: [1, 2, 3],
};

describe('sampleTimesUs', () => {
  it('spaces regular samples by the period', () => {
    const t0 = base.firstSampleTimeUs;
    expect(sampleTimesUs(base)).toEqual([t0, t0 + 1000, t0 + 2000]);
  });

  it('rounds sub-microsecond periods to the nearest µs without drift', () => {
    // 25.6 kHz: 39062.5 ns
    const b = { ...base, samplePeriodNs: 39_063, values: new Array<number>(100_000).fill(0) };
    const times = sampleTimesUs(b);
    expect(times[1]).toBe(b.firstSampleTimeUs + 39);
    expect(times[2]).toBe(b.firstSampleTimeUs + 78); // 78.126
    expect(times[99_999]).toBe(b.firstSampleTimeUs + Math.round((99_999 * 39_063) / 1000));
    const period = 1_500; // 1.5 µs: half rounds up
    expect(sampleTimesUs({ ...base, samplePeriodNs: period })).toEqual([
      base.firstSampleTimeUs,
      base.firstSampleTimeUs + 2,
      base.firstSampleTimeUs + 3,
    ]);
  });

  it('stays exact when i * period exceeds 2^53 ns', () => {
    const period = 90_071_992_547_409; // ~25 h, not a whole µs
    const b = { ...base, samplePeriodNs: period, values: new Array<number>(101).fill(0) };
    const times = sampleTimesUs(b);
    const i = 100n;
    const expected = BigInt(b.firstSampleTimeUs) + (i * BigInt(period) + 500n) / 1000n;
    expect(times[100]).toBe(Number(expected));
  });

  it('returns a copy of explicit sample times', () => {
    const explicit = [base.firstSampleTimeUs, base.firstSampleTimeUs + 7, base.firstSampleTimeUs + 9];
    const b = { ...base, samplePeriodNs: 0, sampleTimesUs: explicit };
    const times = sampleTimesUs(b);
    expect(times).toEqual(explicit);
    expect(times).not.toBe(explicit);
  });
});
