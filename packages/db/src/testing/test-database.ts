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
