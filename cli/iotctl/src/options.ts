import { parseFrequency, parseSelector } from '@sensor-streaming/control';
import { isValidSerial, type PowerState } from '@sensor-streaming/protocol';
import { DEFAULT_AMQP_URL, readEnv, readTlsConfig, type TlsFiles } from '@sensor-streaming/runtime';
import { UsageError } from './cli-error.js';
import { NO_FILTERS, SORT_KEYS, type SortKey, type ViewState } from './ui/fleet-model.js';

/** Checks operator-typed serials; the first bad one is named. Duplicates are dropped, order kept. */
export function parseSerials(values: readonly string[]): string[] {
  for (const s of values) {
    if (!isValidSerial(s)) {
      throw new UsageError(
        `invalid serial ${JSON.stringify(s)}: a serial is 1 to 64 letters, digits, '_' or '-' (no dots)`,
      );
    }
  }
  return [...new Set(values)];
}

/** A whole number of milliseconds from a flag. */
export function parseMs(flag: string, value: string, min = 1, max = 24 * 3600_000): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${flag} must be a whole number of milliseconds from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function parseLimit(flag: string, value: string, max: number): number {
  const n = Number(value.trim());
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const STATES: readonly PowerState[] = ['AWAKE', 'ASLEEP', 'OFFLINE'];

export function parseState(value: string): PowerState {
  const s = value.trim().toUpperCase();
  if (!STATES.includes(s as PowerState)) {
    throw new UsageError(
      `--state must be one of ${STATES.map((x) => x.toLowerCase()).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return s as PowerState;
}

const KIND = /^[A-Za-z0-9_-]{1,64}$/;
export function parseKind(value: string): string {
  if (!KIND.test(value))
    throw new UsageError(`--kind must match ${KIND.source}, got ${JSON.stringify(value)}`);
  return value;
}

/** `--hz` / `-f`: a positive number of Hz in the platform range (usage error otherwise). */
export function parseHz(value: string | undefined): number {
  if (value === undefined) throw new UsageError('changesamplefrequency needs --hz <n> (or -f <n>)');
  try {
    return parseFrequency(value);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export type Targets =
  | { kind: 'serials'; serials: string[] }
  | { kind: 'all' }
  | { kind: 'selector'; selector: Record<string, string> };

/** Exactly one way of naming the targets: serials (positional or -s), --all, or --selector. */
export function parseTargets(opts: {
  positional: readonly string[];
  sensor?: readonly string[] | undefined;
  all?: boolean | undefined;
  selector?: string | undefined;
}): Targets {
  const serials = [...opts.positional, ...(opts.sensor ?? [])];
  const ways = [serials.length > 0, opts.all === true, opts.selector !== undefined].filter(Boolean).length;
  if (ways === 0)
    throw new UsageError('name the sensors: <serial...>, -s <serial>, --all or --selector key=value');
  if (ways > 1) throw new UsageError('give serials, --all or --selector, not several of them');
  if (opts.all === true) return { kind: 'all' };
  if (opts.selector !== undefined) {
    try {
      return { kind: 'selector', selector: parseSelector(opts.selector) };
    } catch (err) {
      throw new UsageError(`--selector: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { kind: 'serials', serials: parseSerials(serials) };
}

export function parseSelectorFlag(value: string): Record<string, string> {
  try {
    return parseSelector(value);
  } catch (err) {
    throw new UsageError(`--selector: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * What iotctl writes in a command's `issuedBy`: only a hint of the tool, for devices and logs. Who issued
 * or acknowledged something is recorded by the services from the broker user iotctl connects as (the
 * AMQP user_id the broker validates), never from anything iotctl says about itself.
 */
export const ISSUED_BY_HINT = 'iotctl';

export function parseAmqpUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const raw = flag ?? env.AMQP_URL ?? DEFAULT_AMQP_URL;
  const source =
    flag !== undefined ? '--amqp-url' : env.AMQP_URL !== undefined ? 'AMQP_URL' : 'the default URL';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${source} is not a URL`);
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw new UsageError(`${source} must start with amqp:// or amqps://, got ${u.protocol}//`);
  }
  return raw;
}

/**
 * TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE for an `amqps://` broker, checked before connecting: a missing or
 * unreadable file, or a key without its certificate, is one usage error naming the variable.
 */
export function parseTls(env: NodeJS.ProcessEnv, amqpUrl: string): TlsFiles | undefined {
  const r = readEnv(env);
  const tls = readTlsConfig(r);
  const [first] = r.problems;
  if (first !== undefined) throw new UsageError(first);
  if (tls !== undefined && new URL(amqpUrl).protocol !== 'amqps:')
    throw new UsageError('TLS_* files are set but the broker URL is amqp://: use amqps:// (port 5671)');
  return tls;
}

/** `iotctl status --sort/--reverse/--kind/--state/--selector/--search`: the view's initial sort and filters. */
export function parseStatusView(flags: {
  sort: string;
  reverse?: boolean | undefined;
  kind?: string | undefined;
  state?: string | undefined;
  selector?: string | undefined;
  search?: string | undefined;
}): Partial<ViewState> {
  const sort = flags.sort.trim().toLowerCase();
  if (!SORT_KEYS.includes(sort as SortKey)) {
    throw new UsageError(`--sort must be one of ${SORT_KEYS.join(', ')}, got ${JSON.stringify(flags.sort)}`);
  }
  let label: ViewState['filters']['label'] = null;
  if (flags.selector !== undefined) {
    const entries = Object.entries(parseSelectorFlag(flags.selector));
    if (entries.length !== 1) throw new UsageError('--selector of status takes one key=value');
    const [key, value] = entries[0]!;
    label = { key, value };
  }
  const state = flags.state === undefined ? null : parseState(flags.state);
  return {
    sort: sort as SortKey,
    reverse: flags.reverse === true,
    filters: {
      ...NO_FILTERS,
      kind: flags.kind === undefined ? null : parseKind(flags.kind),
      state,
      label,
      search: flags.search ?? '',
    },
  };
}

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** `--level warn`: this level and above. */
export function parseLevel(value: string): (typeof LEVELS)[number] {
  const v = value.trim().toUpperCase();
  if (!LEVELS.includes(v as (typeof LEVELS)[number])) {
    throw new UsageError(`--level must be one of debug, info, warn, error, got ${JSON.stringify(value)}`);
  }
  return v as (typeof LEVELS)[number];
}

const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
export function parseErrorCode(value: string): string {
  if (!ERROR_CODE.test(value)) {
    throw new UsageError(
      `--code must be an error code (letters, digits, _ . : -), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 10m` (s, m, h, d ago) or an ISO 8601 time; returns ISO 8601. */
export function parseSince(value: string, nowMs: number): string {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value.trim());
  if (m !== null) return new Date(nowMs - Number(m[1]) * UNIT_MS[m[2]!]!).toISOString();
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value.trim()) || Number.isNaN(t)) {
    throw new UsageError(
      `--since must be a duration (30s, 10m, 2h, 1d) or an ISO 8601 time, got ${JSON.stringify(value)}`,
    );
  }
  return new Date(t).toISOString();
}
