import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost } from '@sensor-streaming/bus/testing';
import { type Commander, createCommander } from '@sensor-streaming/control';
import { listAlarmTransitions } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { type Alarm, alarmCodec, measurementBatchCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlarmService, createAlarmService } from './alarm-service.js';
import { loadConfig } from './config.js';
import { type ChildService, startChildService } from './testing/child-service.js';

/*
 * Operator actions against the real services: the simulator and the registry run as their own processes,
 * the alarm service in this one, commands go out through packages/control (as iotctl sends them). The
 * rules are the shipped process rules (rules/default.yaml) with shorter times so the test runs in about
 * two minutes: silence after 3 s (not 30 s), warm-up 100 samples, settle 10 s. Same logic.
 */
const RULES = `
version: ops-it
rules:
  - id: process-anomaly
    type: anomaly
    kinds: [process]
    channel: "*"
    alpha: 0.01
    timeConstant: 10s
    zScore: 8
    clearZScore: 4
    warmupSamples: 100
    settle: 10s
    clearFor: 30s
  - id: pressure-rate
    type: rate-of-change
    kinds: [process]
    channel: pressure
    window: 5s
    raise: "> 200"
    clear: "<= 50"
    settle: 10s
    clearFor: 10s
    severity: MAJOR
  - id: silence
    type: silence
    factor: 3
    minSilence: 3s
`;
const SERIAL = 'PROC-OPS-1';

const logger = createLogger({ service: 'ops-it', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let probe: Bus;
let commander: Commander;
let service: AlarmService | undefined;
const children: ChildService[] = [];
const alarms: Alarm[] = [];
let samples = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('ops-it'),
    createTestDatabase({ prefix: 'ops_it' }),
    mkdtemp(join(tmpdir(), 'ops-it-')),
  ]);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  probe = createBus({ url: vhost.url, connectionName: 'ops-it-probe', logger });
  await probe.start();
  commander = createCommander(probe);
  await probe.consume({
    queue: {
      name: 'ops-it-alarms',
      type: 'classic',
      bindings: ['sensor.*.alarms.*'],
      exclusive: true,
      autoDelete: true,
    },
    handler: async (d) => {
      alarms.push(alarmCodec.decode(d.body, d.contentType));
    },
  });
  await probe.consume({
    queue: {
      name: 'ops-it-data',
      type: 'classic',
      bindings: [`sensor.${SERIAL}.data`],
      exclusive: true,
      autoDelete: true,
    },
    handler: async (d) => {
      const b = measurementBatchCodec.decode(d.body, d.contentType);
      if (b.channel === 'pressure') samples += b.values.length;
    },
  });
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    RULES_FILE: join(dir, 'rules.yaml'),
    METRICS_PORT: '0',
    TICK_INTERVAL_MS: '200',
    LEADER_RETRY_MS: '200',
    SERVICE_NAME: 'ops-it-alarms',
  });
  service = createAlarmService({ config, logger, registry: new Registry() });
  await service.start();
  await waitFor('leader', () => service?.isLeader);
  children.push(
    startChildService('services/sensor-registry/src/main.ts', { AMQP_URL: vhost.url, DATABASE_URL: db.url }),
  );
  children.push(
    startChildService('services/sensor-simulator/src/main.ts', {
      AMQP_URL: vhost.url,
      SENSOR_SERIALS: SERIAL,
      SENSOR_KINDS: 'process:1',
      SAMPLE_FREQUENCY_HZ: '10',
      FLUSH_INTERVAL_MS: '200',
      HEARTBEAT_INTERVAL_MS: '1000',
    }),
  );
}, 120_000);

afterAll(async () => {
  for (const c of children) await c.stop(5_000).catch(() => undefined);
  await service?.stop().catch(() => undefined);
  await commander?.close().catch(() => undefined);
  await probe?.stop();
  await Promise.all([vhost?.drop(), db?.drop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

async function command(type: 'sleep' | 'awake' | 'changesamplefrequency', sampleFrequencyHz?: number) {
  const [outcome] = await commander.issue(
    [SERIAL],
    { type, ...(sampleFrequencyHz ? { sampleFrequencyHz } : {}) },
    { issuedBy: 'iotctl:ops-it', timeoutMs: 20_000 },
  );
  expect(outcome?.status, JSON.stringify(outcome)).toBe('APPLIED');
}

/** Waits until `n` more pressure samples have been seen (i.e. the sensor really sent them). */
async function samplesFor(n: number): Promise<void> {
  const target = samples + n;
  await waitFor(`${n} samples`, () => samples >= target, 120_000);
}

describe('operator actions against the real simulator and registry', () => {
  it('sleep then wake, and a x100 sample rate change and back, raise no alarm; a crash does', async () => {
    await samplesFor(300); // 30 s at 10 Hz: the model is warm (100 samples) and has run 20 s after warm-up
    await command('sleep');
    await sleep(20_000); // asleep for 20 s: more than 6 silence limits
    await command('awake');
    await samplesFor(250); // 25 s awake: past the 10 s settle
    await command('changesamplefrequency', 1000);
    await samplesFor(20_000); // 20 s at 1 kHz
    await command('changesamplefrequency', 10);
    await samplesFor(200); // 20 s back at 10 Hz
    await sleep(1_000);
    expect(alarms.map((a) => `${a.transition} ${a.rule}: ${a.message}`)).toEqual([]);
    expect(await listAlarmTransitions(db.pool, { serial: SERIAL })).toEqual([]);

    // The rules are live: the sensor dying without a word is silence.
    await children[1]?.stop(0);
    const raised = await waitFor('silence alarm', () => alarms.find((a) => a.rule === 'silence'), 30_000);
    expect(raised).toMatchObject({ serial: SERIAL, transition: 'RAISED' });
  }, 300_000);
});
