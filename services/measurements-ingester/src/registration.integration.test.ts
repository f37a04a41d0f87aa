import { type Bus, createBus, HEADER_REASON } from '@sensor-streaming/bus';
import {
  createTestVhost,
  drainQueue,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import { registerSensors, revokeSensors } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester, type MeasurementsIngester } from './measurements-ingester.js';

/*
 * Closed registration and bounded per-serial state through the service's real entry point
 * (createMeasurementsIngester on the real broker and database): a flood of distinct serials, far more than
 * the bounds, neither reaches the tables (closed) nor grows the ingester's memory (open or closed).
 */

const logger = createLogger({ service: 'mi-registration-test', level: 'silent' });
const T0 = (Date.now() - 60_000) * 1000;
const FLOOD = 600;
const BOUND = 50;

let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
let running: MeasurementsIngester[];

function ingester(env: Record<string, string>): { registry: Registry } {
  const registry = new Registry();
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    MAX_BATCH_MESSAGES: '100',
    MAX_BATCH_WAIT_MS: '30',
    SENSOR_STATE_MAX: String(BOUND),
    REGISTRATION_CACHE_MAX: String(BOUND),
    ...env,
  });
  const i = createMeasurementsIngester({ config, logger, registry });
  running.push(i);
  return { registry };
}

function batch(serial: string, sequence = 0): MeasurementBatch {
  return {
    serial,
    channel: 'vibration',
    unit: 'mm/s',
    sequence,
    firstSampleTimeUs: T0 + sequence * 10_000,
    samplePeriodNs: 1_000_000,
    values: Array.from({ length: 10 }, (_, i) => i),
  };
}

async function publish(b: MeasurementBatch): Promise<void> {
  await publisher.publish(routingKeys.data(b.serial), measurementBatchCodec.encode(b), {
    contentType: CONTENT_TYPE_PROTOBUF,
  });
}

async function count(sql: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(sql);
  return rows[0]?.n ?? 0;
}

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

beforeAll(async () => {
  vhost = await createTestVhost('mi-reg');
  db = await createTestDatabase({ prefix: 'mi_reg' });
  publisher = createBus({ url: vhost.url, connectionName: 'mi-reg-publisher', logger });
  await publisher.start();
}, 240_000);

afterAll(async () => {
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
}, 120_000);

beforeEach(async () => {
  running = [];
  await db.pool.query('TRUNCATE measurements, sensors, sensor_registration_events CASCADE');
  await drainQueue(vhost.url, DEAD_LETTER_QUEUE, 100_000);
});

afterEach(async () => {
  for (const i of running) await i.stop();
});

describe('REGISTRATION=closed', () => {
  it('dead-letters a flood of unprovisioned serials with the reason, creates no row, and stays bounded', {
    timeout: 120_000,
  }, async () => {
    await registerSensors(db.pool, [{ serial: 'prov-1', kind: 'vibration', labels: {} }], 'test');
    const { registry } = ingester({ REGISTRATION: 'closed' });
    await running[0]?.start();
    await publish(batch('prov-1'));
    for (let i = 0; i < FLOOD; i++) await publish(batch(`rogue-${i}`));

    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) >= FLOOD,
      `${FLOOD} dead letters`,
      60_000,
    );
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM measurements')) === 10,
      'prov-1 rows',
    );

    const dead = await drainQueue(vhost.url, DEAD_LETTER_QUEUE, 100_000);
    expect(dead).toHaveLength(FLOOD);
    expect(String(dead[0]?.headers[HEADER_REASON])).toMatch(/^UNPROVISIONED: unprovisioned serial rogue-\d+/);
    expect(dead.every((d) => d.routingKey.startsWith('sensor.rogue-'))).toBe(true);
    // nothing of the rogue serials reached a table
    expect(await count("SELECT count(*)::int AS n FROM sensors WHERE serial LIKE 'rogue-%'")).toBe(0);
    expect(await count('SELECT count(DISTINCT sensor_id)::int AS n FROM measurements')).toBe(1);
    // memory: the registration cache and the id cache stayed within their bounds, evicting as they went
    expect(await metric(registry, 'sensor_streaming_unprovisioned_messages_total', { kind: 'data' })).toBe(
      FLOOD,
    );
    expect(
      await metric(registry, 'sensor_streaming_serial_state_entries', { map: 'ingester.registration' }),
    ).toBeLessThanOrEqual(BOUND);
    expect(
      await metric(registry, 'sensor_streaming_serial_state_evictions_total', {
        map: 'ingester.registration',
      }),
    ).toBeGreaterThanOrEqual(FLOOD + 1 - BOUND);
  });

  it('refuses a revoked serial (its stored rows are kept) and admits one provisioned later', {
    timeout: 60_000,
  }, async () => {
    await registerSensors(db.pool, [{ serial: 'gone-1', kind: '', labels: {} }], 'test');
    // TTLs of 0: every batch asks the database, so revoking and provisioning show at once
    ingester({ REGISTRATION: 'closed', REGISTRATION_CACHE_TTL: '0', REGISTRATION_NEGATIVE_TTL: '0' });
    await running[0]?.start();
    await publish(batch('gone-1', 0));
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM measurements')) === 10,
      'first rows',
    );

    expect(await revokeSensors(db.pool, ['gone-1'], 'test')).toEqual(['gone-1']);
    await publish(batch('gone-1', 1));
    await publish(batch('late-1', 0));
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 2,
      'two dead letters',
    );
    const reasons = (await drainQueue(vhost.url, DEAD_LETTER_QUEUE)).map((d) =>
      String(d.headers[HEADER_REASON]),
    );
    expect(reasons.sort()).toEqual([
      expect.stringMatching(/unprovisioned serial gone-1/),
      expect.stringMatching(/unprovisioned serial late-1/),
    ]);
    expect(await count('SELECT count(*)::int AS n FROM measurements')).toBe(10);
    expect(
      await count(
        "SELECT count(*)::int AS n FROM sensors WHERE serial = 'gone-1' AND revoked_at IS NOT NULL",
      ),
    ).toBe(1);

    await registerSensors(db.pool, [{ serial: 'late-1', kind: '', labels: {} }], 'test');
    await publish(batch('late-1', 1));
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM measurements')) === 20,
      'late-1 rows',
    );
  });
});

describe('REGISTRATION=open', () => {
  it('stores a flood of new serials but keeps at most SENSOR_STATE_MAX of them in memory', {
    timeout: 120_000,
  }, async () => {
    const { registry } = ingester({ REGISTRATION: 'open' });
    await running[0]?.start();
    for (let i = 0; i < FLOOD; i++) await publish(batch(`open-${i}`));
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM measurements')) === FLOOD * 10,
      'every row',
      60_000,
    );
    expect(await count('SELECT count(*)::int AS n FROM sensors')).toBe(FLOOD);
    expect(
      await metric(registry, 'sensor_streaming_serial_state_entries', { map: 'ingester.sensor_ids' }),
    ).toBeLessThanOrEqual(BOUND);
    expect(
      await metric(registry, 'sensor_streaming_serial_state_evictions_total', { map: 'ingester.sensor_ids' }),
    ).toBe(FLOOD - BOUND);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
  });
});
