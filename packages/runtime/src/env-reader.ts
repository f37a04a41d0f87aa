import { ConfigError } from './config-error.js';
import { redactUrl } from './redact-url.js';

export interface RangeOptions {
  min?: number;
  max?: number;
}
export interface UrlOptions {
  /** Allowed protocols, with or without the trailing colon: `['amqp', 'amqps']`. */
  protocols?: readonly string[];
}
export interface ListOptions {
  separator?: string;
  minItems?: number;
}
export interface StringOptions {
  /** Never echo the value in error messages (also implied by names like *PASSWORD*, *SECRET*, *TOKEN*). */
  secret?: boolean;
  pattern?: RegExp;
}

/**
 * Typed readers over an environment. Each reader returns the parsed value (or
 * its default) and records a problem instead of throwing; `done()` throws one
 * {@link ConfigError} listing every problem. A variable set to the empty
 * string counts as unset. A reader called without a default makes the
 * variable required.
 *
 * ```ts
 * const r = readEnv(env);
 * const cfg = { batch: r.int('BATCH_SIZE', 500, { min: 1 }), url: r.url('AMQP_URL', 'amqp://localhost') };
 * r.done(); // throws ConfigError naming every bad variable
 * ```
 */
export interface EnvReader {
  has(name: string): boolean;
  string(name: string, def?: string, opts?: StringOptions): string;
  int(name: string, def?: number, opts?: RangeOptions): number;
  number(name: string, def?: number, opts?: RangeOptions): number;
  bool(name: string, def?: boolean): boolean;
  url(name: string, def?: string, opts?: UrlOptions): string;
  enum<T extends string>(name: string, values: readonly T[], def?: T): T;
  list(name: string, def?: readonly string[], opts?: ListOptions): string[];
  /** Milliseconds: `"250"` (plain ms), `"500ms"`, `"5s"`, `"2m"`, `"1h"`, `"1.5s"`. */
  duration(name: string, defMs?: number, opts?: RangeOptions): number;
  /** Records a problem of your own (cross-field checks). */
  problem(name: string, why: string): void;
  readonly problems: readonly string[];
  /** Throws a ConfigError if any reader recorded a problem. */
  done(): void;
}

const SECRET_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL/i;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function show(value: string): string {
  const v = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(v);
}

function checkRange(value: number, opts: RangeOptions | undefined): string | undefined {
  if (opts?.min !== undefined && value < opts.min) return `must be >= ${opts.min}`;
  if (opts?.max !== undefined && value > opts.max) return `must be <= ${opts.max}`;
  return undefined;
}

export function readEnv(env: NodeJS.ProcessEnv): EnvReader {
  const problems: string[] = [];
  const problem = (name: string, why: string): void => {
    problems.push(`${name}: ${why}`);
  };

  /** Raw value or undefined; records "required" when missing and no default. */
  function raw(name: string, hasDefault: boolean): string | undefined {
    const v = env[name];
    if (v === undefined || v.trim() === '') {
      if (!hasDefault) problem(name, 'is required but not set');
      return undefined;
    }
    return v.trim();
  }

  function parseRanged(
    name: string,
    def: number | undefined,
    opts: RangeOptions | undefined,
    parse: (v: string) => number | undefined,
    what: string,
  ): number {
    const v = raw(name, def !== undefined);
    if (v === undefined) return def ?? 0;
    const n = parse(v);
    if (n === undefined) {
      problem(name, `must be ${what}, got ${show(v)}`);
      return def ?? 0;
    }
    const bad = checkRange(n, opts);
    if (bad) {
      problem(name, `${bad}, got ${n}`);
      return def ?? n;
    }
    return n;
  }

  return {
    has: (name) => env[name] !== undefined && env[name]?.trim() !== '',
    string(name, def, opts) {
      const v = raw(name, def !== undefined);
      if (v === undefined) return def ?? '';
      if (opts?.pattern && !opts.pattern.test(v)) {
        const secret = opts.secret === true || SECRET_NAME.test(name);
        problem(name, `must match ${opts.pattern}${secret ? '' : `, got ${show(v)}`}`);
        return def ?? v;
      }
      return v;
    },
    int: (name, def, opts) =>
      parseRanged(
        name,
        def,
        opts,
        (v) => (/^[+-]?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : undefined),
        'an integer',
      ),
    number: (name, def, opts) =>
      parseRanged(
        name,
        def,
        opts,
        (v) => {
          const n = Number(v);
          return Number.isFinite(n) ? n : undefined;
        },
        'a finite number',
      ),
    duration: (name, defMs, opts) =>
      parseRanged(
        name,
        defMs,
        opts,
        (v) => {
          const m = DURATION.exec(v.toLowerCase());
          if (!m) return undefined;
          return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1));
        },
        'a duration like 500ms, 5s, 2m, 1h or plain milliseconds',
      ),
    bool(name, def) {
      const v = raw(name, def !== undefined);
      if (v === undefined) return def ?? false;
      const l = v.toLowerCase();
      if (TRUE.has(l)) return true;
      if (FALSE.has(l)) return false;
      problem(name, `must be a boolean (true/false, 1/0, yes/no, on/off), got ${show(v)}`);
      return def ?? false;
    },
    url(name, def, opts) {
      const v = raw(name, def !== undefined);
      if (v === undefined) return def ?? '';
      let parsed: URL;
      try {
        parsed = new URL(v);
      } catch {
        // Do not echo: a malformed URL may still carry a password.
        problem(name, 'is not a valid URL');
        return def ?? v;
      }
      const allowed = opts?.protocols?.map((p) => (p.endsWith(':') ? p : `${p}:`));
      if (allowed && !allowed.includes(parsed.protocol)) {
        problem(
          name,
          `protocol must be one of ${allowed.join(', ')}, got ${parsed.protocol} (${redactUrl(v)})`,
        );
        return def ?? v;
      }
      return v;
    },
    enum<T extends string>(name: string, values: readonly T[], def?: T): T {
      const v = raw(name, def !== undefined);
      if (v === undefined) return def ?? (values[0] as T);
      if ((values as readonly string[]).includes(v)) return v as T;
      problem(name, `must be one of ${values.join(', ')}, got ${show(v)}`);
      return def ?? (values[0] as T);
    },
    list(name, def, opts) {
      const v = raw(name, def !== undefined);
      if (v === undefined) return [...(def ?? [])];
      const items = v
        .split(opts?.separator ?? ',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (opts?.minItems !== undefined && items.length < opts.minItems) {
        problem(name, `must list at least ${opts.minItems} item(s), got ${items.length}`);
        return [...(def ?? items)];
      }
      return items;
    },
    problem,
    get problems() {
      return problems;
    },
    done() {
      if (problems.length > 0) throw new ConfigError([...problems]);
    },
  };
}
