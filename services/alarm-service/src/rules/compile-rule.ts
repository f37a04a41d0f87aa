import type { AlarmSeverity, CommandType } from '@sensor-streaming/protocol';
import {
  type Aggregate,
  type CompareOp,
  type Condition,
  type MachineClass,
  negate,
  RULE_TYPES,
  type Rule,
  type RuleActions,
  type RuleType,
  type VibrationZone,
  type WindowSpec,
} from './rule-types.js';

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SEVERITIES: readonly AlarmSeverity[] = ['INFO', 'WARNING', 'MAJOR', 'CRITICAL'];
const AGGREGATES: readonly Aggregate[] = ['min', 'max', 'avg', 'rms'];
const COMMAND_TYPES: readonly CommandType[] = ['sleep', 'awake', 'changesamplefrequency'];
const MACHINE_CLASSES: readonly MachineClass[] = ['I', 'II', 'III', 'IV'];
const ZONES: readonly VibrationZone[] = ['B', 'C', 'D'];
const DURATION = /^(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?$/;
const UNIT_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };
const CONDITION = /^(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/i;
const COMMON_FIELDS = [
  'id',
  'type',
  'severity',
  'description',
  'kinds',
  'raiseFor',
  'clearFor',
  'notify',
  'command',
  'enabled',
  'chatter',
];
const FIELDS: Record<RuleType, string[]> = {
  threshold: ['channel', 'aggregate', 'window', 'slide', 'allowedLateness', 'raise', 'clear'],
  'rate-of-change': ['channel', 'window', 'raise', 'clear', 'settle'],
  anomaly: [
    'channel',
    'alpha',
    'zScore',
    'clearZScore',
    'warmupSamples',
    'minStdDev',
    'timeConstant',
    'settle',
    'model',
    'window',
  ],
  vibration: ['channel', 'machineClass', 'zone', 'window', 'slide', 'allowedLateness', 'clearRatio'],
  'error-burst': ['errorCode', 'perCode', 'window', 'allowedLateness', 'raise', 'clear'],
  silence: ['factor', 'minSilence'],
};

/** A rule that cannot be used, with every reason found. */
export class RuleValidationError extends Error {
  readonly code = 'ALARM_RULE_INVALID';
  readonly permanent = true;
  constructor(
    readonly ruleId: string,
    readonly reasons: string[],
  ) {
    super(`rule ${ruleId}: ${reasons.join('; ')}`);
    this.name = 'RuleValidationError';
  }
}

/** Parses `"500ms"`, `"5s"`, `"1m"`, `"2h"`, `"250us"` or a number of milliseconds into microseconds. */
export function parseDurationUs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = DURATION.exec(v.trim().toLowerCase());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNIT_US[m[2] ?? 'ms'] ?? 1e3));
}

