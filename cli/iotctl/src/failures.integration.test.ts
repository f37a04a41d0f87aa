import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { commandQueue, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IOTCTL_BIN, PACKAGE_DIR } from './testing/run-iotctl.js';
import { spawn } from 'node:child_process';

/*
 * Every way the broker can turn iotctl away, against the real RabbitMQ: one line on stderr naming the cause,
 * exit 1, within a second of the cause (the spawned command's own start is measured apart and subtracted).
 */
const amqp = new URL(process.env.RABBITMQ_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
let vhost: TestVhost;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When stderr received its first byte, ms after spawn. */
  stderrAtMs: number | null;
  exitAtMs: number;
}

function start(args: string[]): { done: Promise<Run>; stderr(): string; t0: number } {
  const t0 = performance.now();
  const child = spawn(process.execPath, [IOTCTL_BIN, ...args], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stderrAtMs: number | null = null;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderrAtMs ??= performance.now() - t0;
    stderr += d;
  });
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`iotctl ${args.join(' ')} still running after 30 s\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, stderrAtMs, exitAtMs: performance.now() - t0 });
    });
  });
  return { done, stderr: () => stderr, t0 };
}

/**
 * The baseline: how long a command takes when the broker lets it in (start, load the bus, connect, one publish
 * to a serial nobody serves, close); median of three. A refused connection must not take a second longer.
 */
let baselineMs = 0;

beforeAll(async () => {
  vhost = await createTestVhost('iotctl-failures');
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    runs.push((await start(['--amqp-url', vhost.url, 'sleep', 'nobody-here']).done).exitAtMs);
  }
  baselineMs = runs.sort((a, b) => a - b)[1]!;
}, 120_000);

afterAll(async () => {
  await vhost?.drop();
});

const url = (over: { user?: string; pass?: string; port?: string; vhost?: string }) => {
  const u = new URL(amqp);
  if (over.user !== undefined) u.username = over.user;
  if (over.pass !== undefined) u.password = over.pass;
  if (over.port !== undefined) u.port = over.port;
  if (over.vhost !== undefined) u.pathname = `/${encodeURIComponent(over.vhost)}`;
  return u.toString();
};

describe('iotctl when the broker turns it away', { timeout: 60_000 }, () => {
  it.each([
    ['a refused connection', url({ port: '1' }), 'connection refused'],
    ['wrong credentials', url({ pass: 'certainly-wrong' }), 'access refused: wrong user name or password'],
    [
      'a missing vhost',
      url({ vhost: 'no-such-vhost-iotctl' }),
      'vhost "no-such-vhost-iotctl" does not exist',
    ],
  ])('%s: one line naming it, exit 1, within a second', async (_what, amqpUrl, cause) => {
    // the connect timeout is long on purpose: the answer must not wait for it
    const r = await start(['--amqp-url', amqpUrl, '--connect-timeout', '20000', 'sensors', 'list']).done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^iotctl: cannot connect to the broker at amqp:\/\/\S+: /);
    expect(lines[0]).toContain(cause);
    expect(lines[0]).not.toContain('certainly-wrong');
    // the answer comes about as fast as a command that gets in (measured before): the 20 s connect timeout is
    // not waited for
    expect((r.stderrAtMs ?? Number.POSITIVE_INFINITY) - baselineMs).toBeLessThan(1000);
  });

  it('the broker going away mid-command: one line, exit 1, within a second of the loss', async () => {
    // a TCP proxy in front of the broker stands for the broker: closing it (and refusing new connections)
    // is the broker going down, as iotctl sees it
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((client) => {
      const upstream = tcpConnect(Number(amqp.port || 5672), amqp.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = String((proxy.address() as { port: number }).port);
    // a sensor whose command queue exists but who never answers: the command waits for its ack
    const bus = createBus({
      url: vhost.url,
      connectionName: 'iotctl-failures-setup',
      logger: createLogger({ service: 'test', level: 'silent', pretty: false }),
    });
    await bus.start();
    await bus.declareQueue(commandQueue('mute-1', 60_000));
    await bus.stop();

    const viaProxy = new URL(vhost.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = port;
    const run = start(['--amqp-url', viaProxy.toString(), 'sleep', 'mute-1', '--timeout', '20000']);
    // connected: both connections of the CLI's bus went through the proxy and the command is published
    await waitFor(() => sockets.size >= 4, 'iotctl to connect through the proxy', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const cutAt = performance.now();
    proxy.close();
    for (const s of sockets) s.destroy();
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^iotctl: lost the connection to the broker at amqp:\/\/\S+/),
    ]);
    // the line is out within a second of the loss; the process is gone soon after
    expect((r.stderrAtMs ?? Number.POSITIVE_INFINITY) - (cutAt - run.t0)).toBeLessThan(1000);
    expect(r.exitAtMs - (cutAt - run.t0)).toBeLessThan(5000);
  });
});
