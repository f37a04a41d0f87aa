import { abortableSleep, type BackoffOptions, backoffDelay } from '@sensor-streaming/runtime';
import pg from 'pg';
import type { DbLogger } from './logger.js';

/** A connection URL for another database on the same server (same user, host, options). */
export function withDatabaseName(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The database name in a postgres:// URL; throws when the URL has none. */
export function databaseNameFromUrl(url: string): string {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (name === '') throw new Error(`database URL has no database name: ${redactDatabaseUrl(url)}`);
  return name;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the database named in `url` if it does not exist, connecting to the
 * server's `postgres` database (`maintenanceDb`). Returns true if it created
 * it. Safe when several processes race (duplicate_database is ignored).
 */
export async function ensureDatabase(
  url: string,
  opts: { logger?: DbLogger; maintenanceDb?: string } = {},
): Promise<boolean> {
  const name = databaseNameFromUrl(url);
  const client = new pg.Client({ connectionString: withDatabaseName(url, opts.maintenanceDb ?? 'postgres') });
  client.on('error', () => {}); // errors surface through the awaited calls below
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length > 0) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    } catch (err) {
      if ((err as { code?: string }).code === '42P04') return false; // created concurrently
      throw err;
    }
    opts.logger?.info({ database: name }, 'created database');
    return true;
  } finally {
    await client.end();
  }
}

/** SQLSTATEs and socket errors that mean "the server is not there yet", worth retrying. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND', // compose/Kubernetes DNS before the database container or Service exists
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P03', // cannot_connect_now: the database system is starting up / shutting down
  '57P01', // admin_shutdown: the init server of the postgres image restarting
  '53300', // too_many_connections
]);

/** True for connection failures that a later attempt may not meet (refused, starting up, DNS). */
export function isTransientConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated unexpectedly|timeout expired/i.test(message);
}

export interface RetryConnectOptions {
  /** Give up (rethrowing the last error) after this long. */
  timeoutMs: number;
  logger?: DbLogger;
  /** What is being attempted, for the log line. */
  what: string;
  /** Backoff between attempts; default 250 ms doubling to 5 s. */
  backoff?: BackoffOptions;
  /** Ends the wait early (the last error is thrown). */
  signal?: AbortSignal;
}

/**
 * Runs `attempt` until it succeeds, retrying transient connection failures
 * (isTransientConnectionError) with exponential backoff for at most
 * `timeoutMs`. Anything else (bad password, SQL error) is thrown at once.
 * For processes that start alongside their database (compose, a Job next to
 * a restarting cluster): one refused connection is not a failure.
 */
export async function retryConnect<T>(attempt: () => Promise<T>, opts: RetryConnectOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const backoff = opts.backoff ?? { initialDelayMs: 250, maxDelayMs: 5_000 };
  const signal = opts.signal ?? new AbortController().signal;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isTransientConnectionError(err) || left <= 0 || signal.aborted) throw err;
      const delayMs = Math.min(left, backoffDelay(n, backoff));
      opts.logger?.warn(
        {
          attempt: n,
          delayMs,
          remainingMs: left,
          err: { message: (err as Error).message, code: (err as { code?: unknown }).code },
        },
        `${opts.what}: database not reachable yet, retrying`,
      );
      await abortableSleep(delayMs, signal);
    }
  }
}

/** Opens one connection to `url` and closes it: throws what connecting throws. */
export async function pingDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {}); // errors surface through connect()
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
