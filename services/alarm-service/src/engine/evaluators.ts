import {
  type AnomalyRule,
  compare,
  type ErrorBurstRule,
  type RateOfChangeRule,
  type ThresholdRule,
  VIBRATION_LIMITS_MM_S,
  type VibrationRule,
} from '../rules/rule-types.js';
import { WindowAggregator, type WindowResult } from './window-aggregator.js';

/** Receives one evaluation: the observed value, the limit, and whether the raise / clear conditions hold. */
export type Sink = (timeUs: number, value: number, threshold: number, raise: boolean, clear: boolean) => void;

/** Evaluates one rule over one sensor channel's samples. */
export interface SampleEvaluator {
  /** Feeds samples (times ascending within a batch); returns how many were late and ignored. */
  process(times: readonly number[], values: readonly number[], sink: Sink): number;
}

/** Windowed aggregate compared with a raise and a clear condition (evaluated when each window closes). */
export class WindowThresholdEvaluator implements SampleEvaluator {
  private readonly agg: WindowAggregator;
  private readonly out: WindowResult[] = [];

  constructor(
    rule: ThresholdRule | VibrationRule,
    private readonly raiseAt: (v: number) => boolean,
    private readonly clearAt: (v: number) => boolean,
    private readonly threshold: number,
  ) {
    this.agg = new WindowAggregator(rule.window, rule.type === 'vibration' ? 'rms' : rule.aggregate);
  }

  static threshold(rule: ThresholdRule): WindowThresholdEvaluator {
    return new WindowThresholdEvaluator(
      rule,
      (v) => compare(v, rule.raise),
      (v) => compare(v, rule.clear),
      rule.raise.threshold,
    );
  }

  static vibration(rule: VibrationRule): WindowThresholdEvaluator {
    const limit = VIBRATION_LIMITS_MM_S[rule.machineClass][rule.zone];
    const clearAt = limit * rule.clearRatio;
    return new WindowThresholdEvaluator(
      rule,
      (v) => v > limit,
      (v) => v <= clearAt,
      limit,
    );
  }

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    let late = 0;
    for (let i = 0; i < times.length; i++) {
      if (!this.agg.add(times[i] as number, values[i] as number)) late++;
    }
    this.out.length = 0;
    this.agg.advance(this.out);
    for (const w of this.out)
      sink(w.endUs, w.value, this.threshold, this.raiseAt(w.value), this.clearAt(w.value));
    return late;
  }
}

/** |dv/dt| in units per second between consecutive samples. */
export class RateOfChangeEvaluator implements SampleEvaluator {
  private lastTimeUs = Number.NEGATIVE_INFINITY;
  private lastValue = 0;

  constructor(private readonly rule: RateOfChangeRule) {}

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    let late = 0;
    const { raise, clear } = this.rule;
    for (let i = 0; i < times.length; i++) {
      const t = times[i] as number;
      const v = values[i] as number;
      if (t <= this.lastTimeUs) {
        late++;
        continue;
      }
      if (this.lastTimeUs !== Number.NEGATIVE_INFINITY) {
        const rate = Math.abs(v - this.lastValue) / ((t - this.lastTimeUs) / 1e6);
        sink(t, rate, raise.threshold, compare(rate, raise), compare(rate, clear));
      }
      this.lastTimeUs = t;
      this.lastValue = v;
    }
    return late;
  }
}

/** Persistable parameters of one EWMA model. */
export interface AnomalyModelParams {
  mean: number;
  variance: number;
  /** Samples learned. */
  count: number;
  /** Event time of the newest learned sample. */
  lastTimeUs: number;
}

/**
 * Online EWMA mean and variance (West/Finch incremental form) with a z-score
 * bound. During warm-up the smoothing factor is max(alpha, 1/(n+1)), i.e. the
 * plain running mean, so the model converges quickly and never raises. After
 * warm-up a sample beyond the bound is learned clipped to mean ± zScore·sd, so
 * one spike cannot drag the model while a lasting level shift is still
 * learned, slowly.
 */
export class AnomalyEvaluator implements SampleEvaluator {
  params: AnomalyModelParams;
  dirty = false;

  constructor(
    private rule: AnomalyRule,
    initial?: AnomalyModelParams,
  ) {
    this.params = initial ? { ...initial } : { mean: 0, variance: 0, count: 0, lastTimeUs: 0 };
  }

