import {
  type AnomalyRule,
  compare,
  type ErrorBurstRule,
  type RateOfChangeRule,
  type ThresholdRule,
  VIBRATION_LIMITS_MM_S,
  type VibrationRule,
} from '../rules/rule-types.js';
import { WindowAggregator, type WindowResult, type WindowSnapshot } from './window-aggregator.js';

/** How long a sensor may be silent before its windows are closed on the wall clock. */
export const IDLE_GRACE_US = 5_000_000;

/** Receives one evaluation: the observed value, the limit, and whether the raise / clear conditions hold. */
export type Sink = (timeUs: number, value: number, threshold: number, raise: boolean, clear: boolean) => void;

/** Evaluates one rule over one sensor channel's samples. */
export interface SampleEvaluator {
  /**
   * Feeds samples (times ascending within a batch) that arrived at wall time
   * `arrivalUs`; returns how many were late and ignored.
   */
  process(times: readonly number[], values: readonly number[], sink: Sink, arrivalUs?: number): number;
  /**
   * Wall-clock watermark for a source that went quiet: closes what the event
   * time would have closed had the sensor kept sending (newest event time +
   * wall time since it arrived).
   */
  idle?(nowUs: number, sink: Sink): void;
}

/** An evaluator whose open windows are saved (alarm_window_state) and continued after a restart. */
export interface PersistentWindows {
  dirty: boolean;
  /** JSON state of what is open; undefined when nothing is. */
  snapshot(): Record<string, unknown> | undefined;
  /** Continues from a snapshot; false when it does not fit the rule (e.g. the window size changed). */
  restore(state: Record<string, unknown>): boolean;
}

/** Windowed aggregate compared with a raise and a clear condition (evaluated when each window closes). */
export class WindowThresholdEvaluator implements SampleEvaluator, PersistentWindows {
  private readonly agg: WindowAggregator;
  private readonly out: WindowResult[] = [];
  dirty = false;

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

  /** Wall time at which the newest event arrived, and the gap before it. */
  private newestArrivalUs = 0;
  private arrivalGapUs = 0;

  process(times: readonly number[], values: readonly number[], sink: Sink, arrivalUs = 0): number {
    let late = 0;
    const before = this.agg.watermarkUs;
    for (let i = 0; i < times.length; i++) {
      if (!this.agg.add(times[i] as number, values[i] as number)) late++;
    }
    if (this.agg.watermarkUs > before) {
      if (this.newestArrivalUs > 0) this.arrivalGapUs = Math.max(0, arrivalUs - this.newestArrivalUs);
      this.newestArrivalUs = arrivalUs;
    }
    this.emit(this.agg.watermarkUs, sink);
    if (times.length > late) this.dirty = true;
    return late;
  }

  snapshot(): Record<string, unknown> | undefined {
    const w = this.agg.snapshot();
    return w === undefined ? undefined : { ...w, arrivalUs: this.newestArrivalUs };
  }

  restore(state: Record<string, unknown>): boolean {
    if (!this.agg.restore(state as unknown as WindowSnapshot)) return false;
    this.newestArrivalUs = typeof state.arrivalUs === 'number' ? state.arrivalUs : 0;
    return true;
  }

  /**
   * The sensor's clock is assumed to keep running only after a grace of
   * IDLE_GRACE_US (or three arrival gaps, if longer) without news: a batch
   * that is merely late (network, broker) must not find its window closed.
   */
  idle(nowUs: number, sink: Sink): void {
    if (this.newestArrivalUs === 0) return;
    const grace = Math.max(IDLE_GRACE_US, 3 * this.arrivalGapUs);
    const quietUs = nowUs - this.newestArrivalUs - grace;
    if (quietUs <= 0) return;
    this.dirty = true;
    this.emit(this.agg.watermarkUs + quietUs, sink);
  }

  private emit(watermarkUs: number, sink: Sink): void {
    this.out.length = 0;
    this.agg.advance(this.out, watermarkUs);
    for (const w of this.out)
      sink(w.endUs, w.value, this.threshold, this.raiseAt(w.value), this.clearAt(w.value));
  }
}

/**
 * |dv/dt| in units per second as the least-squares slope of the samples in a
 * trailing event-time window (not sample to sample: the difference of two
 * noisy samples grows with the sample rate, the slope of a fit over a fixed
 * span does not). Evaluated at every sample once the window holds at least
 * half its span and three samples. Raises are held back until `settleUntilUs`
 * (after a wake or a frequency change); clears are not.
 */
export class RateOfChangeEvaluator implements SampleEvaluator {
  private ts: number[] = [];
  private vs: number[] = [];
  private head = 0;
  private baseUs = 0;
  private n = 0;
  private st = 0;
  private sv = 0;
  private stt = 0;
  private stv = 0;
  private lastTimeUs = Number.NEGATIVE_INFINITY;
  settleUntilUs = Number.NEGATIVE_INFINITY;

  constructor(private readonly rule: RateOfChangeRule) {}

