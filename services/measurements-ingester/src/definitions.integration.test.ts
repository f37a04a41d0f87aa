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
import { brokerDefinitions } from '@sensor-streaming/identity';
import { shardQueues } from '@sensor-streaming/ingest';
import { bindingPatterns, CONTENT_TYPE_PROTOBUF, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester, type MeasurementsIngester } from './measurements-ingester.js';

// Issue 15, "never lose a measurement": the broker definitions compose and Kubernetes load at broker start
// hold the ingesters' data queues, so what sensors publish before any ingester has started is kept, and the
// ingester's own declare of its queues is equivalent to the definitions' (or it would fail with
// PRECONDITION_FAILED). Against the real broker (a throwaway vhost) and database.

const SAMPLES = 10;
const SERIALS = 12;
const PER_SERIAL = 5;
const K = SERIALS * PER_SERIAL;
const T0 = (Date.now() - 60_000) * 1000;
const BASE = 'measurements-ingester'; // the ingester's default INGEST_QUEUE, the one the definitions declare

let db: TestDatabase;
let vhost: TestVhost;
let bus: Bus | undefined;
let running: MeasurementsIngester[];
/** The ingester's log lines at warn and above. */
let complaints: Array<{ level: number; msg: string; err?: { message?: string } }>;

const logLevel = process.env.TEST_LOG_LEVEL ?? 'warn';
function ingester(shards: number): MeasurementsIngester {
  const logger = createLogger({
    service: 'mi-definitions-test',
    level: logLevel === 'silent' ? 'warn' : logLevel,
    pretty: false,
    destination: {
      write(line: string) {
        const o = JSON.parse(line) as { level: number; msg: string };
        if (o.level >= 40) complaints.push(o);
        if (process.env.TEST_LOG_LEVEL !== undefined) process.stdout.write(line);
      },
    },
  });
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    INGEST_SHARDS: String(shards),
    MAX_BATCH_MESSAGES: '20',
    MAX_BATCH_WAIT_MS: '30',
    STORAGE_MAINTENANCE_INTERVAL: '0',
  });
  const i = createMeasurementsIngester({ config, logger, registry: new Registry() });
  running.push(i);
  return i;
}

/** Starts an ingester; fails naming what it logged when it has not started within 10 s. */
async function start(shards: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`the ingester did not start within 10 s; it logged ${JSON.stringify(complaints)}`)),
      10_000,
    );
  });
  try {
    await Promise.race([ingester(shards).start(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Imports the topology of the definitions for `ingestShards` into the test vhost, as the broker loads it at boot. */
async function loadDefinitionsTopology(ingestShards: number): Promise<void> {
  const d = brokerDefinitions({ vhost: vhost.vhost, passwordHashes: {}, ingestShards });
  // exchanges, queues, bindings, policies; not the users, permissions or vhosts (the shared broker's)
  const { exchanges, queues, bindings, policies } = d;
  await managementRequest('POST', `/definitions/${encodeURIComponent(vhost.vhost)}`, {
    exchanges,
    queues,
    bindings,
    policies,
  });
}

/** What the sensors publish through (a bus: it declares only the exchanges and the dead-letter queue). */
async function startSensors(): Promise<void> {
  bus = createBus({
    url: vhost.url,
    connectionName: 'mi-definitions-sensors',
    logger: createLogger({ service: 'mi-definitions-sensors', level: 'silent' }),
  });
  await bus.start();
}

let sequence = 0;
async function publishAll(): Promise<void> {
  for (let k = 0; k < PER_SERIAL; k++) {
    for (let s = 0; s < SERIALS; s++) {
      sequence++;
      const serial = `early-${s}`;
      const body = vibrationBatch(serial, sequence, SAMPLES, T0);
      await bus!.publish(routingKeys.data(serial), body, { contentType: CONTENT_TYPE_PROTOBUF });
    }
  }
}

const rows = () => measurementRows(db.pool);

/** Messages ready in the data queues the definitions for `shards` declare. */
async function queued(shards: number): Promise<number[]> {
  return Promise.all(
    shardQueues(BASE, bindingPatterns.data, shards).map((q) => queueMessageCount(vhost.url, q.name)),
  );
}

const bindingsOf = (queue: string) => dataRoutesOf(vhost.vhost, queue);

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'mi_definitions' });
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  running = [];
  complaints = [];
  sequence = 0;
  bus = undefined;
  vhost = await createTestVhost('mi-definitions');
  await db.pool.query('TRUNCATE measurements, sensors CASCADE');
});
afterEach(async () => {
  for (const i of running) await i.stop();
  await bus?.stop();
  await vhost.drop();
});

describe('data published before the first ingester starts, with the broker definitions loaded', () => {
  it.each([1, 2, 4])(
    'definitions and ingester with INGEST_SHARDS=%i: every message queued, then every one written, no declare error',
    async (shards) => {
      await loadDefinitionsTopology(shards);
      await startSensors();
      await publishAll();
      const depths = await queued(shards);
      expect(depths.reduce((a, b) => a + b, 0)).toBe(K);
      if (shards > 1) for (const d of depths) expect(d).toBeGreaterThan(0); // hashed over every shard

      await start(shards); // its declare of the queues: rejected if inequivalent to the definitions
      await waitFor(async () => (await rows()) === K * SAMPLES, `${K} messages written`, 20_000);
      await waitFor(async () => (await queued(shards)).every((d) => d === 0), 'queues drained');
      expect(await rows()).toBe(K * SAMPLES);
      expect(complaints).toEqual([]);
    },
  );

  it('definitions for 2 shards, ingester with 4: what the 2 queued is written, the 4 are used from then on', async () => {
    await loadDefinitionsTopology(2);
    await startSensors();
    await publishAll();
    expect((await queued(2)).reduce((a, b) => a + b, 0)).toBe(K);

    await start(4);
    await waitFor(async () => (await rows()) === K * SAMPLES, 'the early messages written', 20_000);
    await publishAll();
    await waitFor(async () => (await rows()) === 2 * K * SAMPLES, 'the later messages written', 20_000);
    for (const i of [0, 1, 2, 3])
      expect(await bindingsOf(`${BASE}.shard-${i}`)).toEqual([`${BASE}.shards:1`]);
    expect(complaints).toEqual([]);
  });

  it('definitions for 4 shards, ingester with 2: shards 2 and 3 are unbound and drained, nothing lost', async () => {
    await loadDefinitionsTopology(4);
    await startSensors();
    await publishAll();
    const depths = await queued(4);
    expect(depths.reduce((a, b) => a + b, 0)).toBe(K);
    expect(depths[2]! + depths[3]!).toBeGreaterThan(0);

    await start(2);
    await waitFor(
      async () => (await rows()) === K * SAMPLES,
      'every early message, shards 2-3 included',
      20_000,
    );
    expect(await bindingsOf(`${BASE}.shard-2`)).toEqual([]);
    expect(await bindingsOf(`${BASE}.shard-3`)).toEqual([]);
    await publishAll();
    await waitFor(async () => (await rows()) === 2 * K * SAMPLES, 'the later messages written', 20_000);
    expect((await queued(4)).slice(2)).toEqual([0, 0]);
    // the one warning: the retired shards it found and drains
    expect(complaints.map((c) => c.msg)).toEqual([
      expect.stringContaining('queues left over from another shard count'),
    ]);
  });
});
