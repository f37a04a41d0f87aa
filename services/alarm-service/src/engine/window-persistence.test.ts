import type { LogBatch, LogEntry } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import { parseRuleFile } from '../rules/rule-set.js';
import { RuleEngine, type WindowStateSnapshot } from './rule-engine.js';

const S = 1_000_000;
const T0 = 1_700_000_040 * S; // a whole minute
const RULES = `
version: w-1
rules:
  - id: burst
    type: error-burst
    perCode: true
    window: 1m
    allowedLateness: 3s
    raise: ">= 10"
  - id: hot
    type: threshold
    channel: temperature
    window: 1m
    raise: "> 30"
`;
const rules = () => parseRuleFile(RULES, 'yaml');

const entry = (timeUs: number, level: LogEntry['level'] = 'ERROR'): LogEntry => ({
  timeUs,
  level,
  errorCode: level === 'ERROR' ? 'C004' : '',
  appVersion: '1',
  firmwareVersion: '1',
  message: 'x',
  component: 'c',
});
const logs = (entries: LogEntry[]): LogBatch => ({ serial: 'dev-1', sequence: 1, entries });

/** Saves like the service: the dirty windows into a "table". */
function save(engine: RuleEngine, table: Map<string, WindowStateSnapshot>, which: 'errors' | 'all'): void {
  for (const w of engine.takeDirtyWindows(which)) {
    const k = `${w.serial}/${w.ruleId}/${w.channel}`;
    if (w.state === null) table.delete(k);
    else table.set(k, JSON.parse(JSON.stringify(w)) as WindowStateSnapshot);
  }
}

describe('RuleEngine: open windows survive a restart', () => {
  it('6 ERRORs before a restart and 6 after raise the burst once, with the count of all 12', () => {
    const table = new Map<string, WindowStateSnapshot>();
    const a = new RuleEngine({ rules: rules() });
    const first = Array.from({ length: 6 }, (_, i) => entry(T0 + (i + 1) * S));
    expect(a.onLogs(logs(first), T0 + 7 * S)).toEqual([]);
    save(a, table, 'errors');
    expect(table.size).toBe(1);

    const b = new RuleEngine({ rules: rules() });
    for (const w of table.values()) b.loadWindow(w);
    b.materializeWindows();
    // the batch that was in flight at the crash comes again: counted once
    expect(b.onLogs(logs(first.slice(3)), T0 + 20 * S)).toEqual([]);
    const second = Array.from({ length: 6 }, (_, i) => entry(T0 + (30 + i) * S));
    expect(b.onLogs(logs(second), T0 + 40 * S)).toEqual([]);
    const out = b.onLogs(logs([entry(T0 + 64 * S, 'INFO')]), T0 + 64 * S);
    expect(out.map((d) => [d.kind, d.ruleId, d.channel, d.value])).toEqual([['RAISE', 'burst', 'C004', 12]]);
    save(b, table, 'errors');
    expect(table.size).toBe(0); // nothing open any more
  });

  it('without the saved windows the same 12 ERRORs raise nothing (the test can fail)', () => {
    const b = new RuleEngine({ rules: rules() });
    const second = Array.from({ length: 6 }, (_, i) => entry(T0 + (30 + i) * S));
    b.onLogs(logs(second), T0 + 40 * S);
    expect(b.onLogs(logs([entry(T0 + 64 * S, 'INFO')]), T0 + 64 * S)).toEqual([]);
  });

  it('a saved window of a sensor that never sends again still closes on the wall-clock watermark', () => {
    const table = new Map<string, WindowStateSnapshot>();
    const a = new RuleEngine({ rules: rules() });
    a.onLogs(logs(Array.from({ length: 10 }, (_, i) => entry(T0 + (i + 1) * S))), T0 + 11 * S);
    save(a, table, 'errors');
    const b = new RuleEngine({ rules: rules() });
    for (const w of table.values()) b.loadWindow(w);
    b.materializeWindows();
    expect(b.tick(T0 + 30 * S)).toEqual([]);
    expect(b.tick(T0 + 70 * S).map((d) => [d.kind, d.value])).toEqual([['RAISE', 10]]);
  });

  it('continues a minute average across a restart', () => {
    const table = new Map<string, WindowStateSnapshot>();
    const batch = (startUs: number, values: number[]) => ({
      serial: 'env-1',
      channel: 'temperature',
      unit: 'degC',
      sequence: 1,
      firstSampleTimeUs: startUs,
      samplePeriodNs: 1e9,
      values,
    });
    const a = new RuleEngine({ rules: rules() });
    a.onBatch(batch(T0, Array(30).fill(40)), T0 + 30 * S);
    save(a, table, 'all');
    const b = new RuleEngine({ rules: rules() });
    for (const w of table.values()) b.loadWindow(w);
    const out = b.onBatch(batch(T0 + 30 * S, [...Array(30).fill(25), 25]), T0 + 61 * S);
    // (30 * 40 + 30 * 25) / 60 = 32.5 > 30; without the first half it would be 25
    expect(out.map((d) => [d.kind, d.ruleId, d.value])).toEqual([['RAISE', 'hot', 32.5]]);
  });
});

describe('RuleEngine: error bursts over all codes of a device', () => {
  it('errorCode "*" counts every code together (channel all-codes); perCode counts each code', () => {
    const file = `
version: all-1
rules:
  - { id: device, type: error-burst, errorCode: "*", raise: ">= 6" }
  - { id: each, type: error-burst, errorCode: "*", perCode: true, raise: ">= 6" }
`;
    const engine = new RuleEngine({ rules: parseRuleFile(file, 'yaml') });
    const mixed = Array.from({ length: 6 }, (_, i) => ({
      ...entry(T0 + (i + 1) * S),
      errorCode: `C00${i % 3}`,
    }));
    engine.onLogs(logs(mixed), T0 + 7 * S);
    const out = engine.onLogs(logs([entry(T0 + 64 * S, 'INFO')]), T0 + 64 * S);
    // 6 errors of 3 codes: the device rule raises (6 together), the per-code rule does not (2 each)
    expect(out.map((d) => [d.kind, d.ruleId, d.channel, d.value, d.message])).toEqual([
      ['RAISE', 'device', 'all-codes', 6, '6 ERROR entries (all codes) in 1m'],
    ]);
  });
});

describe('RuleEngine: the wall-clock watermark', () => {
  it('closes the last minute of a sensor that stopped sending, so it is evaluated', () => {
    const engine = new RuleEngine({ rules: rules() });
    const out = engine.onBatch(
      {
        serial: 'env-9',
        channel: 'temperature',
        unit: 'degC',
        sequence: 1,
        firstSampleTimeUs: T0,
        samplePeriodNs: 1e9,
        values: Array(40).fill(45),
      },
      T0 + 40 * S,
    );
    expect(out).toEqual([]); // the minute is still open: nothing more comes
    // not yet: a batch may be late; after a 5 s grace the sensor's clock is assumed to run on
    expect(engine.tick(T0 + 62 * S)).toEqual([]); // 39 s + (62 - 40 - 5) s = 56 s < 60 s
    expect(engine.tick(T0 + 66 * S).map((d) => [d.kind, d.ruleId, d.value, d.timeUs])).toEqual([
      ['RAISE', 'hot', 45, T0 + 60 * S],
    ]);
  });
});