  /** Forgets the samples so far (the signal restarted: wake, frequency change). */
  reset(settleUntilUs: number): void {
    this.ts = [];
    this.vs = [];
    this.head = 0;
    this.n = this.st = this.sv = this.stt = this.stv = 0;
    this.settleUntilUs = settleUntilUs;
  }

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    let late = 0;
    const { raise, clear } = this.rule;
    const span = this.rule.window.sizeUs;
    for (let i = 0; i < times.length; i++) {
      const t = times[i] as number;
      const v = values[i] as number;
      if (t <= this.lastTimeUs) {
        late++;
        continue;
      }
      this.lastTimeUs = t;
      this.push(t, v);
      while (this.head < this.ts.length && (this.ts[this.head] as number) <= t - span) this.shift();
      const oldest = this.ts[this.head] as number;
      if (this.n < 3 || t - oldest < span / 2) continue;
      const den = this.n * this.stt - this.st * this.st;
      if (den <= 0) continue;
      const rate = Math.abs((this.n * this.stv - this.st * this.sv) / den);
      const up = t >= this.settleUntilUs && compare(rate, raise);
      sink(t, rate, raise.threshold, up, compare(rate, clear));
    }
    return late;
  }

  private push(t: number, v: number): void {
    if (this.n === 0) this.baseUs = t;
    else if (t - this.baseUs > 4 * this.rule.window.sizeUs) this.rebase();
    const x = (t - this.baseUs) / 1e6;
    this.ts.push(t);
    this.vs.push(v);
    this.n++;
    this.st += x;
    this.sv += v;
    this.stt += x * x;
    this.stv += x * v;
  }

  private shift(): void {
    const t = this.ts[this.head] as number;
    const v = this.vs[this.head] as number;
    this.head++;
    const x = (t - this.baseUs) / 1e6;
    this.n--;
    this.st -= x;
    this.sv -= v;
    this.stt -= x * x;
    this.stv -= x * v;
    if (this.head > 1024 && this.head * 2 > this.ts.length) {
      this.ts = this.ts.slice(this.head);
      this.vs = this.vs.slice(this.head);
      this.head = 0;
    }
  }

  /** New time origin at the oldest sample, sums recomputed (keeps the float sums exact enough). */
  private rebase(): void {
    this.ts = this.ts.slice(this.head);
    this.vs = this.vs.slice(this.head);
    this.head = 0;
    this.baseUs = this.ts[0] ?? 0;
    this.n = this.st = this.sv = this.stt = this.stv = 0;
    for (let i = 0; i < this.ts.length; i++) {
      const x = ((this.ts[i] as number) - this.baseUs) / 1e6;
      const v = this.vs[i] as number;
      this.n++;
      this.st += x;
      this.sv += v;
      this.stt += x * x;
      this.stv += x * v;
    }
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
  /** No raise before this event time (set after a wake or a frequency change). */
  settleUntilUs = Number.NEGATIVE_INFINITY;

  constructor(
    private rule: AnomalyRule,
    initial?: AnomalyModelParams,
  ) {
    this.params = initial ? { ...initial } : { mean: 0, variance: 0, count: 0, lastTimeUs: 0 };
  }

  updateRule(rule: AnomalyRule): void {
    this.rule = rule;
  }

  /**
   * The signal restarted (wake, frequency change): learn it again from
   * scratch (warm-up) and raise nothing before `settleUntilUs`.
   */
  resettle(settleUntilUs: number): void {
    this.params.count = 0;
    this.settleUntilUs = settleUntilUs;
    this.dirty = true;
  }

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    const { alpha, zScore, clearZScore, warmupSamples, minStdDev, timeConstantUs } = this.rule;
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
        const settled = t >= this.settleUntilUs;
        sink(t, values[i] as number, limit, settled && z > zScore, z <= clearZScore);
        // Clipped so one spike cannot drag the model; while settling, learned as is.
        if (z > zScore && settled) x = limit;
      }
      let rate = alpha;
      if (timeConstantUs > 0) {
        // Forget by time: the same model whatever the sample rate (a gap counts as at most τ/10).
        const dt = p.count === 0 ? 0 : Math.min(t - p.lastTimeUs, timeConstantUs / 10);
        rate = 1 - Math.exp(-dt / timeConstantUs);
      }
      const a = p.count < warmupSamples ? Math.max(rate, 1 / (p.count + 1)) : rate;
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
 * Robust anomaly model: the median and the median absolute deviation (MAD) of
 * the last `windowUs` of samples, thinned to at most 512 points evenly spread
 * in time (so the cost and the model do not depend on the sample rate). A
 * sample is anomalous when |x - median| / (1.4826 · MAD) > zScore; spikes
 * and outliers barely move the median and the MAD, so they do not widen the
 * bound as they widen an EWMA variance. Recomputed once per batch.
 */
export class MadAnomalyEvaluator implements SampleEvaluator {
  private times: number[] = [];
  private values: number[] = [];
  private lastKeptUs = Number.NEGATIVE_INFINITY;
  private lastTimeUs = Number.NEGATIVE_INFINITY;
  private median = 0;
  private scale = 0;
  settleUntilUs = Number.NEGATIVE_INFINITY;

