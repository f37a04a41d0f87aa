import type { AlarmSeverity, CommandType } from '@sensor-streaming/protocol';

export type RuleType = 'threshold' | 'rate-of-change' | 'anomaly' | 'vibration' | 'error-burst' | 'silence';
export const RULE_TYPES: readonly RuleType[] = [
  'threshold',
  'rate-of-change',
  'anomaly',
  'vibration',
  'error-burst',
  'silence',
];

export type Aggregate = 'min' | 'max' | 'avg' | 'rms';
export type CompareOp = '>' | '>=' | '<' | '<=';

/** `value <op> threshold`, e.g. `{ op: '>', threshold: 30 }` for "> 30". */
export interface Condition {
  op: CompareOp;
  threshold: number;
}

export interface RuleCommandAction {
  type: CommandType;
  /** For `changesamplefrequency`. */
  sampleFrequencyHz?: number;
  ttlMs: number;
}

export interface RuleActions {
  /** Send webhook / e-mail notifications (those configured) on raise and clear. */
  notify: boolean;
  /** Command published to the sensor when the alarm is raised. */
  command?: RuleCommandAction;
}

interface RuleBase {
  id: string;
  type: RuleType;
  severity: AlarmSeverity;
  description: string;
  /** Sensor kinds the rule applies to; empty = every kind. */
  kinds: string[];
  /** The condition must hold this long (event time) before the alarm is raised. */
  raiseForUs: number;
  /** The clear condition must hold this long (event time) before the alarm is cleared. */
  clearForUs: number;
  /** Chattering detection (ISA-18.2): raised this often within this time = flagged and held; undefined = off. */
  chatter?: { raises: number; withinUs: number };
  actions: RuleActions;
}

export interface WindowSpec {
  sizeUs: number;
  /** Equal to sizeUs for tumbling windows; a divisor of sizeUs for sliding (hopping) windows. */
  slideUs: number;
  /** Events up to this much behind the newest event time still count. */
  allowedLatenessUs: number;
}

export interface ThresholdRule extends RuleBase {
  type: 'threshold';
  channel: string;
  aggregate: Aggregate;
  window: WindowSpec;
  raise: Condition;
  clear: Condition;
}

export interface RateOfChangeRule extends RuleBase {
  type: 'rate-of-change';
  channel: string;
  /**
   * The slope is the least-squares fit over the samples of this trailing
   * window (event time), evaluated at every sample once the window holds at
   * least half its span: a property of the signal, not of the sample rate.
   */
  window: WindowSpec;
  /** Applied to |dv/dt| in units per second. */
  raise: Condition;
  clear: Condition;
  /** After a wake or a sample-frequency change, no raise for this long (event time). */
  settleUs: number;
}

export interface AnomalyRule extends RuleBase {
  type: 'anomaly';
  /** `*` = every channel of the sensor. */
  channel: string;
  /** EWMA smoothing factor (0, 1). */
  alpha: number;
  /** Raise when |z| > zScore. */
  zScore: number;
  /** Clear when |z| <= clearZScore. */
  clearZScore: number;
  /** Samples learned before the model may raise. */
  warmupSamples: number;
  /** Lower bound of the standard deviation (units), so a flat signal does not make every wiggle infinite. */
  minStdDev: number;
  /**
   * When > 0 the EWMA forgets by time, not by sample: each sample weighs
   * 1 - exp(-dt / timeConstant), so a sensor sampling 100 times faster has
   * the same model (alpha is then unused after warm-up).
   */
  timeConstantUs: number;
  /** After a wake or a sample-frequency change: re-learn (warm-up again) and no raise for this long. */
  settleUs: number;
  /**
   * `ewma` (default): EWMA mean and variance, persisted. `mad`: robust median
   * and median absolute deviation over the last `windowUs` of samples (spikes
   * and outliers do not widen the bound); not persisted, re-learned after a restart.
   */
  model: 'ewma' | 'mad';
  /** `mad` only: the span of samples the median and MAD are taken over. */
  windowUs: number;
}

export type MachineClass = 'I' | 'II' | 'III' | 'IV';
export type VibrationZone = 'B' | 'C' | 'D';

export interface VibrationRule extends RuleBase {
  type: 'vibration';
  channel: string;
  /** From the rule, or the sensor label `machine_class` when `machineClassLabel` is set. */
  machineClass: MachineClass;
  /** Raise when the RMS enters this zone (ISO 10816-3 style boundaries). */
  zone: VibrationZone;
  window: WindowSpec;
  /** Clear when RMS <= limit * clearRatio. */
  clearRatio: number;
}

export interface ErrorBurstRule extends RuleBase {
  type: 'error-burst';
  /** One code, or `*`: every code of the device. */
  errorCode: string;
  /**
   * With `*`: false (default) counts every code of the device together (the
   * alarm's channel is `all-codes`); true counts each code separately (channel = code).
   */
  perCode: boolean;
  /** Tumbling window (slideUs === sizeUs). */
  window: WindowSpec;
  raise: Condition;
  clear: Condition;
}

export interface SilenceRule extends RuleBase {
  type: 'silence';
  /** Raise when nothing arrived for expected period * factor. */
  factor: number;
  /** Lower bound of the silence threshold. */
  minSilenceUs: number;
}

export type Rule =
  | ThresholdRule
  | RateOfChangeRule
  | AnomalyRule
  | VibrationRule
  | ErrorBurstRule
  | SilenceRule;

/** What a rule file override selects. */
export interface OverrideMatch {
  serials?: string[];
  labels?: Record<string, string>;
  kinds?: string[];
}

export interface RuleOverride {
  /** Position in the file, for messages. */
  index: number;
  rule: string;
  match: OverrideMatch;
  /** Raw fields merged over the rule's raw definition. */
  set: Record<string, unknown>;
}

export interface RuleProblem {
  /** Rule id (or `overrides[i]`, or `file`). */
  where: string;
  reason: string;
}

/** A validated rule set: the good rules, their raw forms (for overrides) and what was rejected. */
export interface RuleSet {
  version: string;
  rules: Rule[];
  raw: Map<string, Record<string, unknown>>;
  overrides: RuleOverride[];
  problems: RuleProblem[];
}

/** ISO 10816-3 style zone boundaries in mm/s RMS: the lower edge of zones B, C and D per machine class. */
export const VIBRATION_LIMITS_MM_S: Record<MachineClass, Record<VibrationZone, number>> = {
  I: { B: 0.71, C: 1.8, D: 4.5 },
  II: { B: 1.12, C: 2.8, D: 7.1 },
  III: { B: 1.8, C: 4.5, D: 11.2 },
  IV: { B: 2.8, C: 7.1, D: 18 },
};

export function compare(value: number, c: Condition): boolean {
  switch (c.op) {
    case '>':
      return value > c.threshold;
    case '>=':
      return value >= c.threshold;
    case '<':
      return value < c.threshold;
    case '<=':
      return value <= c.threshold;
  }
}

/** The complement of a condition: "> 30" -> "<= 30". */
export function negate(c: Condition): Condition {
  const op: Record<CompareOp, CompareOp> = { '>': '<=', '>=': '<', '<': '>=', '<=': '>' };
  return { op: op[c.op], threshold: c.threshold };
}
