import type { LogBatch, MeasurementBatch, SensorState } from '@sensor-streaming/protocol';
import { describe, expect, it, vi } from 'vitest';
import { parseRuleFile } from '../rules/rule-set.js';
import { RuleEngine } from './rule-engine.js';

const S = 1_000_000;
const T0 = 1_700_000_040 * S; // a multiple of 60 s

function batch(
  serial: string,
  channel: string,
  startUs: number,
  periodS: number,
  values: number[],
): MeasurementBatch {
  return {
    serial,
    channel,
    unit: 'x',
    sequence: 1,
    firstSampleTimeUs: startUs,
    samplePeriodNs: periodS * 1e9,
    values,
  };
}

function state(
  serial: string,
  kind: string,
  s: SensorState['state'],
  labels: Record<string, string> = {},
): SensorState {
  return {
    serial,
    kind,
    channels: ['temperature'],
    firmware: '1.0',
    state: s,
    sampleFrequencyHz: 1,
    uptimeS: 1,
    reason: 'HEARTBEAT',
    timeUs: T0,
    labels,
    minFrequencyHz: 0,
    maxFrequencyHz: 0,
  };
}

const RULES = `
version: 7
rules:
  - id: temperature-high
    type: threshold
    kinds: [environment]
    channel: temperature
    aggregate: avg
    window: 1m
    raise: "> 30"
    clear: "<= 28"
    severity: MAJOR
  - id: temperature-low
    type: threshold
    kinds: [environment]
    channel: temperature
    aggregate: avg
    window: 1m
    raise: "<= 5"
    severity: WARNING
  - id: errors
    type: error-burst
    perCode: true
    raise: ">= 3"
    severity: MAJOR
  - id: silent
    type: silence
    factor: 3
    minSilence: 1s
overrides:
  - rule: temperature-high
    match: { labels: { site: furnace } }
    set: { raise: "> 80", clear: "<= 75" }
  - rule: temperature-high
    match: { serials: [S-9] }
    set: { enabled: false }
`;

function engine() {
  const late = vi.fn();
  const e = new RuleEngine({ rules: parseRuleFile(RULES, 'yaml'), onLate: late });
  return { e, late };
}

/** One minute of temperature at 1 Hz, all at `v`. */
function minute(serial: string, minuteIdx: number, v: number): MeasurementBatch {
  return batch(serial, 'temperature', T0 + minuteIdx * 60 * S, 1, Array(60).fill(v));
}

