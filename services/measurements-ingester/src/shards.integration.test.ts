import { dataRoutesOf, measurementRows, vibrationBatch } from './testing/data-path.js';
import { type Bus, createBus } from '@sensor-streaming/bus';
import {
  createTestVhost,
  managementRequest,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { retiredShardQueues, shardQueues } from '@sensor-streaming/ingest';
import { bindingPatterns, CONTENT_TYPE_PROTOBUF, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester, type MeasurementsIngester } from './measurements-ingester.js';

// The sharded data path against the real broker (rabbitmq_consistent_hash_exchange) and database.
const logger = createLogger({
  service: 'mi-shards-test',
  level: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent',
});
const T0 = (Date.now() - 60_000) * 1000;
const BASE = 'mi';
const SAMPLES = 10;

let db: TestDatabase;
let vhost: TestVhost;
let bus: Bus;
let running: MeasurementsIngester[];

function ingester(shards: number): MeasurementsIngester {
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    INGEST_QUEUE: BASE,
    INGEST_SHARDS: String(shards),
    MAX_BATCH_MESSAGES: '20',
    MAX_BATCH_WAIT_MS: '30',
    STORAGE_MAINTENANCE_INTERVAL: '0',
  });
  const i = createMeasurementsIngester({ config, logger, registry: new Registry() });
  running.push(i);
  return i;
}

let sequence = 0;
async function publish(serial: string): Promise<void> {
  sequence++;
  const body = vibrationBatch(serial, sequence, SAMPLES, T0);
  await bus.publish(routingKeys.data(serial), body, { contentType: CONTENT_TYPE_PROTOBUF });
}

const rows = () => measurementRows(db.pool);

const depth = (q: string) => queueMessageCount(vhost.url, q);

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'mi_shards' });
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  running = [];
  sequence = 0;
  // a vhost per test: every test's queues are bound to sensor.*.data
  vhost = await createTestVhost('mi-shards');
  bus = createBus({ url: vhost.url, connectionName: 'mi-shards-test', logger });
  await bus.start();
  await db.pool.query('TRUNCATE measurements, sensors CASCADE');
});
afterEach(async () => {
  for (const i of running) await i.stop();
  await bus.stop();
  await vhost.drop();
});

describe('sharded data path', () => {
  it('spreads sensors over the shards by serial, each sensor in one shard, and the ingester writes them all', async () => {
    for (const q of shardQueues(BASE, bindingPatterns.data, 3)) await bus.declareQueue(q);
    for (let s = 0; s < 60; s++) for (let k = 0; k < 3; k++) await publish(`sh-${s}`);
    const depths = await Promise.all([0, 1, 2].map((i) => depth(`${BASE}.shard-${i}`)));
    expect(depths.reduce((a, b) => a + b, 0)).toBe(180);
    for (const d of depths) {
      expect(d).toBeGreaterThan(20); // 60 serials hashed over 3 shards: none left (nearly) empty
      expect(d % 3).toBe(0); // a serial's 3 messages all went to the same shard
    }

    await ingester(3).start();
    await waitFor(async () => (await rows()) === 180 * SAMPLES, 'every row', 20_000);
    await waitFor(
      async () =>
        (await Promise.all([0, 1, 2].map((i) => depth(`${BASE}.shard-${i}`)))).every((d) => d === 0),
      'shards drained',
    );
  });

  it('going from one queue to 2 shards drains the old queue and unbinds it', async () => {
    for (const q of shardQueues(BASE, bindingPatterns.data, 1)) await bus.declareQueue(q);
    for (let s = 0; s < 10; s++) await publish(`old-${s}`);
    expect(await depth(BASE)).toBe(10);

    await ingester(2).start();
    await waitFor(async () => (await rows()) === 10 * SAMPLES, 'the old queue written', 20_000);
    for (let s = 0; s < 10; s++) await publish(`new-${s}`);
    await waitFor(async () => (await rows()) === 20 * SAMPLES, 'the new messages written', 20_000);
    // nothing new reached the old queue: it is unbound (a copy there would be written twice, or pile up)
    expect(await depth(BASE)).toBe(0);
    const bindings = await bindingsOf(BASE);
    expect(bindings).toEqual([]);
  });

  it('going from 3 shards to 2 drains shard-2 and unbinds it from the hash exchange', async () => {
    for (const q of shardQueues(BASE, bindingPatterns.data, 3)) await bus.declareQueue(q);
    for (let s = 0; s < 60; s++) await publish(`three-${s}`);
    const left = await depth(`${BASE}.shard-2`);
    expect(left).toBeGreaterThan(0);

    await ingester(2).start();
    await waitFor(async () => (await rows()) === 60 * SAMPLES, 'every row, shard-2 included', 20_000);
    expect(await bindingsOf(`${BASE}.shard-2`)).toEqual([]);
    for (let s = 0; s < 60; s++) await publish(`two-${s}`);
    await waitFor(async () => (await rows()) === 120 * SAMPLES, 'the new messages', 20_000);
    expect(await depth(`${BASE}.shard-2`)).toBe(0);
    // retired candidates that never existed were not created
    const retired = retiredShardQueues(BASE, bindingPatterns.data, 2).map((q) => q.name);
    expect(await bus.existingQueues(retired)).toEqual(new Set([`${BASE}.shard-2`]));
  });

  it('refuses to start with a clear error when the consistent-hash exchange cannot be declared', async () => {
    // a topic exchange squatting on the shard exchange's name: the declare fails like a missing plugin does
    await managementRequest(
      'PUT',
      `/exchanges/${encodeURIComponent(vhost.vhost)}/${encodeURIComponent(`${BASE}.shards`)}`,
      { type: 'topic', durable: true },
    );
    await expect(ingester(2).start()).rejects.toThrow(/rabbitmq_consistent_hash_exchange/);
  });
});

const bindingsOf = (queue: string) => dataRoutesOf(vhost.vhost, queue);