  updateRule(rule: AnomalyRule): void {
    this.rule = rule;
  }

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    const { alpha, zScore, clearZScore, warmupSamples, minStdDev } = this.rule;
    const p = this.params;
    let late = 0;
    for (let i = 0; i < times.length; i++) {
      const t = times[i] as number;
      let x = values[i] as number;
      if (t < p.lastTimeUs) {
        late++;
        continue;
      }
      if (p.count >= warmupSamples) {
        const sd = Math.max(Math.sqrt(p.variance), minStdDev);
        const z = Math.abs(x - p.mean) / sd;
        const limit = x >= p.mean ? p.mean + zScore * sd : p.mean - zScore * sd;
        sink(t, values[i] as number, limit, z > zScore, z <= clearZScore);
        if (z > zScore) x = limit;
      }
      const a = p.count < warmupSamples ? Math.max(alpha, 1 / (p.count + 1)) : alpha;
      const diff = x - p.mean;
      const incr = a * diff;
      p.mean += incr;
      p.variance = (1 - a) * (p.variance + diff * incr);
      p.count++;
      p.lastTimeUs = t;
    }
    if (times.length > late) this.dirty = true;
    return late;
  }
}

/**
 * ERROR log entries per error code in tumbling event-time windows. The
 * watermark is the newest log time of the sensor minus the allowed lateness;
 * a window is emitted when the watermark reaches its end, with a count for
 * every code seen in it plus every code the caller still tracks (an open
 * alarm), which then gets 0.
 */
export class ErrorBurstCounter {
  private readonly windows = new Map<number, Map<string, number>>();
  private maxEventUs = Number.NEGATIVE_INFINITY;
  private maxEventArrivalUs = 0;
  private nextEndUs: number | undefined;

  constructor(readonly rule: ErrorBurstRule) {}

  /** Adds one log entry (any level advances the watermark); returns false when late. */
  add(timeUs: number, isError: boolean, errorCode: string, arrivalUs: number): boolean {
    const size = this.rule.window.sizeUs;
    const idx = Math.floor(timeUs / size);
    if (this.nextEndUs === undefined) this.nextEndUs = (idx + 1) * size;
    else if (timeUs < this.nextEndUs - size) return !isError || !this.counts(errorCode);
    if (timeUs > this.maxEventUs) {
      this.maxEventUs = timeUs;
      this.maxEventArrivalUs = arrivalUs;
    }
    if (!isError || !this.counts(errorCode)) return true;
    let w = this.windows.get(idx);
    if (w === undefined) {
      w = new Map();
      this.windows.set(idx, w);
    }
    w.set(errorCode, (w.get(errorCode) ?? 0) + 1);
    return true;
  }

  counts(errorCode: string): boolean {
    return this.rule.errorCode === '*' || this.rule.errorCode === errorCode;
  }

  /**
   * Closes every window the watermark has passed. Without `nowUs` the
   * watermark is event time only; with it, a sensor that went quiet is assumed
   * to keep its clock running (newest event + wall time since it arrived), so
   * the last window still closes.
   */
  advance(
    tracked: Iterable<string>,
    emit: (code: string, count: number, windowEndUs: number) => void,
    nowUs?: number,
  ): void {
    const size = this.rule.window.sizeUs;
    let watermark = this.maxEventUs - this.rule.window.allowedLatenessUs;
    if (nowUs !== undefined) watermark += Math.max(0, nowUs - this.maxEventArrivalUs);
    const trackedCodes = [...tracked];
    while (this.nextEndUs !== undefined && this.nextEndUs <= watermark) {
      const idx = this.nextEndUs / size - 1;
      const w = this.windows.get(idx);
      this.windows.delete(idx);
      const codes = new Set([...(w?.keys() ?? []), ...trackedCodes]);
      for (const code of [...codes].sort()) emit(code, w?.get(code) ?? 0, this.nextEndUs);
      this.nextEndUs += size;
      if (this.windows.size === 0 && trackedCodes.length === 0) {
        // Nothing to report for the empty windows in between.
        this.nextEndUs = Math.max(this.nextEndUs, Math.floor(watermark / size) * size + size);
        break;
      }
      if (this.windows.size > 0 && trackedCodes.length === 0) {
        let first = Number.POSITIVE_INFINITY;
        for (const k of this.windows.keys()) if (k < first) first = k;
        this.nextEndUs = Math.max(this.nextEndUs, (first + 1) * size);
      }
    }
  }
}
