import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbLogger } from './logger.js';
import { checkDatabase, createPool, hasTimescale, withTransaction } from './pool.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  await db?.drop();
});

describe('createPool', () => {
  it('logs and survives an idle connection being terminated by the server', async () => {
    const warnings: object[] = [];
    const logger: DbLogger = { debug() {}, info() {}, error() {}, warn: (obj) => warnings.push(obj) };
    const pool = createPool({ url: db.url, logger, max: 2, applicationName: 'pool-error-test' });
    try {
      await pool.query('SELECT 1'); // leaves one idle client in the pool
      await db.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-error-test'",
      );
      await expect.poll(() => warnings.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(warnings[0]).toHaveProperty('err');
      // the pool replaces the dead client
      expect(await checkDatabase(pool)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('survives a checked-out connection being terminated between two queries (no unhandled error event)', async () => {
    const debug: object[] = [];
    const logger: DbLogger = { info() {}, warn() {}, error() {}, debug: (obj) => debug.push(obj) };
    const pool = createPool({ url: db.url, logger, max: 2, applicationName: 'pool-checked-out-test' });
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      await db.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-checked-out-test'",
      );
      // without a listener this error event would be uncaught and end the process (vitest fails the run)
      await expect.poll(() => debug.length, { timeout: 5_000 }).toBeGreaterThan(0);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
      expect(await checkDatabase(pool)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('checkDatabase is false, without throwing, when the server is unreachable', async () => {
    const logger: DbLogger = { debug() {}, info() {}, warn() {}, error() {} };
    const pool = createPool({
      url: 'postgres://postgres@127.0.0.1:1/nowhere',
      logger,
      connectionTimeoutMs: 500,
    });
    try {
      expect(await checkDatabase(pool, 1_000)).toBe(false);
    } finally {
      await pool.end();
    }
  });

  it('hasTimescale is false on this server', async () => {
    expect(await hasTimescale(db.pool)).toBe(false);
  });
});

describe('withTransaction', () => {
  it('commits on success and rolls back on error', async () => {
    await db.pool.query('CREATE TABLE tx_test (x int)');
    expect(
      await withTransaction(db.pool, async (c) => (await c.query('INSERT INTO tx_test VALUES (1)')).rowCount),
    ).toBe(1);
    await expect(
      withTransaction(db.pool, async (c) => {
        await c.query('INSERT INTO tx_test VALUES (2)');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rows } = await db.pool.query('SELECT x FROM tx_test ORDER BY x');
    expect(rows).toEqual([{ x: 1 }]);
    expect(db.pool.idleCount + db.pool.waitingCount).toBeGreaterThan(0);
  });
});