describe('RuleEngine: threshold on the 1-minute average', () => {
  it('raises HIGH when a minute averages above 30, once, and does not clear while hovering between 28 and 30', () => {
    const { e } = engine();
    e.onState(state('S-1', 'environment', 'AWAKE'), 0);
    expect(e.onBatch(minute('S-1', 0, 31), 0)).toEqual([]); // window not closed yet
    const d1 = e.onBatch(minute('S-1', 1, 29), 0); // the first sample at 60 s closes [0, 60 s)
    expect(d1).toMatchObject([
      {
        kind: 'RAISE',
        serial: 'S-1',
        ruleId: 'temperature-high',
        ruleType: 'threshold',
        channel: 'temperature',
        severity: 'MAJOR',
        value: 31,
        threshold: 30,
        windowNs: 60e9,
        timeUs: T0 + 60 * S,
      },
    ]);
    expect(e.onBatch(minute('S-1', 2, 30), 0)).toEqual([]); // minute 1 avg 29: between limits, stays raised
    expect(e.onBatch(minute('S-1', 3, 31), 0)).toEqual([]); // minute 2 avg 30: not > 30, not <= 28
    expect(e.onBatch(minute('S-1', 4, 28), 0)).toEqual([]); // minute 3 avg 31: still the same episode
    const d2 = e.onBatch(minute('S-1', 5, 20), 0); // minute 4 avg 28 <= 28
    expect(d2).toMatchObject([
      { kind: 'CLEAR', ruleId: 'temperature-high', value: 28, timeUs: T0 + 300 * S },
    ]);
  });

  it('reports samples of an already closed window as late, without counting them', () => {
    const { e, late } = engine();
    e.onState(state('S-10', 'environment', 'AWAKE'), 0);
    e.onBatch(minute('S-10', 0, 20), 0);
    e.onBatch(minute('S-10', 1, 20), 0); // closes minute 0 (avg 20)
    // a redelivered or delayed batch for minute 0: late for both temperature rules
    expect(e.onBatch(batch('S-10', 'temperature', T0 + 30 * S, 1, [1000, 1000]), 0)).toEqual([]);
    expect(late).toHaveBeenCalledWith('threshold', 2);
    expect(late).toHaveBeenCalledTimes(2);
    expect(e.onBatch(minute('S-10', 2, 20), 0)).toEqual([]); // minute 1 is still avg 20: no HIGH
  });

  it('raises LOW at an average of exactly 5 and clears above it', () => {
    const { e } = engine();
    e.onState(state('S-2', 'environment', 'AWAKE'), 0);
    // 30 samples of 4 and 30 of 6 average exactly 5
    e.onBatch(batch('S-2', 'temperature', T0, 1, [...Array(30).fill(4), ...Array(30).fill(6)]), 0);
    expect(e.onBatch(minute('S-2', 1, 6), 0)).toMatchObject([
      { kind: 'RAISE', ruleId: 'temperature-low', value: 5 },
    ]);
    expect(e.onBatch(minute('S-2', 2, 6), 0)).toMatchObject([
      { kind: 'CLEAR', ruleId: 'temperature-low', value: 6 },
    ]);
  });

  it('applies label overrides, serial overrides and kind filters', () => {
    const { e } = engine();
    e.onState(state('S-3', 'environment', 'AWAKE', { site: 'furnace' }), 0);
    e.onState(state('S-9', 'environment', 'AWAKE'), 0);
    e.onState(state('S-4', 'pump', 'AWAKE'), 0);
    for (const s of ['S-3', 'S-9', 'S-4']) e.onBatch(minute(s, 0, 50), 0);
    expect(e.onBatch(minute('S-3', 1, 50), 0)).toEqual([]); // furnace: limit 80
    expect(e.onBatch(minute('S-9', 1, 50), 0)).toEqual([]); // disabled for this serial
    expect(e.onBatch(minute('S-4', 1, 50), 0)).toEqual([]); // pumps have no temperature rules
    e.onBatch(minute('S-3', 2, 81), 0);
    expect(e.onBatch(minute('S-3', 3, 81), 0)).toMatchObject([{ kind: 'RAISE', threshold: 80 }]);
  });

  it('keeps state across a reload that does not change the rule, and applies a changed limit', () => {
    const { e } = engine();
    e.onState(state('S-5', 'environment', 'AWAKE'), 0);
    e.onBatch(minute('S-5', 0, 31), 0);
    e.setRules(parseRuleFile(RULES, 'yaml'));
    expect(e.onBatch(minute('S-5', 1, 31), 0)).toMatchObject([{ kind: 'RAISE' }]); // window survived the reload
    e.setRules(
      parseRuleFile(
        RULES.replace('raise: "> 30"', 'raise: "> 40"').replace('version: 7', 'version: 8'),
        'yaml',
      ),
    );
    // the latch stays raised (alarm is open); the new limit applies to new windows
    e.onBatch(minute('S-5', 2, 27), 0);
    expect(e.onBatch(minute('S-5', 3, 27), 0)).toMatchObject([{ kind: 'CLEAR', value: 27 }]);
  });

  it('does not raise an alarm that is already open in the database, and can clear it', () => {
    const { e } = engine();
    e.markActive('S-6', 'temperature-high', 'temperature');
    e.onState(state('S-6', 'environment', 'AWAKE'), 0);
    e.onBatch(minute('S-6', 0, 35), 0);
    expect(e.onBatch(minute('S-6', 1, 20), 0)).toEqual([]);
    expect(e.onBatch(minute('S-6', 2, 20), 0)).toMatchObject([{ kind: 'CLEAR', ruleId: 'temperature-high' }]);
  });
});

