/** A run of consecutive samples handed out by {@link SampleClock.take}. */
export interface SampleRun {
  /** Index of the first sample since the clock (re)started. */
  firstIndex: number;
  count: number;
  /** Exact (fractional) time of the first sample, µs since the epoch. */
  firstTimeUs: number;
  /** Exact period in µs. */
  periodUs: number;
}

const EPSILON = 1e-6;

/**
 * The sample clock of one sensor: sample k is at `startUs + k * 1e6 / hz`.
 * How many samples are due is computed from the elapsed time, never counted
 * from timer callbacks, so late or coalesced timers cannot lose samples:
 * one hour at 100 Hz yields exactly 360,000 samples.
 *
 * Intervals are half-open: `take(untilUs)` hands out every sample whose time
 * is strictly before `untilUs` that was not handed out yet.
 */
export class SampleClock {
  #startUs: number;
  #hz: number;
  #periodUs: number;
  /** Samples handed out since start. */
  #taken = 0;

  constructor(frequencyHz: number, startUs: number) {
    SampleClock.check(frequencyHz);
    this.#hz = frequencyHz;
    this.#periodUs = 1e6 / frequencyHz;
    this.#startUs = startUs;
  }

  private static check(hz: number): void {
    if (!Number.isFinite(hz) || hz <= 0) throw new RangeError(`sample frequency must be > 0, got ${hz}`);
  }

  get frequencyHz(): number {
    return this.#hz;
  }

  get periodUs(): number {
    return this.#periodUs;
  }

  get startUs(): number {
    return this.#startUs;
  }

  /** Samples handed out since the clock last (re)started. */
  get taken(): number {
    return this.#taken;
  }

  /** Time of sample `k` (µs, fractional). */
  timeOf(k: number): number {
    return this.#startUs + (k * 1e6) / this.#hz;
  }

  /** Time of the next sample not yet handed out. */
  nextTimeUs(): number {
    return this.timeOf(this.#taken);
  }

  /** Number of samples with a time strictly before `untilUs` since start. */
  countBefore(untilUs: number): number {
    const x = ((untilUs - this.#startUs) * this.#hz) / 1e6;
    return x <= 0 ? 0 : Math.ceil(x - EPSILON);
  }

  /** Samples due before `untilUs` and not handed out yet. */
  due(untilUs: number): number {
    return Math.max(0, this.countBefore(untilUs) - this.#taken);
  }

  /**
   * Hands out up to `max` due samples (all of them by default), oldest first.
   * Returns undefined when none is due.
   */
  take(untilUs: number, max = Number.POSITIVE_INFINITY): SampleRun | undefined {
    const count = Math.min(this.due(untilUs), max);
    if (count <= 0) return undefined;
    const run: SampleRun = {
      firstIndex: this.#taken,
      count,
      firstTimeUs: this.timeOf(this.#taken),
      periodUs: this.#periodUs,
    };
    this.#taken += count;
    return run;
  }

  /** Drops due samples so that at most `keep` remain due; returns how many were dropped. */
  dropBacklog(untilUs: number, keep: number): number {
    const excess = this.due(untilUs) - keep;
    if (excess <= 0) return 0;
    this.#taken += excess;
    return excess;
  }

  /**
   * Restarts the clock at `atUs` (sample 0 of the new run is at `atUs`),
   * optionally at a new frequency. Samples of the old run not taken are dropped:
   * take them first.
   */
  restart(atUs: number, frequencyHz = this.#hz): void {
    SampleClock.check(frequencyHz);
    this.#hz = frequencyHz;
    this.#periodUs = 1e6 / frequencyHz;
    this.#startUs = atUs;
    this.#taken = 0;
  }
}
