import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createBus } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createRegistryClient } from '@sensor-streaming/control';
import { commandQueueName } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChildService,
  createMigratedDatabase,
  startService,
  type TestDatabase,
} from './testing/child-service.js';
import { REPO_DIR } from './testing/run-iotctl.js';

/*
 * The live view through the command the README gives, in a real terminal (a tmux pane on a private tmux
 * server), against the real registry and a simulator with 100 sensors: it must render them, take a burst of
 * 20 keys without losing one, and quit on q with exit 0. Frames alone let a view that crashes at start pass
 * (issue 12: `pnpm iotctl status` died with "React is not defined").
 */
const run = promisify(execFile);
const logger = createLogger({ service: 'iotctl-pty', level: 'silent', pretty: false });
const socket = `iotctl-test-${randomBytes(4).toString('hex')}`;
const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args], { timeout: 30_000 });
const services: ChildService[] = [];
let vhost: TestVhost;
let db: TestDatabase;
let binDir: string;

const screen = async (target: string): Promise<string> =>
  (await tmux('capture-pane', '-p', '-t', target)).stdout;

async function untilScreen(target: string, ok: (s: string) => boolean, what: string, ms = 60_000) {
  let last = '';
  try {
    await waitFor(
      async () => {
        last = await screen(target);
        return ok(last);
      },
      what,
      ms,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; the pane shows:\n${last}`);
  }
  return last;
}

const selected = (s: string) => /^> (\S+)/m.exec(s)?.[1];

beforeAll(async () => {
  try {
    await run('tmux', ['-V']);
  } catch {
    throw new Error('this test needs tmux (apt-get install -y tmux)');
  }
  vhost = await createTestVhost('iotctl-pty');
  db = await createMigratedDatabase('iotctl_pty');
  services.push(
    startService('registry', 'services/sensor-registry/src/main.ts', {
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      SWEEP_INTERVAL_MS: '1000',
      SENSOR_OFFLINE_AFTER_MS: '20000',
    }),
    startService('simulator', 'services/sensor-simulator/src/main.ts', {
      AMQP_URL: vhost.url,
      SENSOR_COUNT: '100',
      SAMPLE_FREQUENCY_HZ: '2',
      FLUSH_INTERVAL_MS: '1000',
      HEARTBEAT_INTERVAL_MS: '5000',
    }),
  );
  // the README's set-up: install the iotctl command (here into a private bin directory)
  binDir = await mkdtemp(join(tmpdir(), 'iotctl-bin-'));
  await run('bash', ['scripts/install-iotctl.sh'], {
    cwd: REPO_DIR,
    env: { ...process.env, IOTCTL_BIN_DIR: binDir },
    timeout: 120_000,
  });
  const bus = createBus({ url: vhost.url, connectionName: 'iotctl-pty-setup', logger });
  await bus.start();
  try {
    await waitFor(
      () =>
        queueMessageCount(vhost.url, commandQueueName('sim-0-99')).then(
          () => true,
          () => false,
        ),
      'the simulator',
      120_000,
    );
    const registry = createRegistryClient(bus, { timeoutMs: 10_000 });
    await waitFor(
      async () => (await registry.listSensors({ online: true }).catch(() => [])).length >= 100,
      '100 sensors registered',
      120_000,
    );
  } finally {
    await bus.stop();
  }
  await tmux('new-session', '-d', '-s', 'main', '-x', '150', '-y', '40', 'sleep 600');
}, 300_000);

afterAll(async () => {
  await tmux('kill-server').catch(() => undefined);
  await Promise.all(services.map((s) => s.stop()));
  await Promise.all([vhost?.drop(), db?.drop()]);
  if (binDir !== undefined) await rm(binDir, { recursive: true, force: true });
});

/** Runs `command` in a new tmux window (a real terminal), then `EXIT=<code>` once it ends. */
async function open(name: string, command: string): Promise<string> {
  const env = `PATH=${binDir}:${process.env.PATH ?? ''} AMQP_URL='${vhost.url}'`;
  await tmux(
    'new-window',
    '-t',
    'main',
    '-n',
    name,
    `cd ${REPO_DIR} && env ${env} ${command}; echo EXIT=$?; sleep 600`,
  );
  return `main:${name}`;
}

describe('iotctl status in a terminal', { timeout: 180_000 }, () => {
  it('`iotctl status` renders 100 sensors in natural order and takes a burst of 20 keys without losing one', async () => {
    const pane = await open('installed', 'iotctl status --refresh 500');
    const first = await untilScreen(
      pane,
      (s) => s.includes('100 sensors') && /^> sim-0-0 /m.test(s),
      '100 sensors',
    );
    expect(first).toMatch(/^ {2}sim-0-1 /m);
    expect(first).toMatch(/^ {2}sim-0-2 /m); // natural order: sim-0-2 right after sim-0-1, not sim-0-10
    expect(first).toContain('services: registry ok');

    // twenty keys in one write to the terminal
    await tmux('send-keys', '-t', pane, '-l', 'j'.repeat(20));
    const after = await untilScreen(
      pane,
      (s) => selected(s) === 'sim-0-20',
      'the selection 20 rows down',
      20_000,
    );
    expect(selected(after)).toBe('sim-0-20');
    // and it stays there: no key was queued behind
    await new Promise((r) => setTimeout(r, 1_000));
    expect(selected(await screen(pane))).toBe('sim-0-20');

    await tmux('send-keys', '-t', pane, '-l', 'G');
    await untilScreen(pane, (s) => selected(s) === 'sim-0-99', 'End', 20_000);
    await tmux('send-keys', '-t', pane, '-l', 'q');
    const end = await untilScreen(pane, (s) => /EXIT=\d+/.test(s), 'iotctl to exit on q', 20_000);
    expect(end).toContain('EXIT=0');
    expect(end).not.toMatch(/bug|Error/);
  });

  it('`pnpm iotctl status` from the repository root renders and quits cleanly too', async () => {
    const pane = await open('pnpm', 'pnpm iotctl status');
    await untilScreen(
      pane,
      (s) => s.includes('100 sensors') && /^> sim-0-0 /m.test(s),
      '100 sensors via pnpm',
    );
    await tmux('send-keys', '-t', pane, '-l', 'jjjjj');
    await untilScreen(pane, (s) => selected(s) === 'sim-0-5', 'five rows down', 20_000);
    await tmux('send-keys', '-t', pane, '-l', 'q');
    const end = await untilScreen(pane, (s) => /EXIT=\d+/.test(s), 'exit on q', 20_000);
    expect(end).toContain('EXIT=0');
    expect(end).not.toContain('React is not defined');
  });
});