describe('RuleEngine: open alarms of rules that went away', () => {
  it('clears them after a reload that removes the rule, and leaves the others', () => {
    const { e } = engine();
    e.markActive('S-11', 'temperature-high', 'temperature');
    e.markActive('S-11', 'no-such-rule', 'pressure');
    e.onState(state('S-11', 'environment', 'AWAKE'), 0);
    expect(e.orphans(5)).toMatchObject([
      {
        kind: 'CLEAR',
        serial: 'S-11',
        ruleId: 'no-such-rule',
        channel: 'pressure',
        ruleType: 'removed',
        timeUs: 5,
      },
    ]);
    expect(e.orphans(6)).toEqual([]); // once
    e.setRules(parseRuleFile(RULES.replace('id: temperature-high', 'id: temperature-hot'), 'yaml'));
    expect(e.orphans(7)).toMatchObject([{ ruleId: 'temperature-high', channel: 'temperature' }]);
  });
});

describe('RuleEngine: error bursts', () => {
  function logs(serial: string, entries: Array<[number, 'ERROR' | 'INFO', string]>): LogBatch {
    return {
      serial,
      sequence: 1,
      entries: entries.map(([t, level, errorCode]) => ({
        timeUs: t,
        level,
        errorCode,
        appVersion: '1',
        firmwareVersion: '1',
        message: 'm',
        component: '',
      })),
    };
  }

  it('emits the windowed count per code when the window closes, tolerates 3 s lateness, counts later events', () => {
    const { e, late } = engine();
    const at = (s: number) => T0 + s * S;
    expect(
      e.onLogs(
        logs('S-7', [
          [at(1), 'ERROR', 'C003'],
          [at(20), 'ERROR', 'C003'],
          [at(40), 'ERROR', 'C009'],
          [at(61), 'INFO', ''],
        ]),
        0,
      ),
    ).toEqual([]);
    // 2 s late for [0, 60): still counted, it is the third C003
    expect(e.onLogs(logs('S-7', [[at(59), 'ERROR', 'C003']]), 0)).toEqual([]);
    const d = e.onLogs(logs('S-7', [[at(63), 'INFO', '']]), 0); // watermark reaches 60 s
    expect(d).toMatchObject([
      {
        kind: 'RAISE',
        ruleId: 'errors',
        ruleType: 'error-burst',
        channel: 'C003',
        value: 3,
        threshold: 3,
        timeUs: at(60),
      },
    ]);
    expect(d[0]?.message).toContain('3 ERROR entries with code C003 in 1m');
    expect(e.onLogs(logs('S-7', [[at(58), 'ERROR', 'C003']]), 0)).toEqual([]);
    expect(late).toHaveBeenCalledWith('error-burst', 1);
    // next minute has one C003: count 1 < 3 clears
    e.onLogs(logs('S-7', [[at(70), 'ERROR', 'C003']]), 0);
    expect(e.onLogs(logs('S-7', [[at(125), 'INFO', '']]), 0)).toMatchObject([
      { kind: 'CLEAR', channel: 'C003', value: 1, timeUs: at(120) },
    ]);
  });
});

describe('RuleEngine: silence', () => {
  it('raises when an awake sensor sends nothing for period x factor (wall time), clears on data or sleep', () => {
    const { e } = engine();
    e.onState(state('S-8', 'environment', 'AWAKE'), 0);
    // 10 samples at 1 s: the next batch is due 10 s later; factor 3 -> 30 s
    e.onBatch(batch('S-8', 'humidity', T0, 1, Array(10).fill(50)), 100 * S);
    expect(e.tick(130 * S)).toEqual([]);
    const d = e.tick(130 * S + 1);
    expect(d).toMatchObject([{ kind: 'RAISE', ruleId: 'silent', channel: '', threshold: 30 }]);
    expect(e.tick(140 * S)).toEqual([]); // once
    expect(e.onBatch(batch('S-8', 'humidity', T0 + 40 * S, 1, [50]), 141 * S)).toMatchObject([
      { kind: 'CLEAR', ruleId: 'silent' },
    ]);
    // the gap between the two batches (40 s of sample time) is the new expected period: 3 x 40 s = 120 s
    expect(e.tick(261 * S)).toEqual([]);
    expect(e.tick(262 * S)).toMatchObject([{ kind: 'RAISE', threshold: 120 }]);
    expect(e.onState(state('S-8', 'environment', 'ASLEEP'), 263 * S)).toMatchObject([{ kind: 'CLEAR' }]);
    expect(e.tick(1000 * S)).toEqual([]); // asleep: silence is expected
  });
});

