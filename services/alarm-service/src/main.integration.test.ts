import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestVhost, type TestVhost } from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const rules = (v: number) =>
  `version: ${v}\nrules:\n  - { id: hot, type: threshold, channel: temperature, raise: "> ${v}" }\n`;

let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('alarm-main'),
    createTestDatabase({ prefix: 'alarm_main' }),
    mkdtemp(join(tmpdir(), 'alarm-main-')),
  ]);
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await Promise.all([vhost?.drop(), db?.drop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

describe('main.ts', () => {
  it('serves /readyz and /metrics, reloads rules on SIGHUP, exits 128+15 on SIGTERM', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rules(1));
    child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN], {
      env: {
        ...process.env,
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        RULES_FILE: file,
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
        LEADER_RETRY_MS: '100',
        RULES_CHECK_INTERVAL_MS: '600000',
        RULES_WATCH: 'false',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON (should not happen)
        }
      }
    });
    const exited = new Promise<number | null>((r) => child?.once('exit', (code) => r(code)));
    const waitLog = async (pred: (l: Record<string, unknown>) => boolean, what: string) => {
      const end = Date.now() + 30_000;
      for (;;) {
        const l = lines.find(pred);
        if (l) return l;
        if (Date.now() > end) throw new Error(`no log line: ${what}\n${lines.map((x) => x.msg).join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const started = await waitLog((l) => l.msg === 'service started', 'service started');
    const port = started.metricsPort as number;
    await waitLog((l) => l.msg === 'evaluating the live stream', 'leader');
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/sensor_streaming_alarm_leader\{service="alarm-service"\} 1/);
    expect(metrics).toContain('sensor_streaming_late_events_total');

    await writeFile(file, rules(2));
    child.kill('SIGHUP');
    const loaded = await waitLog(
      (l) => l.version === '2' && typeof l.msg === 'string' && l.msg.startsWith('rules version 2'),
      'reload',
    );
    expect(loaded).toMatchObject({ previousVersion: '1', reason: 'SIGHUP' });

    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(lines.some((l) => l.msg === 'alarm service stopped')).toBe(true);
  });
});
