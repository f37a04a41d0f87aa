import pg from 'pg';
import type { DbLogger } from './logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** Anything that can run a parameterised query: a pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface CreatePoolOptions {
  url: string;
  logger: DbLogger;
  /** Maximum connections; default 10. */
  max?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Default 30 s. */
  idleTimeoutMs?: number;
  /** Default 10 s. */
  connectionTimeoutMs?: number;
}

/**
 * A pg Pool with an `error` listener attached: an idle client whose
 * connection drops (server restart, network) is logged and discarded by the
 * pool instead of crashing the process.
 */
export function createPool(opts: CreatePoolOptions): Pool {
  const config: pg.PoolConfig = {
    connectionString: opts.url,
    max: opts.max ?? 10,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
  };
  if (opts.applicationName !== undefined) config.application_name = opts.applicationName;
  const pool = new pg.Pool(config);
  pool.on('error', (err) => {
    opts.logger.warn({ err }, 'idle PostgreSQL connection failed; the pool will replace it');
  });
  // A checked-out client has no listener of the pool's: a connection the server ends between two queries
  // (restart, shutdown, pg_terminate_backend) would emit an unhandled 'error' and kill the process. The
  // query in progress, if any, fails on its own; the client is discarded when released with the error.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      opts.logger.debug({ err }, 'PostgreSQL connection failed while checked out');
    });
  });
  return pool;
}

/** For /readyz: true when `SELECT 1` answers within `timeoutMs`; never throws. */
export async function checkDatabase(pool: Queryable, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([pool.query('SELECT 1').then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** True when the timescaledb extension is installed in the connected database. */
export async function hasTimescale(pool: Queryable): Promise<boolean> {
  const { rows } = await pool.query<{ installed: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed",
  );
  return rows[0]?.installed === true;
}

/**
 * Runs `fn` inside BEGIN/COMMIT on one client; rolls back and rethrows on
 * error. A client whose ROLLBACK fails is destroyed rather than reused.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