/** Parses `"> 30"`, `">= 2.5"`, `"< -5"`, `"<= 0"`. */
export function parseCondition(v: unknown): Condition | undefined {
  if (typeof v !== 'string') return undefined;
  const m = CONDITION.exec(v.trim());
  if (!m) return undefined;
  const threshold = Number(m[2]);
  if (!Number.isFinite(threshold)) return undefined;
  return { op: m[1] as CompareOp, threshold };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates one raw rule (as read from the rules file, after overrides were
 * merged) and returns the typed rule. Throws RuleValidationError listing every
 * problem, each naming its field.
 */
export function compileRule(raw: Record<string, unknown>): Rule {
  const problems: string[] = [];
  const id = typeof raw.id === 'string' && RULE_ID.test(raw.id) ? raw.id : undefined;
  if (id === undefined) problems.push(`id: must match ${RULE_ID.source}`);
  const type = RULE_TYPES.includes(raw.type as RuleType) ? (raw.type as RuleType) : undefined;
  if (type === undefined) problems.push(`type: must be one of ${RULE_TYPES.join(', ')}`);
  const fail = (): never => {
    throw new RuleValidationError(id ?? String(raw.id ?? '?'), problems);
  };
  if (type === undefined) fail();
  const ruleType = type as RuleType;

  const allowed = new Set([...COMMON_FIELDS, ...FIELDS[ruleType]]);
  for (const key of Object.keys(raw)) {
    if (!allowed.has(key)) problems.push(`${key}: unknown field for a ${ruleType} rule`);
  }

  function str(field: string, def?: string, pattern?: RegExp): string {
    const v = raw[field] ?? def;
    if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v))) {
      problems.push(`${field}: must be a non-empty string${pattern ? ` matching ${pattern.source}` : ''}`);
      return '';
    }
    return v;
  }
  function num(field: string, def: number | undefined, min: number, max: number, exclusive = false): number {
    const v = raw[field] ?? def;
    const ok =
      typeof v === 'number' && Number.isFinite(v) && (exclusive ? v > min && v < max : v >= min && v <= max);
    if (!ok) {
      problems.push(
        `${field}: must be a number ${exclusive ? `in (${min}, ${max})` : `from ${min} to ${max}`}`,
      );
      return def ?? min;
    }
    return v as number;
  }
  function duration(field: string, def: string | undefined, minUs = 0): number {
    const v = raw[field] ?? def;
    const us = parseDurationUs(v);
    if (us === undefined || us < minUs) {
      problems.push(
        `${field}: must be a duration like 500ms, 5s, 1m${minUs > 0 ? ` of at least ${minUs / 1000} ms` : ''}`,
      );
      return minUs;
    }
    return us;
  }
  function oneOf<T extends string>(field: string, values: readonly T[], def?: T): T {
    const v = raw[field] ?? def;
    if (!values.includes(v as T)) {
      problems.push(`${field}: must be one of ${values.join(', ')}`);
      return values[0] as T;
    }
    return v as T;
  }
  function condition(field: string, fallback?: Condition): Condition {
    if (raw[field] === undefined && fallback) return fallback;
    const c = parseCondition(raw[field]);
    if (!c) {
      problems.push(`${field}: must be a comparison like "> 30", ">= 5", "< 0.5" or "<= -10"`);
      return { op: '>', threshold: 0 };
    }
    return c;
  }
  function window(sizeDefault?: string, latenessDefault = '0s'): WindowSpec {
    const sizeUs = duration('window', sizeDefault, 1000);
    const slideUs = raw.slide === undefined ? sizeUs : duration('slide', undefined, 1000);
    if (slideUs > 0 && sizeUs % slideUs !== 0) problems.push('slide: must divide window evenly');
    if (sizeUs / Math.max(slideUs, 1) > 1000) problems.push('slide: at most 1000 slides per window');
    return { sizeUs, slideUs, allowedLatenessUs: duration('allowedLateness', latenessDefault) };
  }

  const kinds = raw.kinds ?? [];
  if (!Array.isArray(kinds) || !kinds.every((k) => typeof k === 'string' && k !== '')) {
    problems.push('kinds: must be a list of sensor kinds');
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    problems.push('description: must be a string');
  }
  if (raw.notify !== undefined && typeof raw.notify !== 'boolean')
    problems.push('notify: must be true or false');
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') {
    problems.push('enabled: must be true or false');
  }
  const actions: RuleActions = { notify: raw.notify !== false };
  if (raw.command !== undefined) {
    const c = raw.command;
    if (!isRecord(c)) {
      problems.push('command: must be an object { type, sampleFrequencyHz?, ttl? }');
    } else {
      const ctype = c.type as CommandType;
      if (!COMMAND_TYPES.includes(ctype))
        problems.push(`command.type: must be one of ${COMMAND_TYPES.join(', ')}`);
      const ttlUs = parseDurationUs(c.ttl ?? '60s');
      if (ttlUs === undefined || ttlUs < 1000)
        problems.push('command.ttl: must be a duration of at least 1 ms');
      const action: RuleActions['command'] = { type: ctype, ttlMs: Math.round((ttlUs ?? 60e6) / 1000) };
      if (ctype === 'changesamplefrequency') {
        const hz = c.sampleFrequencyHz;
        if (typeof hz !== 'number' || !Number.isFinite(hz) || hz < 0.1 || hz > 10_000) {
          problems.push('command.sampleFrequencyHz: must be a number from 0.1 to 10000');
        } else {
          action.sampleFrequencyHz = hz;
        }
      } else if (c.sampleFrequencyHz !== undefined) {
        problems.push(`command.sampleFrequencyHz: only valid with changesamplefrequency`);
      }
      for (const key of Object.keys(c)) {
        if (!['type', 'sampleFrequencyHz', 'ttl'].includes(key))
          problems.push(`command.${key}: unknown field`);
      }
      actions.command = action;
    }
  }

  // Chattering (ISA-18.2 TR: 3 or more raises within a minute) is on unless `chatter: false`.
  let chatter: { raises: number; withinUs: number } | undefined = { raises: 3, withinUs: 60e6 };
  if (raw.chatter === false) chatter = undefined;
  else if (raw.chatter !== undefined) {
    const c = raw.chatter;
    if (!isRecord(c)) problems.push('chatter: must be false or { raises, within }');
    else {
      const raises = c.raises ?? 3;
      const withinUs = parseDurationUs(c.within ?? '1m');
      if (typeof raises !== 'number' || !Number.isInteger(raises) || raises < 2 || raises > 1000)
        problems.push('chatter.raises: must be an integer from 2 to 1000');
      if (withinUs === undefined || withinUs < 1e6)
        problems.push('chatter.within: must be a duration of at least 1s');
      for (const key of Object.keys(c))
        if (key !== 'raises' && key !== 'within') problems.push(`chatter.${key}: unknown field`);
      chatter = { raises: typeof raises === 'number' ? raises : 3, withinUs: withinUs ?? 60e6 };
    }
  }

  const base = {
    id: id ?? '',
    ...(chatter === undefined ? {} : { chatter }),
    severity: oneOf('severity', SEVERITIES, 'WARNING'),
    description: typeof raw.description === 'string' ? raw.description : '',
    kinds: Array.isArray(kinds) ? (kinds as string[]) : [],
    raiseForUs: duration('raiseFor', '0s'),
    clearForUs: duration('clearFor', '0s'),
    actions,
  };

  let rule: Rule;
  switch (ruleType) {
    case 'threshold': {
      const raise = condition('raise');
      rule = {
        ...base,
        type: 'threshold',
        channel: str('channel'),
        aggregate: oneOf('aggregate', AGGREGATES, 'avg'),
        window: window('1m'),
        raise,
        clear: condition('clear', negate(raise)),
      };
      break;
    }
    case 'rate-of-change': {
      const raise = condition('raise');
      rule = {
        ...base,
        type: 'rate-of-change',
        channel: str('channel'),
        window: (() => {
          const sizeUs = duration('window', '5s', 1000);
          return { sizeUs, slideUs: sizeUs, allowedLatenessUs: 0 };
        })(),
        raise,
        clear: condition('clear', negate(raise)),
        settleUs: duration('settle', '30s'),
      };
      break;
    }
    case 'anomaly': {
      const zScore = num('zScore', 4, 0, 1000, true);
      rule = {
        ...base,
        type: 'anomaly',
        channel: str('channel', '*'),
        alpha: num('alpha', 0.01, 0, 1, true),
        zScore,
        clearZScore: num('clearZScore', Math.max(zScore / 2, 0), 0, zScore),
        warmupSamples: Math.round(num('warmupSamples', 100, 2, 1e9)),
        minStdDev: num('minStdDev', 1e-6, 0, 1e12),
        timeConstantUs: duration('timeConstant', '0s'),
        settleUs: duration('settle', '60s'),
        model: oneOf('model', ['ewma', 'mad'] as const, 'ewma'),
        windowUs: duration('window', '60s', 1e6),
      };
      break;
    }
    case 'vibration':
      rule = {
        ...base,
        type: 'vibration',
        channel: str('channel', 'vibration'),
        machineClass: oneOf('machineClass', MACHINE_CLASSES, 'II'),
        zone: oneOf('zone', ZONES, 'C'),
        window: window('1s'),
        clearRatio: num('clearRatio', 0.9, 0, 1, false),
      };
      break;
    case 'error-burst': {
      const raise = condition('raise');
      const w = window('1m', '3s');
      if (raw.slide !== undefined) problems.push('slide: error-burst windows are tumbling');
      rule = {
        ...base,
        type: 'error-burst',
        errorCode: str('errorCode', '*'),
        perCode: (() => {
          if (raw.perCode !== undefined && typeof raw.perCode !== 'boolean')
            problems.push('perCode: must be true or false');
          return raw.perCode === true;
        })(),
        window: { ...w, slideUs: w.sizeUs },
        raise,
        clear: condition('clear', negate(raise)),
      };
      break;
    }
    case 'silence':
      rule = {
        ...base,
        type: 'silence',
        factor: num('factor', 3, 1, 1e6),
        minSilenceUs: duration('minSilence', '5s'),
      };
      break;
  }
  if (problems.length > 0) fail();
  return rule;
}