  constructor(private rule: AnomalyRule) {}

  updateRule(rule: AnomalyRule): void {
    this.rule = rule;
  }

  resettle(settleUntilUs: number): void {
    this.times = [];
    this.values = [];
    this.lastKeptUs = Number.NEGATIVE_INFINITY;
    this.settleUntilUs = settleUntilUs;
  }

  process(times: readonly number[], values: readonly number[], sink: Sink): number {
    const { zScore, clearZScore, minStdDev, windowUs } = this.rule;
    const minPoints = Math.min(64, Math.max(8, this.rule.warmupSamples));
    const stepUs = windowUs / 512;
    let late = 0;
    const ready = this.values.length >= minPoints;
    for (let i = 0; i < times.length; i++) {
      const t = times[i] as number;
      const x = values[i] as number;
      if (t <= this.lastTimeUs) {
        late++;
        continue;
      }
      this.lastTimeUs = t;
      if (ready) {
        const sd = Math.max(this.scale, minStdDev);
        const z = Math.abs(x - this.median) / sd;
        const limit = x >= this.median ? this.median + zScore * sd : this.median - zScore * sd;
        sink(t, x, limit, t >= this.settleUntilUs && z > zScore, z <= clearZScore);
      }
      if (t - this.lastKeptUs >= stepUs) {
        this.times.push(t);
        this.values.push(x);
        this.lastKeptUs = t;
      }
    }
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] as number) <= this.lastTimeUs - windowUs) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      this.values.splice(0, drop);
    }
    if (this.values.length > 0) {
      const sorted = Float64Array.from(this.values).sort();
      this.median = medianOf(sorted);
      const dev = sorted.map((v) => Math.abs(v - this.median)).sort();
      this.scale = 1.4826 * medianOf(dev);
    }
    return late;
  }
}

function medianOf(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The alarm channel of an error burst over every code of a device. */
export const ALL_CODES = 'all-codes';

/**
 * ERROR log entries per error code in tumbling event-time windows. The
 * watermark is the newest log time of the sensor minus the allowed lateness;
 * a window is emitted when the watermark reaches its end, with a count for
 * every code seen in it plus every code the caller still tracks (an open
 * alarm), which then gets 0.
 */
export class ErrorBurstCounter implements PersistentWindows {
  private readonly windows = new Map<number, Map<string, number>>();
  /** Entries counted per window (time|code): a batch redelivered after a crash is not counted twice. */
  private readonly seen = new Map<number, Set<string>>();
  private maxEventUs = Number.NEGATIVE_INFINITY;
  private maxEventArrivalUs = 0;
  private nextEndUs: number | undefined;
  dirty = false;

  constructor(readonly rule: ErrorBurstRule) {}

  snapshot(): Record<string, unknown> | undefined {
    if (this.nextEndUs === undefined || this.windows.size === 0) return undefined;
    return {
      sizeUs: this.rule.window.sizeUs,
      maxEventUs: this.maxEventUs,
      arrivalUs: this.maxEventArrivalUs,
      nextEndUs: this.nextEndUs,
      windows: [...this.windows].map(([idx, codes]) => [idx, [...codes], [...(this.seen.get(idx) ?? [])]]),
    };
  }

  restore(state: Record<string, unknown>): boolean {
    const s = state as {
      sizeUs?: unknown;
      maxEventUs?: unknown;
      arrivalUs?: unknown;
      nextEndUs?: unknown;
      windows?: unknown;
    };
    if (s.sizeUs !== this.rule.window.sizeUs || typeof s.nextEndUs !== 'number') return false;
    if (typeof s.maxEventUs !== 'number' || !Array.isArray(s.windows)) return false;
    this.maxEventUs = s.maxEventUs;
    this.maxEventArrivalUs = typeof s.arrivalUs === 'number' ? s.arrivalUs : 0;
    this.nextEndUs = s.nextEndUs;
    this.windows.clear();
    this.seen.clear();
    for (const [idx, codes, keys] of s.windows as Array<[number, Array<[string, number]>, string[]]>) {
      this.windows.set(idx, new Map(codes));
      this.seen.set(idx, new Set(keys));
    }
    return true;
  }

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
    let seen = this.seen.get(idx);
    if (seen === undefined) {
      seen = new Set();
      this.seen.set(idx, seen);
    }
    const entry = `${timeUs}|${errorCode}`;
    if (seen.has(entry)) return true; // the same entry again (redelivery): counted once
    seen.add(entry);
    let w = this.windows.get(idx);
    if (w === undefined) {
      w = new Map();
      this.windows.set(idx, w);
    }
    // `*` without perCode: every code of the device in one count (the alarm's channel is `all-codes`)
    const key = this.rule.errorCode === '*' && !this.rule.perCode ? ALL_CODES : errorCode;
    w.set(key, (w.get(key) ?? 0) + 1);
    this.dirty = true;
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
      this.seen.delete(idx);
      this.dirty = true;
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
