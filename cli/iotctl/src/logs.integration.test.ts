import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createRegistryClient } from '@sensor-streaming/control';
import {
  logBatchCodec,
  measurementBatchCodec,
  routingKeys,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChildService,
  createMigratedDatabase,
  startService,
  type TestDatabase,
} from './testing/child-service.js';
import { IOTCTL_BIN, PACKAGE_DIR, runIotctl } from './testing/run-iotctl.js';

/*
 * `iotctl logs`, `iotctl logs -f`, `iotctl tail` and the sparklines of `iotctl sensors show`, spawned as the
 * operator runs them, against the real registry (its own process) on the real broker and database.
 */
const run = promisify(execFile);
const logger = createLogger({ service: 'iotctl-logs-test', level: 'silent', pretty: false });
let vhost: TestVhost;
let db: TestDatabase;
let bus: Bus;
let registry: ChildService;

const state = (serial: string) =>
  sensorStateCodec.encode({
    serial,
    kind: 'vibration',
    channels: ['vibration'],
    firmware: '1.0.0',
    state: 'AWAKE',
    sampleFrequencyHz: 10,
    uptimeS: 1,
    reason: 'BIRTH',
    timeUs: Date.now() * 1000,
    labels: { site: 'north' },
    minFrequencyHz: 1,
    maxFrequencyHz: 100,
  });

const logs = (serial: string, message: string, level: 'INFO' | 'WARN' | 'ERROR' = 'WARN') =>
  bus.publish(
    routingKeys.logs(serial),
    logBatchCodec.encode({
      serial,
      sequence: 1,
      entries: [
        {
          timeUs: Date.now() * 1000,
          level,
          errorCode: level === 'ERROR' ? 'E42_OVERHEAT' : '',
          appVersion: '1.0.0',
          firmwareVersion: '1.0.0',
          message,
          component: 'pump',
        },
      ],
    }),
  );

const data = (serial: string, values: number[]) =>
  bus.publish(
    routingKeys.data(serial),
    measurementBatchCodec.encode({
      serial,
      channel: 'vibration',
      unit: 'mm/s',
      sequence: 1,
      firstSampleTimeUs: Date.now() * 1000,
      samplePeriodNs: 100_000_000,
      values,
    }),
  );

