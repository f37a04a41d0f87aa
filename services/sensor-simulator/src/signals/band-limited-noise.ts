import type { Prng } from '../prng.js';
import { US_PER_S } from './signal-model.js';

/**
 * Measurement noise that belongs to the process, not to the sampling: a
 * first-order low-pass (Ornstein-Uhlenbeck) process with standard deviation
 * `sd` and correlation time `tauS`, updated exactly for any time step. Its
 * variance and spectrum (flat up to about 1/(2π·tauS), then falling) do not
 * depend on the sample rate, so sampling a sensor 100 times faster shows the
 * same process in more detail instead of a noisier one.
 */
export class BandLimitedNoise {
  #x: number;
  #lastUs: number | undefined;

  constructor(
    private readonly prng: Prng,
    private readonly sd: number,
    private readonly tauS: number,
  ) {
    this.#x = prng.gaussian();
  }

  /** The noise at `timeUs` (call with non-decreasing times). */
  at(timeUs: number): number {
    if (this.#lastUs !== undefined) {
      const dtS = Math.max(0, (timeUs - this.#lastUs) / US_PER_S);
      const keep = Math.exp(-dtS / this.tauS);
      this.#x = this.#x * keep + Math.sqrt(1 - keep * keep) * this.prng.gaussian();
    }
    this.#lastUs = timeUs;
    return this.sd * this.#x;
  }
}
