import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MigrationChecksumError, MigrationError } from '../errors.js';
import type { DbLogger } from '../logger.js';
import { createPool, hasTimescale, type Pool } from '../pool.js';
import { createTestDatabase, type TestDatabase, testBackend } from '../testing/index.js';
import { defaultMigrationsDir, loadMigrationFiles } from './migration-files.js';
import { runMigrations } from './run-migrations.js';

function recordingLogger() {
  const lines: Array<{ level: string; obj: object; msg?: string | undefined }> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  const logger: DbLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

// A database per test: TimescaleDB, when the server offers it, is installed once per database.
async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ migrate: false });
  cleanups.push(db.drop);
  return db;
}

async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ss-migrations-'));
  await cp(defaultMigrationsDir(), dir, { recursive: true });
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function columnsOf(pool: Pool, relation: string): Promise<string[]> {
  const { rows } = await pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [relation],
  );
  return rows.map((r) => r.column_name);
}

describe('runMigrations on PostgreSQL', () => {
  it('applies every file once, in order, and a second run applies nothing', async () => {
    const db = await emptyDatabase();
    const files = await loadMigrationFiles(defaultMigrationsDir());
    const { logger, lines } = recordingLogger();

    const first = await runMigrations(db.pool, { logger });
    expect(first.applied).toEqual(files.map((f) => f.name));
    const { rows } = await db.pool.query<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM schema_migrations ORDER BY name',
    );
    expect(rows).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect(lines.filter((l) => l.msg === 'applied migration')).toHaveLength(files.length);

    const second = await runMigrations(db.pool, { logger });
    expect(second.applied).toEqual([]);
    const { rows: count } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    expect(Number(count[0]?.n)).toBe(files.length);
  });

  it('builds the same objects on whichever backend the server offers', async () => {
    const db = await emptyDatabase();
    await runMigrations(db.pool);
    const backend = await testBackend();
    expect(await hasTimescale(db.pool)).toBe(backend === 'timescaledb');
    // measurements is a hypertable with TimescaleDB, a table partitioned by time without it
    const { rows: kind } = await db.pool.query<{ relkind: string }>(
      "SELECT relkind FROM pg_class WHERE oid = 'measurements'::regclass",
    );
    expect(kind[0]?.relkind).toBe(backend === 'timescaledb' ? 'r' : 'p');
    for (const level of ['measurements_1m', 'measurements_1h', 'measurements_1d']) {
      expect(await columnsOf(db.pool, level), level).toEqual([
        'bucket',
        'sensor_id',
        'channel',
        'avg',
        'min',
        'max',
        'rms',
        'count',
      ]);
    }
    expect(await columnsOf(db.pool, 'measurements_1m')).toEqual([
      'bucket',
      'sensor_id',
      'channel',
      'avg',
      'min',
      'max',
      'rms',
      'count',
    ]);
    expect(await columnsOf(db.pool, 'error_counts_1m')).toEqual([
      'bucket',
      'sensor_id',
      'error_code',
      'count',
    ]);
    for (const table of [
      'sensors',
      'measurements',
      'sensor_logs',
      'alarms',
      'alarm_episodes',
      'active_alarms',
      'alarm_model_state',
      'alarm_rules',
      'commands',
      'sensor_state_changes',
      'sensor_positions',
    ]) {
      expect((await columnsOf(db.pool, table)).length, table).toBeGreaterThan(0);
    }
    // time-first key for insert speed
    const { rows: pk } = await db.pool.query<{ def: string }>(
      "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'measurements_pkey'",
    );
    expect(pk[0]?.def).toBe('PRIMARY KEY ("time", sensor_id, channel)');

    // the time_bucket shim matches TimescaleDB's default origin (Monday 2000-01-03)
    const { rows: tb } = await db.pool.query<{ b: Date }>(
      "SELECT time_bucket(INTERVAL '1 week', TIMESTAMPTZ '2026-11-26 12:34:56.789+00') AS b",
    );
    expect(tb[0]?.b.toISOString()).toBe('2026-11-23T00:00:00.000Z');

    // the 1-minute aggregates (real-time part on both backends) give what is written, microseconds preserved
    await db.pool.query("INSERT INTO sensors (serial) VALUES ('pump-1')");
    await db.pool.query(
      `INSERT INTO measurements (sensor_id, channel, time, value) VALUES
       (1, 'vibration', '2026-01-01T00:00:00.000001Z', 3), (1, 'vibration', '2026-01-01T00:00:30Z', -4),
       (1, 'vibration', '2026-01-01T00:01:00Z', 10)`,
    );
    const { rows: m } = await db.pool.query(
      `SELECT bucket, avg, min, max, rms, count::int AS count FROM measurements_1m
       WHERE sensor_id = 1 ORDER BY bucket`,
    );
    expect(m).toEqual([
      {
        bucket: new Date('2026-01-01T00:00:00Z'),
        avg: -0.5,
        min: -4,
        max: 3,
        rms: Math.sqrt(12.5),
        count: 2,
      },
      { bucket: new Date('2026-01-01T00:01:00Z'), avg: 10, min: 10, max: 10, rms: 10, count: 1 },
    ]);
    const { rows: us } = await db.pool.query<{ t: string }>(
      "SELECT to_char(time AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS t FROM measurements ORDER BY time LIMIT 1",
    );
    expect(us[0]?.t).toBe('00:00:00.000001');
  });

  it('three pools migrating the same database concurrently apply each file exactly once', async () => {
    const db = await emptyDatabase();
    const pools = [0, 1, 2].map(() => createPool({ url: db.url, logger: recordingLogger().logger, max: 2 }));
    cleanups.push(async () => {
      await Promise.all(pools.map((p) => p.end()));
    });
    const results = await Promise.all(pools.map((p) => runMigrations(p)));
    const all = results.flatMap((r) => r.applied);
    const files = await loadMigrationFiles(defaultMigrationsDir());
    expect(all.sort()).toEqual(files.map((f) => f.name).sort());
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    expect(Number(rows[0]?.n)).toBe(files.length);
  });

  it('rejects a changed applied file with MigrationChecksumError naming it, and applies nothing', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await runMigrations(db.pool, { dir });
    await writeFile(path.join(dir, '0003_measurements.sql'), '-- edited\nSELECT 1;\n');
    await writeFile(path.join(dir, '0099_new.sql'), 'CREATE TABLE should_not_exist (x int);');
    const err = await runMigrations(db.pool, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationChecksumError);
    expect(err).toMatchObject({ code: 'DB_MIGRATION_CHECKSUM_MISMATCH' });
    expect((err as MigrationChecksumError).mismatches.map((m) => m.name)).toEqual(['0003_measurements.sql']);
    const { rows } = await db.pool.query("SELECT to_regclass('should_not_exist') AS t");
    expect(rows[0]?.t).toBeNull();
  });

  it('a failing migration rolls back entirely, is not recorded, and throws MigrationError with the SQL error', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await writeFile(
      path.join(dir, '0100_broken.sql'),
      'CREATE TABLE half_done (x int);\nINSERT INTO half_done VALUES (1);\nSELECT no_such_column FROM half_done;\n',
    );
    const err = await runMigrations(db.pool, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: 'DB_MIGRATION_FAILED', migration: '0100_broken.sql' });
    expect((err as Error).message).toMatch(/no_such_column.*SQLSTATE 42703/);
    const { rows } = await db.pool.query(
      "SELECT to_regclass('half_done') AS t, (SELECT count(*)::int FROM schema_migrations) AS n",
    );
    expect(rows[0]).toEqual({ t: null, n: (await loadMigrationFiles(defaultMigrationsDir())).length });
    // the lock was released: fixing the file lets the next run apply it
    await writeFile(path.join(dir, '0100_broken.sql'), 'CREATE TABLE half_done (x int);\n');
    expect((await runMigrations(db.pool, { dir })).applied).toEqual(['0100_broken.sql']);
  });

  it('runs a no-transaction file statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await writeFile(
      path.join(dir, '0101_concurrent_index.sql'),
      '-- sensor-streaming: no-transaction\n' +
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS commands_serial_idx ON commands (serial);\n' +
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS alarms_rule_idx ON alarms (rule);\n',
    );
    expect((await runMigrations(db.pool, { dir })).applied).toContain('0101_concurrent_index.sql');
    const { rows } = await db.pool.query(
      "SELECT indexname FROM pg_indexes WHERE indexname IN ('commands_serial_idx', 'alarms_rule_idx') ORDER BY 1",
    );
    expect(rows.map((r) => r.indexname)).toEqual(['alarms_rule_idx', 'commands_serial_idx']);
  });

  it('passes settings to the migration session and validates them in SQL', async () => {
    const db = await emptyDatabase();
    const err = await runMigrations(db.pool, {
      settings: { 'sensor_streaming.timescaledb': 'sometimes' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/sensor_streaming\.timescaledb must be auto, on or off/);

    const on = await runMigrations(db.pool, { settings: { 'sensor_streaming.timescaledb': 'on' } }).catch(
      (e: unknown) => e,
    );
    if ((await testBackend()) === 'timescaledb') {
      // the server offers it: 'on' installs it
      expect(on).toMatchObject({ applied: expect.arrayContaining(['0001_extensions.sql']) });
      expect(await hasTimescale(db.pool)).toBe(true);
    } else {
      expect((on as Error).message).toMatch(/timescaledb extension is not available/);
    }
  });
});

describe('createTestDatabase', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('creates a migrated database that drop() removes', async () => {
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    expect(rows[0]?.n).toBe((await loadMigrationFiles(defaultMigrationsDir())).length);
    const other = await createTestDatabase({ migrate: false });
    await other.drop();
    const { rows: left } = await db.pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [other.name]);
    expect(left).toEqual([]);
  });
});
