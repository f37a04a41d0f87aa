import type { MeasurementBatch, SensorState } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import { parseRuleFile } from '../rules/rule-set.js';
import { createProcessSignal } from '../testing/signals.js';
import { type AlarmDecision, RuleEngine } from './rule-engine.js';

const S = 1_000_000;
const T0 = 1_700_000_040 * S;
const SERIAL = 'proc-1';

// The shipped process rules (rules/default.yaml), with a short silence limit.
const RULES = `
version: ops-1
rules:
  - id: process-anomaly
    type: anomaly
    kinds: [process]
    channel: "*"
    alpha: 0.01
    timeConstant: 10s
    zScore: 8
    clearZScore: 4
    warmupSamples: 600
    clearFor: 30s
  - id: pressure-rate
    type: rate-of-change
    kinds: [process]
    channel: pressure
    window: 5s
    raise: "> 200"
    clear: "<= 50"
    clearFor: 10s
  - id: silence
    type: silence
    factor: 3
    minSilence: 30s
`;

function state(s: SensorState['state'], hz: number, timeUs: number): SensorState {
  return {
    serial: SERIAL,
    kind: 'process',
    channels: ['pressure'],
    firmware: '1',
    state: s,
    sampleFrequencyHz: hz,
    uptimeS: 1,
    reason: 'CHANGE',
    timeUs,
    labels: {},
    minFrequencyHz: 0.1,
    maxFrequencyHz: 1000,
  };
}

/** Drives an engine like the service: one batch per second of samples, a tick every second (wall = event time). */
function run(opts: { reportSleep: boolean }): AlarmDecision[] {
  const engine = new RuleEngine({ rules: parseRuleFile(RULES, 'yaml') });
  const signal = createProcessSignal(3, 440);
  const out: AlarmDecision[] = [];
  let hz = 10;
  let seq = 0;
  const second = (t: number) => {
    const values: number[] = [];
    for (let i = 0; i < hz; i++) values.push(signal(t + (i * S) / hz));
    const b: MeasurementBatch = {
      serial: SERIAL,
      channel: 'pressure',
      unit: 'kPa',
      sequence: ++seq,
      firstSampleTimeUs: t,
      samplePeriodNs: 1e9 / hz,
      values,
    };
    out.push(...engine.onBatch(b, t + S), ...engine.tick(t + S));
  };
  out.push(...engine.onState({ ...state('AWAKE', 10, T0), reason: 'BIRTH' }, T0));
  let t = T0;
  for (; t < T0 + 180 * S; t += S) second(t); // 3 min at 10 Hz: the model is warm
  if (opts.reportSleep) out.push(...engine.onState(state('ASLEEP', 10, t), t));
  for (const end = t + 300 * S; t < end; t += S) out.push(...engine.tick(t + S)); // 5 min asleep
  out.push(...engine.onState(state('AWAKE', 10, t), t));
  for (const end = t + 120 * S; t < end; t += S) second(t); // the cycle moved on meanwhile
  hz = 1000; // x100
  out.push(...engine.onState(state('AWAKE', hz, t), t));
  for (const end = t + 120 * S; t < end; t += S) second(t);
  hz = 10;
  out.push(...engine.onState(state('AWAKE', hz, t), t));
  for (const end = t + 120 * S; t < end; t += S) second(t);
  return out;
}

describe('RuleEngine: operator actions raise no alarm', () => {
  it('sleep 5 min, wake, x100 sample rate and back: no silence, anomaly or rate alarm', () => {
    const decisions = run({ reportSleep: true });
    expect(decisions.map((d) => `${d.kind} ${d.ruleId}: ${d.message}`)).toEqual([]);
  });

  it('the same silence without a reported sleep does raise (the rules are live)', () => {
    const decisions = run({ reportSleep: false });
    expect(decisions.filter((d) => d.kind === 'RAISE').map((d) => d.ruleId)).toContain('silence');
  });

  it('a sleep order makes silence expected before the sensor confirms it; an expired order does not', () => {
    const engine = new RuleEngine({ rules: parseRuleFile(RULES, 'yaml') });
    engine.onState(state('AWAKE', 10, T0), T0);
    engine.onCommand(
      {
        commandId: 'c1',
        serial: SERIAL,
        type: 'sleep',
        issuedAtUs: T0,
        expiresAtUs: T0 + 120 * S,
        issuedBy: 'x',
      },
      T0,
    );
    expect(engine.tick(T0 + 100 * S)).toEqual([]);
    // the order expired unapplied: the silence clock restarts from then
    expect(engine.tick(T0 + 121 * S)).toEqual([]);
    expect(engine.tick(T0 + 160 * S).map((d) => d.kind)).toEqual(['RAISE']);
  });

  it('a real pressure jump during normal operation is still raised by the rate rule', () => {
    const engine = new RuleEngine({ rules: parseRuleFile(RULES, 'yaml') });
    engine.onState(state('AWAKE', 10, T0), T0);
    const signal = createProcessSignal(5);
    const out: AlarmDecision[] = [];
    for (let s = 0; s < 120; s++) {
      const t = T0 + s * S;
      const values = Array.from(
        { length: 10 },
        (_, i) => signal(t + i * 0.1 * S) + (s >= 100 ? 400 * (s - 100 + i / 10) : 0),
      );
      out.push(
        ...engine.onBatch(
          {
            serial: SERIAL,
            channel: 'pressure',
            unit: 'kPa',
            sequence: s,
            firstSampleTimeUs: t,
            samplePeriodNs: 1e8,
            values,
          },
          t + S,
        ),
      );
    }
    expect(out.filter((d) => d.kind === 'RAISE').map((d) => d.ruleId)).toContain('pressure-rate');
  });
});
