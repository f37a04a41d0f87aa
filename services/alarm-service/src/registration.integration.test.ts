import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { registerSensors } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { logBatchCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AlarmService, createAlarmService } from './alarm-service.js';
import { loadConfig } from './config.js';
import { logEntry } from './testing/signals.js';

/*
 * Closed registration and the rule engine's bound through the real alarm service (createAlarmService on the
 * real broker and database): a flood of serials far past SENSOR_STATE_MAX.
 * The burst rule's window is 2 s: an error window decides when it closes, and with the default 1 m the
 * alarm came 0-60 s after the entries, past the wait below whenever the clock sat early in a minute.
 */

const RULES = `
version: reg-1
rules:
  - id: burst
    type: error-burst
    perCode: false
    window: 2s
    raise: ">= 3"
    severity: MAJOR
`;
const BOUND = 20;
const FLOOD = 200;
const logger = createLogger({
  service: 'alarm-registration-test',
  level: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent',
});
let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let publisher: Bus;
let running: AlarmService[] = [];

async function start(env: Record<string, string>): Promise<{ svc: AlarmService; registry: Registry }> {
  const registry = new Registry();
  const svc = createAlarmService({
    config: loadConfig({
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      RULES_FILE: join(dir, 'rules.yaml'),
      METRICS_PORT: '0',
      TICK_INTERVAL_MS: '100',
      LEADER_RETRY_MS: '200',
      CONSUME_WAIT_MS: '5',
      SENSOR_STATE_MAX: String(BOUND),
      ...env,
    }),
    logger,
    registry,
  });
  running.push(svc);
  await svc.start();
  await waitFor(() => svc.isLeader, 'the active evaluator', 30_000);
  return { svc, registry };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

async function logs(serial: string, level: 'ERROR' | 'INFO', n: number): Promise<void> {
  const t = Date.now() * 1000;
  await publisher.publish(
    routingKeys.logs(serial),
    logBatchCodec.encode({
      serial,
      sequence: 1,
      entries: Array.from({ length: n }, (_, i) => logEntry(t + i, level, 'E1')),
    }),
  );
}

async function count(sql: string): Promise<number> {
  return Number((await db.pool.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
}

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('alarm-reg'),
    createTestDatabase({ prefix: 'alarm_reg' }),
    mkdtemp(join(tmpdir(), 'alarm-reg-')),
  ]);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  publisher = createBus({ url: vhost.url, connectionName: 'alarm-reg-publisher', logger });
  await publisher.start();
}, 240_000);

afterAll(async () => {
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
  await rm(dir, { recursive: true, force: true });
}, 120_000);

beforeEach(async () => {
  running = [];
  await db.pool.query('TRUNCATE alarms, sensors CASCADE');
});

afterEach(async () => {
  for (const s of running) await s.stop();
});

describe('alarm service and registration', () => {
  it('closed: ignores a flood of unprovisioned serials (no alarm, no row, no engine state) and alarms on a provisioned one', {
    timeout: 120_000,
  }, async () => {
    await registerSensors(db.pool, [{ serial: 'prov-1', kind: 'process', labels: {} }], 'test');
    const { svc, registry } = await start({ REGISTRATION: 'closed' });
    for (let i = 0; i < FLOOD; i++) await logs(`rogue-${i}`, 'ERROR', 5);
    await logs('prov-1', 'ERROR', 5);
    await waitFor(
      async () => (await count('SELECT count(*) AS n FROM alarms')) > 0,
      "prov-1's burst alarm",
      60_000,
    );
    await waitFor(
      async () =>
        (await metric(registry, 'sensor_streaming_unprovisioned_messages_total', { kind: 'logs' })) === FLOOD,
      'every rogue message counted',
      30_000,
    );
    expect(
      await count(
        "SELECT count(*) AS n FROM alarms a JOIN sensors s ON s.id = a.sensor_id WHERE s.serial <> 'prov-1'",
      ),
    ).toBe(0);
    expect(await count("SELECT count(*) AS n FROM sensors WHERE serial LIKE 'rogue-%'")).toBe(0);
    expect(
      await metric(registry, 'sensor_streaming_serial_state_entries', { map: 'rule_engine.sensors' }),
    ).toBe(1);
    expect(svc.isLeader).toBe(true);
  });

  it('open: keeps at most SENSOR_STATE_MAX sensors in the rule engine under a flood', {
    timeout: 120_000,
  }, async () => {
    const { registry } = await start({ REGISTRATION: 'open' });
    for (let i = 0; i < FLOOD; i++) await logs(`calm-${i}`, 'INFO', 1);
    await waitFor(
      async () =>
        (await metric(registry, 'sensor_streaming_serial_state_evictions_total', {
          map: 'rule_engine.sensors',
        })) >=
        FLOOD - BOUND,
      'evictions',
      60_000,
    );
    expect(
      await metric(registry, 'sensor_streaming_serial_state_entries', { map: 'rule_engine.sensors' }),
    ).toBeLessThanOrEqual(BOUND);
  });
});
