import { describe, expect, it } from 'vitest';
import { createPrng } from '../prng.js';
import { BandLimitedNoise } from './band-limited-noise.js';

/** sd of the noise and the mean |change over one second|, sampling at `hz` for `seconds`. */
function measure(hz: number, seconds: number, seed: number): { sd: number; perSecond: number } {
  const noise = new BandLimitedNoise(createPrng(seed), 2, 0.5);
  const n = Math.round(hz * seconds);
  const per = Math.round(hz);
  let ss = 0;
  let change = 0;
  let prevWhole: number | undefined;
  for (let i = 0; i < n; i++) {
    const x = noise.at(Math.round((i * 1e6) / hz));
    ss += x * x;
    if (i % per === 0) {
      if (prevWhole !== undefined) change += Math.abs(x - prevWhole);
      prevWhole = x;
    }
  }
  return { sd: Math.sqrt(ss / n), perSecond: change / (seconds - 1) };
}

describe('BandLimitedNoise', () => {
  it('has the same spread and the same change per second at 10 Hz and at 1 kHz', () => {
    const slow = measure(10, 3000, 1);
    const fast = measure(1000, 300, 2);
    expect(slow.sd).toBeGreaterThan(1.8);
    expect(slow.sd).toBeLessThan(2.2);
    expect(fast.sd).toBeGreaterThan(1.7);
    expect(fast.sd).toBeLessThan(2.3);
    // over 1 s the process decorrelates the same way whatever the rate (white noise would too, but the
    // next check would not hold for it)
    expect(fast.perSecond / slow.perSecond).toBeGreaterThan(0.8);
    expect(fast.perSecond / slow.perSecond).toBeLessThan(1.25);
  });

  it('is smooth at a high rate: consecutive 1 kHz samples differ by far less than the spread', () => {
    const noise = new BandLimitedNoise(createPrng(3), 2, 0.5);
    let prev = noise.at(0);
    let sum = 0;
    for (let i = 1; i <= 10_000; i++) {
      const x = noise.at(i * 1000);
      sum += Math.abs(x - prev);
      prev = x;
    }
    expect(sum / 10_000).toBeLessThan(0.2); // white noise of sd 2 would give ~2.26
  });
});
