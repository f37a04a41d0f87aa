import { parse as parseYaml } from 'yaml';
import { compileRule, RuleValidationError } from './compile-rule.js';
import type { MachineClass, Rule, RuleOverride, RuleProblem, RuleSet } from './rule-types.js';

const MACHINE_CLASSES = new Set(['I', 'II', 'III', 'IV']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reasonOf(err: unknown): string {
  if (err instanceof RuleValidationError) return err.reasons.join('; ');
  return err instanceof Error ? err.message : String(err);
}

/** What the resolver knows about a sensor. */
export interface SensorProfile {
  serial: string;
  /** Undefined until a SensorState or the sensors table told us. */
  kind?: string;
  labels: Record<string, string>;
}

/** Thrown when the file as a whole is unusable (not YAML/JSON, no `rules` list, no version). */
export class RuleFileError extends Error {
  readonly code = 'ALARM_RULE_FILE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'RuleFileError';
  }
}

/**
 * Parses and validates a rules file (YAML or JSON, chosen by `format`).
 * Each bad rule or override is left out and listed in `problems` with its
 * reason; the others are kept. Throws RuleFileError only when the file's
 * structure itself is wrong.
 */
export function parseRuleFile(text: string, format: 'yaml' | 'json'): RuleSet {
  let doc: unknown;
  try {
    doc = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RuleFileError(`not valid ${format.toUpperCase()}: ${err instanceof Error ? err.message : err}`);
  }
  if (!isRecord(doc)) throw new RuleFileError('the file must contain an object with version and rules');
  const version = doc.version;
  if ((typeof version !== 'string' && typeof version !== 'number') || String(version) === '') {
    throw new RuleFileError('version: must be a non-empty string or number');
  }
  if (!Array.isArray(doc.rules)) throw new RuleFileError('rules: must be a list');
  if (doc.overrides !== undefined && !Array.isArray(doc.overrides)) {
    throw new RuleFileError('overrides: must be a list');
  }
  for (const key of Object.keys(doc)) {
    if (!['version', 'rules', 'overrides'].includes(key))
      throw new RuleFileError(`${key}: unknown top-level field`);
  }

  const problems: RuleProblem[] = [];
  const rules: Rule[] = [];
  const raw = new Map<string, Record<string, unknown>>();
  for (const [i, r] of doc.rules.entries()) {
    const where = isRecord(r) && typeof r.id === 'string' ? r.id : `rules[${i}]`;
    if (!isRecord(r)) {
      problems.push({ where, reason: 'must be an object' });
      continue;
    }
    if (typeof r.id === 'string' && raw.has(r.id)) {
      problems.push({ where, reason: `duplicate rule id (rules[${i}])` });
      continue;
    }
    try {
      const rule = compileRule(r);
      raw.set(rule.id, r);
      if (r.enabled !== false) rules.push(rule);
    } catch (err) {
      problems.push({ where, reason: reasonOf(err) });
    }
  }

  const overrides: RuleOverride[] = [];
  for (const [index, o] of (doc.overrides ?? []).entries()) {
    const where = `overrides[${index}]`;
    const parsed = parseOverride(o, index);
    if (typeof parsed === 'string') {
      problems.push({ where, reason: parsed });
      continue;
    }
    const base = raw.get(parsed.rule);
    if (base === undefined) {
      problems.push({
        where,
        reason: `rule ${JSON.stringify(parsed.rule)} is not a valid rule in this file`,
      });
      continue;
    }
    try {
      compileRule({ ...base, ...parsed.set, id: base.id, type: base.type });
      overrides.push(parsed);
    } catch (err) {
      problems.push({ where, reason: `makes rule ${parsed.rule} invalid: ${reasonOf(err)}` });
    }
  }
  return { version: String(version), rules, raw, overrides, problems };
}

