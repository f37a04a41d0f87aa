import {
  type BacktestLogEntry,
  listBacktestSensors,
  type Queryable,
  readBacktestLogs,
  readBacktestSamples,
} from '@sensor-streaming/db';
import type { LogBatch, MeasurementBatch } from '@sensor-streaming/protocol';
import { type AlarmDecision, RuleEngine } from './engine/rule-engine.js';
import type { RuleSet } from './rules/rule-types.js';

export interface BacktestOptions {
  fromUs: number;
  toUs: number;
  selector?: Record<string, string>;
  /** Event time read per query; default 60 s. */
  sliceUs?: number;
  /** Refuse (BacktestError) beyond this many samples + log entries; default 5 000 000. */
  maxEvents?: number;
}

export interface BacktestTransition {
  kind: 'RAISE' | 'CLEAR';
  serial: string;
  rule: string;
  ruleType: string;
  channel: string;
  severity: string;
  value: number;
  threshold: number;
  timeUs: number;
  message: string;
}

export interface BacktestResult {
  rulesVersion: string;
  sensors: number;
  samples: number;
  logEntries: number;
  /** Rules left out, with why (silence needs the sensors' live state). */
  skipped: Array<{ rule: string; reason: string }>;
  transitions: BacktestTransition[];
}

export class BacktestError extends Error {
  readonly permanent = true;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BacktestError';
  }
}

const toTransition = (d: AlarmDecision): BacktestTransition => ({
  kind: d.kind,
  serial: d.serial,
  rule: d.ruleId,
  ruleType: d.ruleType,
  channel: d.channel,
  severity: d.severity,
  value: d.value,
  threshold: d.threshold,
  timeUs: d.timeUs,
  message: d.message,
});

/**
 * Runs the live rule engine over stored data and returns the transitions it
 * would have made, raising nothing. Each slice of event time is fed as the
 * live service sees it (per sensor and channel, in time order), with the
 * clock at the newest event (so windows close by the same watermark).
 * Silence rules are left out: they depend on the live power state and
 * arrival times, which are not stored. Anomaly models start cold at `fromUs`.
 */
export async function runBacktest(
  db: Queryable,
  rules: RuleSet,
  o: BacktestOptions,
): Promise<BacktestResult> {
  const skipped = rules.rules
    .filter((r) => r.type === 'silence')
    .map((r) => ({ rule: r.id, reason: 'silence depends on the live power state and arrival times' }));
  const engine = new RuleEngine({
    rules: { ...rules, rules: rules.rules.filter((r) => r.type !== 'silence') },
  });
  const sensors = await listBacktestSensors(db, o.selector ?? {});
  const byId = new Map(sensors.map((s) => [s.id, s]));
  for (const s of sensors) if (s.kind !== '') engine.setProfile(s.serial, s.kind, s.labels);
  const ids = sensors.map((s) => s.id);
  const slice = o.sliceUs ?? 60e6;
  const maxEvents = o.maxEvents ?? 5_000_000;
  const out: BacktestTransition[] = [];
  let samples = 0;
  let logEntries = 0;
  let seq = 0;
  for (let from = o.fromUs; from < o.toUs; from += slice) {
    const to = Math.min(o.toUs, from + slice);
    const [series, logs] = await Promise.all([
      readBacktestSamples(db, ids, from, to),
      readBacktestLogs(db, ids, from, to),
    ]);
    for (const s of series) {
      const serial = byId.get(s.sensorId)?.serial as string;
      samples += s.values.length;
      const batch: MeasurementBatch = {
        serial,
        channel: s.channel,
        unit: '',
        sequence: ++seq,
        firstSampleTimeUs: s.timesUs[0] as number,
        samplePeriodNs: 0,
        sampleTimesUs: s.timesUs,
        values: s.values,
      };
      for (const d of engine.onBatch(batch, s.timesUs[s.timesUs.length - 1] as number))
        out.push(toTransition(d));
    }
    const perSensor = new Map<number, BacktestLogEntry[]>();
    for (const e of logs) {
      let l = perSensor.get(e.sensorId);
      if (l === undefined) {
        l = [];
        perSensor.set(e.sensorId, l);
      }
      l.push(e);
    }
    for (const [sensorId, entries] of perSensor) {
      logEntries += entries.length;
      const batch: LogBatch = {
        serial: byId.get(sensorId)?.serial as string,
        sequence: ++seq,
        entries: entries.map((e) => ({
          timeUs: e.timeUs,
          level: e.level,
          errorCode: e.errorCode,
          appVersion: '',
          firmwareVersion: '',
          message: '',
          component: '',
        })),
      };
      for (const d of engine.onLogs(batch, entries[entries.length - 1]?.timeUs as number))
        out.push(toTransition(d));
    }
    // The live service's wall clock at the end of this slice (events arrive about when they happen).
    for (const d of engine.tick(to)) out.push(toTransition(d));
    if (samples + logEntries > maxEvents)
      throw new BacktestError(
        'BACKTEST_TOO_LARGE',
        `more than ${maxEvents} samples and log entries in the range: narrow --from/--to or --selector`,
      );
  }
  out.sort((a, b) => a.timeUs - b.timeUs || a.serial.localeCompare(b.serial) || a.rule.localeCompare(b.rule));
  return {
    rulesVersion: rules.version,
    sensors: sensors.length,
    samples,
    logEntries,
    skipped,
    transitions: out,
  };
}
