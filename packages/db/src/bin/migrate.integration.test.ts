import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdentifier, withDatabaseName } from '../database-url.js';
import { defaultMigrationsDir, loadMigrationFiles } from '../migrations/migration-files.js';
import { testServerUrl } from '../testing/index.js';

const script = fileURLToPath(new URL('./migrate.ts', import.meta.url));
const dbName = `sstest_cli_${randomBytes(4).toString('hex')}`;
const url = withDatabaseName(testServerUrl(), dbName);

function runCli(
  env: Record<string, string>,
): Promise<{ code: number; lines: Array<Record<string, unknown>>; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', script],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const lines = stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({ code, lines, stderr });
      },
    );
  });
}

afterAll(async () => {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(dbName)} WITH (FORCE)`);
  await client.end();
});

describe('migrate CLI', () => {
  it('creates the database, applies everything with JSON progress lines, then finds nothing to do', async () => {
    const fileCount = (await loadMigrationFiles(defaultMigrationsDir())).length;
    const first = await runCli({ DATABASE_URL: url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const messages = first.lines.map((l) => l.msg);
    expect(messages).toContain('created database');
    expect(first.lines.filter((l) => l.msg === 'applied migration')).toHaveLength(fileCount);
    expect(first.lines.at(-1)).toMatchObject({
      msg: 'migrations complete',
      count: fileCount,
      service: 'migrate',
    });

    const second = await runCli({ DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.lines.at(-1)).toMatchObject({ msg: 'migrations complete', count: 0 });
  });

  it('exits non-zero with one error line for bad configuration or an unreachable server', async () => {
    const bad = await runCli({ DATABASE_URL: 'http://example.com/x' });
    expect(bad.code).toBe(1);
    expect(bad.lines.at(-1)).toMatchObject({ level: 50, code: 'CONFIG_INVALID', msg: 'migration failed' });

    const down = await runCli({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(down.code).toBe(1);
    expect(down.lines.at(-1)).toMatchObject({ level: 50, code: 'ECONNREFUSED', msg: 'migration failed' });
  });

  it('never prints a stack trace for a database error (a migration that fails)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ss-migrations-'));
    writeFileSync(path.join(dir, '0001_broken.sql'), 'SELECT * FROM no_such_table;\n');
    const failed = await runCli({ DATABASE_URL: url, MIGRATIONS_DIR: dir });
    rmSync(dir, { recursive: true, force: true });
    expect(failed.code).toBe(1);
    const last = failed.lines.at(-1) ?? {};
    expect(last).toMatchObject({ level: 50, code: 'DB_MIGRATION_FAILED', msg: 'migration failed' });
    expect(String(last.error)).toMatch(/0001_broken.sql failed: relation "no_such_table" does not exist/);
    expect(JSON.stringify(failed.lines)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    expect(failed.stderr).toBe('');
  });
});

// A server where the timescaledb extension is installed but not preloaded. The
// stand-in: a real database whose search_path finds our own
// pg_available_extensions (listing timescaledb) before pg_catalog's, so
// `auto` sees an installed extension, and CREATE EXTENSION would fail.
describe('migrate CLI on a server with TimescaleDB installed but not preloaded (stand-in catalog)', () => {
  const standIn = `sstest_cli_tsdb_${randomBytes(4).toString('hex')}`;
  const standInUrl = withDatabaseName(testServerUrl(), standIn);

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: testServerUrl() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${quoteIdentifier(standIn)}`);
    await admin.query(
      `ALTER DATABASE ${quoteIdentifier(standIn)} SET search_path = public, stand_in, pg_catalog`,
    );
    await admin.end();
    const db = new pg.Client({ connectionString: standInUrl });
    await db.connect();
    await db.query('CREATE SCHEMA stand_in');
    await db.query(`CREATE VIEW stand_in.pg_available_extensions AS
      SELECT name, default_version, installed_version, comment FROM pg_catalog.pg_available_extensions
      UNION ALL SELECT 'timescaledb'::name, '2.18.1'::text, NULL::text, 'stand-in: installed, not preloaded'::text`);
    await db.end();
  });

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: testServerUrl() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(standIn)} WITH (FORCE)`);
    await admin.end();
  });

  it('given sensor_streaming.timescaledb=on, fails with one clear line and no stack', async () => {
    const on = await runCli({ DATABASE_URL: standInUrl, MIGRATE_SETTING_TIMESCALEDB: 'on' });
    expect(on.code).toBe(1);
    const errors = on.lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'DB_MIGRATION_CONFIG', msg: 'migration failed' });
    expect(String(errors[0]?.error)).toMatch(/without being preloaded.*shared_preload_libraries/);
    expect(errors[0]).not.toHaveProperty('err');
  });

  it('given auto, migrates as plain PostgreSQL with one warning saying how to enable TimescaleDB', async () => {
    const auto = await runCli({ DATABASE_URL: standInUrl });
    expect(auto.code, JSON.stringify(auto.lines.slice(-3))).toBe(0);
    const warnings = auto.lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toMatch(
      /installed on this server but not preloaded.*shared_preload_libraries/,
    );
    const db = new pg.Client({ connectionString: standInUrl });
    await db.connect();
    const { rows } = await db.query(
      "SELECT count(*)::int AS n FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'",
    );
    const tables = await db.query("SELECT to_regclass('public.measurements')::text AS t");
    await db.end();
    expect(rows[0]?.n).toBe(0);
    expect(tables.rows[0]?.t).toBe('measurements');
  });
});
