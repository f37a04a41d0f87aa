import type { LogLevel } from '@sensor-streaming/protocol';
import type { ErrorCode } from './log-codes.js';
import { ERROR_CODES } from './log-codes.js';
import type { Prng } from './prng.js';
import type { ChannelSpec } from './signals/signal-model.js';
import { US_PER_S } from './signals/signal-model.js';

export const FAULT_KINDS = ['spike', 'stuck', 'drift', 'dropout', 'errorburst', 'bearing'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A log event produced by a fault, turned into a LogEntry by the sensor. */
export interface FaultEvent {
  timeUs: number;
  level: LogLevel;
  errorCode: ErrorCode | '';
  message: string;
  component: string;
}

/** Tunables; the defaults make every fault visible within a minute or two. */
export interface FaultTiming {
  /** Probability that a sample is a spike. */
  spikeProbability: number;
  /** Stuck and dropout episodes: one every `episodePeriodS`, lasting `episodeS`. */
  episodePeriodS: number;
  episodeS: number;
  /** Drift in units of the channel scale per minute. */
  driftPerMinute: number;
  /** An error burst every `burstPeriodS`, of `burstSize` ERROR entries. */
  burstPeriodS: number;
  burstSize: number;
  /** Period of the recurring WARN/ERROR logs while drift or bearing wear is active. */
  reminderPeriodS: number;
}

export const DEFAULT_FAULT_TIMING: FaultTiming = {
  spikeProbability: 0.01,
  episodePeriodS: 120,
  episodeS: 30,
  driftPerMinute: 0.05,
  burstPeriodS: 60,
  burstSize: 20,
  reminderPeriodS: 60,
};

/**
 * Injects faults into the samples of one sensor and reports them as log events.
 * Spikes, drift and bearing wear are continuous; stuck values and dropouts come
 * in episodes; error bursts are periodic. Episode schedules are deterministic
 * functions of time (with a random per-sensor offset), so they do not depend on
 * when flushes happen.
 */
export class FaultInjector {
  readonly faults: ReadonlySet<FaultKind>;
  readonly #channels: readonly ChannelSpec[];
  readonly #prng: Prng;
  readonly #originUs: number;
  readonly #timing: FaultTiming;
  readonly #offsetS: number;
  #events: FaultEvent[] = [];
  #stuckValues: number[] | undefined;
  #inDropout = false;
  #spikes = 0;
  #firstSpikeUs = 0;
  #lastReminderUs = Number.NEGATIVE_INFINITY;
  #lastBurstIndex: number;

  constructor(
    faults: Iterable<FaultKind>,
    channels: readonly ChannelSpec[],
    prng: Prng,
    originUs: number,
    timing: FaultTiming = DEFAULT_FAULT_TIMING,
  ) {
    this.faults = new Set(faults);
    this.#channels = channels;
    this.#prng = prng;
    this.#originUs = originUs;
    this.#timing = timing;
    this.#offsetS = prng.range(0, timing.episodePeriodS);
    this.#lastBurstIndex = this.#burstIndex(originUs);
  }

  get active(): boolean {
    return this.faults.size > 0;
  }

  /** True while a stuck or dropout episode covers `timeUs`. */
  inEpisode(timeUs: number): boolean {
    const t = (timeUs - this.#originUs) / US_PER_S + this.#offsetS;
    return t % this.#timing.episodePeriodS >= this.#timing.episodePeriodS - this.#timing.episodeS;
  }

  #burstIndex(timeUs: number): number {
    return Math.floor(((timeUs - this.#originUs) / US_PER_S + this.#offsetS) / this.#timing.burstPeriodS);
  }

  /**
   * Applies the faults to the values of one sample, in place. Returns false
   * when the sample is lost (dropout).
   */
  apply(timeUs: number, values: number[]): boolean {
    const f = this.faults;
    if (f.size === 0) return true;
    if (f.has('dropout')) {
      const lost = this.inEpisode(timeUs);
      if (lost !== this.#inDropout) {
        this.#inDropout = lost;
        this.#events.push(
          lost
            ? {
                timeUs,
                level: 'ERROR',
                errorCode: 'C007_SIGNAL_LOST',
                message: 'signal lost',
                component: 'adc',
              }
            : { timeUs, level: 'INFO', errorCode: '', message: 'signal restored', component: 'adc' },
        );
      }
      if (lost) return false;
    }
    if (f.has('drift')) {
      const minutes = (timeUs - this.#originUs) / (60 * US_PER_S);
      for (let c = 0; c < values.length; c++) {
        values[c] = values[c]! + this.#channels[c]!.scale * this.#timing.driftPerMinute * minutes;
      }
    }
    if (f.has('spike') && this.#prng.next() < this.#timing.spikeProbability) {
      const c = this.#prng.int(values.length);
      const sign = this.#prng.next() < 0.5 ? -1 : 1;
      values[c] = values[c]! + sign * this.#channels[c]!.scale * this.#prng.range(6, 10);
      if (this.#spikes === 0) this.#firstSpikeUs = timeUs;
      this.#spikes++;
    }
    if (f.has('stuck')) {
      if (this.inEpisode(timeUs)) {
        if (this.#stuckValues === undefined) {
          this.#stuckValues = [...values];
          this.#events.push({
            timeUs,
            level: 'ERROR',
            errorCode: 'C005_STUCK_VALUE',
            message: 'sensor output stuck',
            component: 'adc',
          });
        }
        for (let c = 0; c < values.length; c++) values[c] = this.#stuckValues[c]!;
      } else {
        this.#stuckValues = undefined;
      }
    }
    return true;
  }

  /** Time-driven events (error bursts, reminders) up to `nowUs`, plus those recorded by `apply`. */
  drainEvents(nowUs: number, bearingSeverity = 0): FaultEvent[] {
    const f = this.faults;
    if (this.#spikes > 0) {
      this.#events.push({
        timeUs: this.#firstSpikeUs,
        level: 'ERROR',
        errorCode: 'C004_OUT_OF_RANGE',
        message: `${this.#spikes} sample(s) out of range`,
        component: 'dsp',
      });
      this.#spikes = 0;
    }
    if (f.has('errorburst')) {
      const idx = this.#burstIndex(nowUs);
      if (idx > this.#lastBurstIndex) {
        this.#lastBurstIndex = idx;
        for (let i = 0; i < this.#timing.burstSize; i++) {
          const code = ERROR_CODES[this.#prng.int(ERROR_CODES.length)]!;
          this.#events.push({
            timeUs: nowUs - (this.#timing.burstSize - i) * 1000,
            level: 'ERROR',
            errorCode: code,
            message: `firmware error ${code}`,
            component: 'firmware',
          });
        }
      }
    }
    if (
      (f.has('drift') || f.has('bearing')) &&
      nowUs - this.#lastReminderUs >= this.#timing.reminderPeriodS * US_PER_S
    ) {
      this.#lastReminderUs = nowUs;
      if (f.has('drift')) {
        this.#events.push({
          timeUs: nowUs,
          level: 'WARN',
          errorCode: 'C006_DRIFT_DETECTED',
          message: 'calibration drift detected',
          component: 'dsp',
        });
      }
      if (f.has('bearing')) {
        this.#events.push({
          timeUs: nowUs,
          level: bearingSeverity >= 0.5 ? 'ERROR' : 'WARN',
          errorCode: 'C013_BEARING_WEAR',
          message: `bearing wear severity ${bearingSeverity.toFixed(2)}`,
          component: 'dsp',
        });
      }
    }
    const out = this.#events;
    this.#events = [];
    return out;
  }
}
