import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { defaultMigrationsDir, loadMigrationFiles, runMigrations } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The real process against a database one migration behind the code: what a
// new image meets when it starts before its migrations ran.
let vhost: TestVhost;
let db: TestDatabase;
let oldDir: string;
let child: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

beforeAll(async () => {
  vhost = await createTestVhost('mi-schema-gate');
  db = await createTestDatabase({ prefix: 'mi_schema_gate', migrate: false });
  oldDir = await mkdtemp(path.join(tmpdir(), 'mi-schema-gate-'));
  const files = await loadMigrationFiles(defaultMigrationsDir());
  for (const f of files.slice(0, -1))
    await cp(path.join(defaultMigrationsDir(), f.name), path.join(oldDir, f.name));
  await runMigrations(db.pool, { dir: oldDir });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await db?.drop();
  await vhost?.drop();
  if (oldDir) await rm(oldDir, { recursive: true, force: true });
});

describe('measurements-ingester on an old schema', () => {
  it('stays unready naming the schema, with a log line saying what is missing, and turns ready once migrated', async () => {
    const port = await freePort();
    const lines: Array<Record<string, unknown>> = [];
    child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          AMQP_URL: vhost.url,
          DATABASE_URL: db.url,
          METRICS_PORT: String(port),
          METRICS_HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    const exited = once(child, 'exit');
    const newest = (await loadMigrationFiles(defaultMigrationsDir())).at(-1)!.name;

    await waitFor(
      async () => lines.some((l) => String(l.msg).startsWith('database schema is behind this release')),
      'the schema log line',
      30_000,
    );
    const line = lines.find((l) => String(l.msg).startsWith('database schema is behind this release'))!;
    expect(line.level).toBe(40);
    expect(line.missing).toEqual([newest]);
    expect(String(line.msg)).toContain('not ready until migrations run');
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { failing: string[] }).failing).toContain('schema');
    expect(lines.some((l) => l.msg === 'service started')).toBe(false);

    await runMigrations(db.pool);
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true,
      'the ingester to turn ready after the migrations',
      30_000,
    );
    await waitFor(async () => lines.some((l) => l.msg === 'service started'), 'the start log line', 10_000);

    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    child = undefined;
    expect(code).toBe(143);
  });
});