describe('RuleEngine: anomaly models', () => {
  it('persists dirty models and resumes them in a new engine', () => {
    const rules = parseRuleFile(
      'version: 1\nrules:\n  - { id: spike, type: anomaly, channel: vibration, zScore: 4, warmupSamples: 50, alpha: 0.05 }\n',
      'yaml',
    );
    const a = new RuleEngine({ rules });
    const noise = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % 11) / 100); // 1.00..1.10
    expect(a.onBatch(batch('V-1', 'vibration', T0, 0.01, noise), 0)).toEqual([]);
    const models = a.takeDirtyModels();
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({
      serial: 'V-1',
      channel: 'vibration',
      ruleId: 'spike',
      params: { count: 200 },
    });
    expect(a.takeDirtyModels()).toEqual([]); // clean until it learns again

    const b = new RuleEngine({ rules });
    b.loadModel(models[0] as (typeof models)[0]);
    // a trained model flags the very first spike (a fresh one would still be warming up)
    const d = b.onBatch(batch('V-1', 'vibration', T0 + 3 * S, 0.01, [1.05, 9]), 0);
    expect(d).toMatchObject([{ kind: 'RAISE', ruleId: 'spike', value: 9, timeUs: T0 + 3 * S + 10_000 }]);
    const fresh = new RuleEngine({ rules });
    expect(fresh.onBatch(batch('V-1', 'vibration', T0 + 3 * S, 0.01, [1.05, 9]), 0)).toEqual([]);
  });
});

describe('RuleEngine: bounded per-sensor state', () => {
  function bounded(maxSensors: number) {
    const evicted = { sensors: 0, parked: 0 };
    const e = new RuleEngine({
      rules: parseRuleFile(RULES, 'yaml'),
      maxSensors,
      onEvict: (what) => evicted[what]++,
    });
    return { e, evicted };
  }

  it('keeps at most maxSensors sensors under a flood of distinct serials', () => {
    const { e, evicted } = bounded(10);
    for (let i = 0; i < 1_000; i++) {
      e.onState(state(`flood-${i}`, 'environment', 'AWAKE'), 0);
      e.onBatch(minute(`flood-${i}`, 0, 20), 0);
    }
    expect(e.sensorCount).toBe(10);
    expect(evicted.sensors).toBe(990);
  });

  it('an evicted sensor resumes its open window where it was (set aside, and saved once)', () => {
    const { e } = bounded(5);
    e.onState(state('keep', 'environment', 'AWAKE'), 0);
    e.onBatch(batch('keep', 'temperature', T0, 1, Array(30).fill(50)), 0); // first half of minute 0
    for (let i = 0; i < 20; i++) e.onState(state(`other-${i}`, 'environment', 'AWAKE'), 0);
    expect(e.knowsSensor('keep')).toBe(false); // evicted
    // its unsaved window is handed out for saving although the sensor is gone
    expect(e.takeDirtyWindows('all').some((w) => w.serial === 'keep')).toBe(true);
    e.onState(state('keep', 'environment', 'AWAKE'), 0);
    e.onBatch(batch('keep', 'temperature', T0 + 30 * S, 1, Array(30).fill(20)), 0);
    // minute 0 averages (50 + 20) / 2 = 35 only if the first half survived the eviction
    expect(e.onBatch(minute('keep', 1, 20), 0)).toMatchObject([
      { kind: 'RAISE', serial: 'keep', ruleId: 'temperature-high', value: 35 },
    ]);
  });

  it('never evicts a sensor with an open alarm, so the alarm still clears', () => {
    const { e } = bounded(3);
    e.onState(state('hot', 'environment', 'AWAKE'), 0);
    e.onBatch(minute('hot', 0, 40), 0);
    expect(e.onBatch(minute('hot', 1, 20), 0)).toMatchObject([{ kind: 'RAISE', serial: 'hot' }]);
    for (let i = 0; i < 50; i++) e.onState(state(`other-${i}`, 'environment', 'AWAKE'), 0);
    expect(e.knowsSensor('hot')).toBe(true);
    expect(e.onBatch(minute('hot', 2, 20), 0)).toMatchObject([{ kind: 'CLEAR', serial: 'hot' }]);
  });
});
