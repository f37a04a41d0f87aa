import type { MeasurementBatch } from './domain-types.js';

/**
 * The time of every value in µs since the epoch: the explicit
 * `sampleTimesUs` when given, else `firstSampleTimeUs + i * samplePeriodNs`
 * rounded to the nearest µs (computed exactly, without float drift).
 */
export function sampleTimesUs(b: MeasurementBatch): number[] {
  if (b.sampleTimesUs !== undefined && b.sampleTimesUs.length > 0) return b.sampleTimesUs.slice();
  const n = b.values.length;
  const times = new Array<number>(n);
  const first = b.firstSampleTimeUs;
  const period = b.samplePeriodNs;
  if (period % 1000 === 0) {
    const periodUs = period / 1000;
    for (let i = 0; i < n; i++) times[i] = first + i * periodUs;
    return times;
  }
  // Sub-µs periods: offset i*period ns, rounded half up to µs.
  if (n * period + 500 <= Number.MAX_SAFE_INTEGER) {
    for (let i = 0; i < n; i++) times[i] = first + Math.floor((i * period + 500) / 1000);
    return times;
  }
  const periodBig = BigInt(period);
  for (let i = 0; i < n; i++) times[i] = first + Number((BigInt(i) * periodBig + 500n) / 1000n);
  return times;
}