function parseOverride(o: unknown, index: number): RuleOverride | string {
  if (!isRecord(o)) return 'must be an object { rule, match, set }';
  if (typeof o.rule !== 'string' || o.rule === '') return 'rule: must be a rule id';
  if (!isRecord(o.match)) return 'match: must be an object with serials, labels and/or kinds';
  if (!isRecord(o.set)) return 'set: must be an object of rule fields';
  if ('id' in o.set || 'type' in o.set) return 'set: may not change id or type';
  const match: RuleOverride['match'] = {};
  const { serials, labels, kinds } = o.match;
  for (const key of Object.keys(o.match)) {
    if (!['serials', 'labels', 'kinds'].includes(key)) return `match.${key}: unknown field`;
  }
  if (serials !== undefined) {
    if (!Array.isArray(serials) || !serials.every((s) => typeof s === 'string')) {
      return 'match.serials: must be a list of serials';
    }
    match.serials = serials as string[];
  }
  if (kinds !== undefined) {
    if (!Array.isArray(kinds) || !kinds.every((s) => typeof s === 'string'))
      return 'match.kinds: must be a list';
    match.kinds = kinds as string[];
  }
  if (labels !== undefined) {
    if (!isRecord(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
      return 'match.labels: must be an object of strings';
    }
    match.labels = labels as Record<string, string>;
  }
  if (Object.keys(match).length === 0) return 'match: must select something (serials, labels or kinds)';
  return { index, rule: o.rule, match, set: o.set };
}

function overrideMatches(o: RuleOverride, p: SensorProfile): boolean {
  const { serials, labels, kinds } = o.match;
  if (serials && !serials.includes(p.serial)) return false;
  if (kinds && (p.kind === undefined || !kinds.includes(p.kind))) return false;
  if (labels) {
    for (const [k, v] of Object.entries(labels)) if (!labelMatches(p.labels[k], v)) return false;
  }
  return true;
}

/** `value` equals `pattern`, or starts with it when the pattern ends in `*` (`crane*` matches `crane-06`). */
function labelMatches(value: string | undefined, pattern: string): boolean {
  if (value === undefined) return false;
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

/** Specificity: label/kind overrides first, then serial overrides, each group in file order. */
function specificity(o: RuleOverride): number {
  return o.match.serials ? 1 : 0;
}

/**
 * The rules that apply to one sensor: rules whose `kinds` include the
 * sensor's kind (or list none; a sensor of unknown kind gets every rule, the
 * channel filter still applies), with matching overrides merged in. A vibration
 * rule takes the machine class from the sensor label `machine_class` unless an
 * override set it.
 */
export function resolveRules(set: RuleSet, profile: SensorProfile): Rule[] {
  const out: Rule[] = [];
  const applicable = set.overrides.filter((o) => overrideMatches(o, profile));
  applicable.sort((a, b) => specificity(a) - specificity(b) || a.index - b.index);
  for (const [id, base] of set.raw) {
    let merged: Record<string, unknown> = base;
    for (const o of applicable) if (o.rule === id) merged = { ...merged, ...o.set };
    const labelClass = profile.labels.machine_class;
    const overriddenClass = applicable.some((o) => o.rule === id && 'machineClass' in o.set);
    if (base.type === 'vibration' && !overriddenClass && labelClass && MACHINE_CLASSES.has(labelClass)) {
      merged = { ...merged, machineClass: labelClass as MachineClass };
    }
    if (merged.enabled === false) continue;
    let rule: Rule;
    try {
      rule = merged === base ? (set.rules.find((r) => r.id === id) as Rule) : compileRule(merged);
    } catch {
      // Overrides were validated one by one at load; a combination that fails keeps the base rule.
      const baseRule = set.rules.find((r) => r.id === id);
      if (!baseRule) continue;
      rule = baseRule;
    }
    if (rule === undefined) continue;
    if (rule.kinds.length > 0 && profile.kind !== undefined && !rule.kinds.includes(profile.kind)) continue;
    out.push(rule);
  }
  return out;
}