function follow(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [IOTCTL_BIN, '--amqp-url', vhost.url, ...args],
    { cwd: PACKAGE_DIR, env: { ...process.env, NO_COLOR: '1' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    async interrupt(): Promise<number | null> {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

beforeAll(async () => {
  vhost = await createTestVhost('iotctl-logs');
  db = await createMigratedDatabase('iotctl_logs');
  registry = startService('registry', 'services/sensor-registry/src/main.ts', {
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
  });
  bus = createBus({ url: vhost.url, connectionName: 'iotctl-logs-test', logger });
  await bus.start();
  const client = createRegistryClient(bus, { timeoutMs: 10_000 });
  await waitFor(
    async () => {
      await bus.publish(routingKeys.state('log-1'), state('log-1'));
      await bus.publish(routingKeys.state('log-2'), state('log-2'));
      return (await client.listSensors().catch(() => [])).length === 2;
    },
    `two sensors registered (registry output: ${registry.output()})`,
    120_000,
  );
  // stored entries, as the logs-ingester writes them
  await run(
    'psql',
    [
      db.url,
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `INSERT INTO sensor_logs (sensor_id, time, level, error_code, component, message)
       SELECT id, now() - interval '2 minutes', 'WARN', '', 'pump', 'stored warning' FROM sensors WHERE serial = 'log-1';
       INSERT INTO sensor_logs (sensor_id, time, level, error_code, component, message)
       SELECT id, now() - interval '1 minute', 'ERROR', 'E42_OVERHEAT', 'pump', 'stored error' FROM sensors WHERE serial = 'log-1';
       INSERT INTO sensor_logs (sensor_id, time, level, error_code, component, message)
       SELECT id, now() - interval '3 hours', 'INFO', '', 'pump', 'old news' FROM sensors WHERE serial = 'log-1';`,
    ],
    { timeout: 60_000 },
  );
}, 300_000);

afterAll(async () => {
  await bus?.stop();
  await registry?.stop();
  await Promise.all([vhost?.drop(), db?.drop()]);
});

describe('iotctl logs and tail', { timeout: 120_000 }, () => {
  it('logs prints the stored entries oldest first, filtered by level, code and since', async () => {
    const all = await runIotctl(['--amqp-url', vhost.url, 'logs', 'log-1']);
    expect(all.code).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\S+Z {2}log-1 {2}INFO {3}pump: old news$/);
    expect(lines[2]).toMatch(/^\S+Z {2}log-1 {2}ERROR {2}E42_OVERHEAT {2}pump: stored error$/);
    const errors = await runIotctl(['--amqp-url', vhost.url, 'logs', 'log-1', '--level', 'error']);
    expect(errors.stdout.trim().split('\n')).toEqual([expect.stringContaining('stored error')]);
    const recent = await runIotctl(['--amqp-url', vhost.url, 'logs', 'log-1', '--since', '1h']);
    expect(recent.stdout).not.toContain('old news');
    expect(recent.stdout).toContain('stored warning');
    const code = await runIotctl([
      '--amqp-url',
      vhost.url,
      'logs',
      '--selector',
      'site=north',
      '--code',
      'E42_OVERHEAT',
    ]);
    expect(code.stdout.trim().split('\n')).toEqual([expect.stringContaining('stored error')]);
    const bad = await runIotctl(['--amqp-url', vhost.url, 'logs', 'log-1', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since must be a duration');
  });

  it('logs -f follows a sensor: the last stored entries, then every new one of that sensor only', async () => {
    const f = follow(['logs', '-f', 'log-1']);
    await waitFor(() => f.stderr().includes('following the logs of log-1'), 'the follow to start', 60_000);
    expect(f.stdout()).toContain('stored error');
    await logs('log-2', 'not this sensor');
    await logs('log-1', 'live entry one');
    await logs('log-1', 'live entry two', 'ERROR');
    await waitFor(() => f.stdout().includes('live entry two'), 'the live entries', 30_000);
    expect(f.stdout().indexOf('live entry one')).toBeLessThan(f.stdout().indexOf('live entry two'));
    expect(f.stdout()).not.toContain('not this sensor');
    expect(await f.interrupt()).toBe(0);
  });

  it('tail prints the live samples of one sensor, one line each', async () => {
    const t = follow(['tail', 'log-1', '--channel', 'vibration']);
    await waitFor(() => t.stderr().includes('following the samples of log-1'), 'tail to start', 60_000);
    await data('log-2', [99]);
    await data('log-1', [1.5, 2.25, 3]);
    await waitFor(() => t.stdout().trim().split('\n').length >= 3, 'three samples', 30_000);
    expect(t.stdout().trim().split('\n')).toEqual([
      expect.stringMatching(/^\S+Z {2}vibration {2}1\.5 mm\/s$/),
      expect.stringMatching(/ {2}vibration {2}2\.25 mm\/s$/),
      expect.stringMatching(/ {2}vibration {2}3 mm\/s$/),
    ]);
    expect(await t.interrupt()).toBe(0);
  });

  it('the registry tells the newest stored sample and log entry (fleet.health, the live view ingest line)', async () => {
    const h = await createRegistryClient(bus, { timeoutMs: 10_000 }).fleetHealth();
    expect(h.newestMeasurementAt).toBeNull(); // no ingester runs here: nothing stored
    const age = Date.parse(h.now) - Date.parse(h.newestLogAt ?? '1970-01-01');
    expect(age).toBeGreaterThan(50_000); // 'stored error', a minute ago (the 3 hours old one is out of the window)
    expect(age).toBeLessThan(600_000);
  });

  it('tail of an unknown serial says so at once instead of waiting for samples', async () => {
    const r = await runIotctl(['--amqp-url', vhost.url, 'tail', 'no-such-sensor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'iotctl: no sensor with serial "no-such-sensor" is registered (it has never sent its state or data)\n',
    );
  });

  it('sensors show draws a sparkline per channel from the recent data', async () => {
    await data('log-1', [1, 2, 3, 4]);
    let out = '';
    await waitFor(
      async () => {
        out = (await runIotctl(['--amqp-url', vhost.url, 'sensors', 'show', 'log-1'])).stdout;
        return /vibration\s+[ ▁▂▃▄▅▆▇█]+\s+min /.test(out);
      },
      'a sparkline in sensors show',
      30_000,
    );
    expect(out).toContain('last 5 min (5 s averages, oldest left)');
    expect(out).toMatch(/last data\s+\S+Z \(\d+s ago\)/);
  });
});
