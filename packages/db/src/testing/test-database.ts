import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdentifier, withDatabaseName } from '../database-url.js';
import { silentLogger } from '../logger.js';
import { runMigrations } from '../migrations/run-migrations.js';
import { createPool, type Pool } from '../pool.js';

/** Server used by tests: TEST_DATABASE_URL, else the local PostgreSQL (user postgres, trust auth). */
export function testServerUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export interface TestDatabase {
  /** URL of the new database. */
  url: string;
  name: string;
  pool: Pool;
  /** Closes the pool and drops the database (terminating leftover connections). */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** Apply migrations/ (default true). */
  migrate?: boolean;
  /** Name prefix; a random suffix is added. */
  prefix?: string;
  /** Pool size (default 5). */
  max?: number;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, uniquely named database on the test server, migrated unless
 * `migrate: false`. Call drop() in afterAll.
 */
export async function createTestDatabase(opts: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `${opts.prefix ?? 'sstest'}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${quoteIdentifier(name)}`));
  const url = withDatabaseName(testServerUrl(), name);
  const pool = createPool({
    url,
    logger: silentLogger,
    max: opts.max ?? 5,
    applicationName: 'sensor-streaming-test',
  });
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await pool.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`));
  };
  try {
    if (opts.migrate !== false) await runMigrations(pool);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, name, pool, drop };
}

export interface TestSchema {
  schema: string;
  /** URL of the database with `options=-c search_path=<schema>`. */
  url: string;
  /** Pool whose connections use the schema as search_path. */
  pool: Pool;
  /** Closes the pool and drops the schema with everything in it. */
  drop(): Promise<void>;
}

/**
 * A uniquely named schema inside an existing test database, with a pool whose
 * search_path is that schema: cheaper than a database per test when one test
 * file needs several clean slates. Migrations create their objects in it
 * (plain PostgreSQL only: an extension such as TimescaleDB lives once per database).
 */
export async function createTestSchema(
  db: Pick<TestDatabase, 'url' | 'pool'>,
  opts: CreateTestDatabaseOptions = {},
): Promise<TestSchema> {
  const schema = `${opts.prefix ?? 's'}_${randomBytes(6).toString('hex')}`;
  await db.pool.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`);
  const u = new URL(db.url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const url = u.toString();
  const pool = createPool({
    url,
    logger: silentLogger,
    max: opts.max ?? 5,
    applicationName: 'sensor-streaming-test',
  });
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await pool.end();
    await db.pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  };
  try {
    if (opts.migrate !== false) await runMigrations(pool);
  } catch (err) {
    await drop();
    throw err;
  }
  return { schema, url, pool, drop };
}

/** The backend a migration on the test server builds: TimescaleDB when the server offers the extension. */
export type TestBackend = 'timescaledb' | 'postgresql';

let backendOnce: Promise<TestBackend> | undefined;

/**
 * 'timescaledb' when the test server (TEST_DATABASE_URL) lists the extension
 * in pg_available_extensions (migrations then install it), else 'postgresql'.
 * Tests assert on whichever backend they find instead of skipping.
 */
export function testBackend(): Promise<TestBackend> {
  backendOnce ??= admin(async (c) => {
    const { rows } = await c.query<{ offered: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS offered",
    );
    return rows[0]?.offered === true ? 'timescaledb' : 'postgresql';
  });
  return backendOnce;
}

/** What both a node-postgres Pool and PGlite offer. */
export interface TestSqlClient {
  query(text: string): Promise<unknown>;
}

/**
 * CALL refresh_continuous_aggregate(name, from, to) for each aggregate in
 * order, retrying while TimescaleDB's own scheduler is refreshing the same
 * aggregate (SQLSTATE 55P03, "due to a concurrent refresh"): on a real server
 * the refresh policies start as soon as the database exists.
 */
export async function refreshContinuousAggregates(
  db: TestSqlClient,
  names: readonly string[],
  window: { from: string | null; to: string | null },
  timeoutMs = 60_000,
): Promise<void> {
  const lit = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'::timestamptz`);
  for (const name of names) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await db.query(
          `CALL refresh_continuous_aggregate('${name}', ${lit(window.from)}, ${lit(window.to)})`,
        );
        break;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const concurrent = code === '55P03' || /concurrent refresh/i.test((err as Error).message);
        if (!concurrent || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  }
}

/**
 * TimescaleDB: unschedules the refresh, compression and retention jobs of the
 * connected database, so a test that refreshes or compresses by hand does not
 * race the scheduler (a job already running still finishes; refresh with
 * {@link refreshContinuousAggregates}, which waits for it). No-op without TimescaleDB.
 */
export async function pauseTimescaleJobs(db: TestSqlClient): Promise<void> {
  await db.query(
    `DO $$
     DECLARE
       job int;
     BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
         RETURN;
       END IF;
       FOR job IN
         SELECT job_id FROM timescaledb_information.jobs
         WHERE proc_name IN ('policy_refresh_continuous_aggregate', 'policy_compression', 'policy_retention')
       LOOP
         BEGIN
           PERFORM alter_job(job, scheduled => false);
         EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
           -- 2.22 re-validates hierarchical refresh policies in alter_job and refuses; leave those scheduled
           NULL;
         END;
       END LOOP;
     END
     $$`,
  );
}
