import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { defaultRulesFile } from '../config.js';
import { compileRule, parseCondition, parseDurationUs, RuleValidationError } from './compile-rule.js';
import { parseRuleFile, RuleFileError, resolveRules } from './rule-set.js';

describe('parseRuleFile', () => {
  it('rejects a bad rule with the reason and keeps the others', () => {
    const set = parseRuleFile(
      `
version: "2026-11-26.1"
rules:
  - { id: ok, type: threshold, channel: temperature, raise: "> 30" }
  - { id: bad-window, type: threshold, channel: temperature, raise: "> 30", window: 1m, slide: 7s }
  - { id: bad-cond, type: rate-of-change, channel: pressure, raise: "above 5" }
  - { id: bad-type, type: crystal-ball }
  - { id: ok, type: silence }
  - { id: typo, type: silence, factr: 3 }
overrides:
  - { rule: ok, match: { serials: [A] }, set: { raise: "soon" } }
  - { rule: missing, match: { serials: [A] }, set: {} }
  - { rule: ok, match: {}, set: {} }
`,
      'yaml',
    );
    expect(set.version).toBe('2026-11-26.1');
    expect(set.rules.map((r) => r.id)).toEqual(['ok']);
    expect(set.overrides).toEqual([]);
    expect(set.problems).toEqual([
      { where: 'bad-window', reason: 'slide: must divide window evenly' },
      { where: 'bad-cond', reason: expect.stringContaining('raise: must be a comparison') },
      { where: 'bad-type', reason: expect.stringContaining('type: must be one of threshold') },
      { where: 'ok', reason: 'duplicate rule id (rules[4])' },
      { where: 'typo', reason: 'factr: unknown field for a silence rule' },
      {
        where: 'overrides[0]',
        reason: expect.stringContaining('makes rule ok invalid: raise: must be a comparison'),
      },
      { where: 'overrides[1]', reason: 'rule "missing" is not a valid rule in this file' },
      { where: 'overrides[2]', reason: 'match: must select something (serials, labels or kinds)' },
    ]);
  });

  it('reads JSON too and refuses a file without a version or rules list', () => {
    expect(parseRuleFile('{"version": 3, "rules": []}', 'json').version).toBe('3');
    expect(() => parseRuleFile('{"rules": []}', 'json')).toThrow(RuleFileError);
    expect(() => parseRuleFile('version: 1\nrules: {}', 'yaml')).toThrow(/rules: must be a list/);
    expect(() => parseRuleFile('version: [', 'yaml')).toThrow(/not valid YAML/);
  });

  it('takes the machine class of a vibration rule from the sensor label unless an override sets it', () => {
    const set = parseRuleFile(
      `
version: 1
rules:
  - { id: vib, type: vibration, machineClass: II, zone: D }
overrides:
  - { rule: vib, match: { serials: [P-2] }, set: { machineClass: I } }
  - { rule: vib, match: { labels: { machine: "crane*" } }, set: { machineClass: III } }
`,
      'yaml',
    );
    const classOf = (serial: string, labels: Record<string, string>) => {
      const r = resolveRules(set, { serial, kind: 'pump', labels })[0];
      return r?.type === 'vibration' ? r.machineClass : undefined;
    };
    expect(classOf('P-1', {})).toBe('II');
    expect(classOf('P-1', { machine_class: 'IV' })).toBe('IV');
    expect(classOf('P-1', { machine_class: 'XL' })).toBe('II');
    expect(classOf('P-2', { machine_class: 'IV' })).toBe('I');
    expect(classOf('C-1', { machine: 'crane-06' })).toBe('III'); // label prefix match
    expect(classOf('C-1', { machine: 'gantry-crane' })).toBe('II');
    expect(classOf('P-2', { machine: 'crane-07' })).toBe('I'); // the serial override is more specific
  });
});

describe('compileRule', () => {
  it('fills defaults: tumbling window, clear = negated raise, 3 s lateness for error bursts', () => {
    const r = compileRule({ id: 'e', type: 'error-burst', raise: '>= 10' });
    expect(r).toMatchObject({
      errorCode: '*',
      window: { sizeUs: 60e6, slideUs: 60e6, allowedLatenessUs: 3e6 },
      raise: { op: '>=', threshold: 10 },
      clear: { op: '<', threshold: 10 },
      severity: 'WARNING',
      actions: { notify: true },
    });
  });

  it('lists every problem of a rule at once', () => {
    try {
      compileRule({
        id: 'x',
        type: 'anomaly',
        alpha: 2,
        zScore: -1,
        command: { type: 'changesamplefrequency', sampleFrequencyHz: 0 },
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RuleValidationError);
      expect((err as RuleValidationError).reasons).toEqual([
        'command.sampleFrequencyHz: must be a number from 0.1 to 10000',
        'zScore: must be a number in (0, 1000)',
        'alpha: must be a number in (0, 1)',
      ]);
    }
  });

  it('parses durations and conditions', () => {
    expect(parseDurationUs('1m')).toBe(60e6);
    expect(parseDurationUs('1.5s')).toBe(1.5e6);
    expect(parseDurationUs(250)).toBe(250_000);
    expect(parseDurationUs('soon')).toBeUndefined();
    expect(parseCondition('<= -2.5')).toEqual({ op: '<=', threshold: -2.5 });
    expect(parseCondition('=> 3')).toBeUndefined();
  });
});

describe('the shipped rules', () => {
  it('rules/default.yaml loads with every rule valid (state-aware rate, time-based anomaly, device errors)', async () => {
    const set = parseRuleFile(await readFile(defaultRulesFile(), 'utf8'), 'yaml');
    expect(set.problems).toEqual([]);
    const byId = new Map(set.rules.map((r) => [r.id, r]));
    expect(byId.get('pressure-rate')).toMatchObject({ window: { sizeUs: 5e6 }, settleUs: 30e6 });
    expect(byId.get('process-anomaly')).toMatchObject({
      timeConstantUs: 10e6,
      settleUs: 60e6,
      model: 'ewma',
    });
    expect(byId.get('error-burst')).toMatchObject({ errorCode: '*', perCode: true });
    expect(byId.get('device-errors')).toMatchObject({ errorCode: '*', perCode: false });
  });
});
