import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
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
  // two CLI processes (tsx start-up) and every migration: generous under load
  it('creates the database, applies everything with JSON progress lines, then finds nothing to do', {
    timeout: 120_000,
  }, async () => {
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
});
