import { type Bus, createBus, HEADER_REASON } from '@sensor-streaming/bus';
import {
  closeConnectionsByName,
  createTestVhost,
  drainQueue,
  managementRequest,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import { createPool, type Pool, silentLogger } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger, evaluateReadiness } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester, type MeasurementsIngester } from './measurements-ingester.js';

const logger = createLogger({
  service: 'measurements-ingester-test',
  level: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent',
});
const T0 = (Date.now() - 60_000) * 1000;

let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
let running: MeasurementsIngester[];

function ingester(env: Record<string, string> = {}): { ingester: MeasurementsIngester; registry: Registry } {
  const registry = new Registry();
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    MAX_BATCH_MESSAGES: '20',
    MAX_BATCH_WAIT_MS: '30',
    RETRY_INITIAL_DELAY_MS: '50',
    RETRY_MAX_DELAY_MS: '300',
    ...env,
  });
  const i = createMeasurementsIngester({ config, logger, registry });
  running.push(i);
  return { ingester: i, registry };
}

function batch(serial: string, sequence: number, n = 10, channel = 'vibration'): MeasurementBatch {
  return {
    serial,
    channel,
    unit: 'mm/s',
    sequence,
    firstSampleTimeUs: T0 + sequence * n * 1000,
    samplePeriodNs: 1_000_000,
    values: Array.from({ length: n }, (_, i) => sequence + i / 100),
  };
}

async function publish(b: MeasurementBatch, routingKey = routingKeys.data(b.serial)): Promise<void> {
  await publisher.publish(routingKey, measurementBatchCodec.encode(b), {
    contentType: CONTENT_TYPE_PROTOBUF,
  });
}

async function rowCount(pool: Pool = db.pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM measurements');
  return rows[0]?.n ?? 0;
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .filter((v) => !('metricName' in v) || v.metricName === name || v.metricName === `${name}_count`)
    .reduce((s, v) => s + v.value, 0);
}

async function queueTotals(
  vh: string,
  queue: string,
): Promise<{ messages: number; messages_unacknowledged: number }> {
  const q = (await managementRequest(
    'GET',
    `/queues/${encodeURIComponent(vh)}/${encodeURIComponent(queue)}`,
  )) as {
    messages?: number;
    messages_unacknowledged?: number;
  };
  return { messages: q.messages ?? -1, messages_unacknowledged: q.messages_unacknowledged ?? -1 };
}

beforeAll(async () => {
  vhost = await createTestVhost('mi');
  db = await createTestDatabase({ prefix: 'mi_ingest' });
  publisher = createBus({ url: vhost.url, connectionName: 'mi-test-publisher', logger });
  await publisher.start();
});

afterAll(async () => {
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
});

beforeEach(async () => {
  running = [];
  await db.pool.query('TRUNCATE measurements, sensors CASCADE');
});

afterEach(async () => {
  for (const i of running) await i.stop();
  // leave the queues empty for the next test
  for (const q of ['measurements-ingester', DEAD_LETTER_QUEUE])
    await drainQueue(vhost.url, q).catch(() => []);
});

describe('measurements-ingester', () => {
  it('stores published batches end to end, creating unknown sensors on the fly', async () => {
    const { ingester: ing, registry } = ingester();
    await ing.start();
    await db.pool.query("INSERT INTO sensors (serial, kind) VALUES ('known-1', 'vibration')");

    for (let seq = 1; seq <= 5; seq++) {
      await publish(batch('known-1', seq));
      await publish(batch('new-2', seq, 10, 'temperature'));
    }
    await publisher.publish(
      routingKeys.data('json-3'),
      measurementBatchCodec.encode(batch('json-3', 1), CONTENT_TYPE_JSON),
      {
        contentType: CONTENT_TYPE_JSON,
      },
    );

    await waitFor(async () => (await rowCount()) === 110, '110 rows');
    const sensors = await db.pool.query<{ serial: string; n: number }>(
      `SELECT s.serial, count(m.*)::int AS n FROM sensors s JOIN measurements m ON m.sensor_id = s.id
       GROUP BY s.serial ORDER BY s.serial`,
    );
    expect(sensors.rows).toEqual([
      { serial: 'json-3', n: 10 },
      { serial: 'known-1', n: 50 },
      { serial: 'new-2', n: 50 },
    ]);
    const first = await db.pool.query(
      `SELECT m.channel, (extract(epoch FROM m.time) * 1000000)::bigint AS us, m.value
       FROM measurements m JOIN sensors s ON s.id = m.sensor_id WHERE s.serial = 'new-2' ORDER BY m.time LIMIT 2`,
    );
    expect(first.rows).toEqual([
      { channel: 'temperature', us: String(T0 + 10_000), value: 1 },
      { channel: 'temperature', us: String(T0 + 11_000), value: 1.01 },
    ]);
    expect(await metricValue(registry, 'sensor_streaming_samples_written_total')).toBe(110);
    expect(await metricValue(registry, 'sensor_streaming_messages_received_total', { kind: 'data' })).toBe(
      11,
    );
    expect(await metricValue(registry, 'sensor_streaming_e2e_lag_seconds', { kind: 'data' })).toBe(11);
    expect((await evaluateReadiness(ing.readiness)).ready).toBe(true);
  });

  it('stores a batch published twice (a redelivery or a duplicate) once', async () => {
    const { ingester: ing } = ingester();
    await ing.start();
    await publish(batch('dup-1', 1, 100));
    await waitFor(async () => (await rowCount()) === 100, 'first copy');

    await publish(batch('dup-1', 1, 100));
    await publish(batch('dup-1', 2, 100));
    await publish(batch('dup-1', 2, 100));

    await waitFor(
      async () =>
        (await rowCount()) >= 200 && (await queueMessageCount(vhost.url, 'measurements-ingester')) === 0,
      'second batch',
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await rowCount()).toBe(200);
    expect(await drainQueue(vhost.url, DEAD_LETTER_QUEUE)).toEqual([]);
  });

  it('dead-letters a poison message with its reason and writes the rest of its batch', async () => {
    const { ingester: ing, registry } = ingester({ MAX_BATCH_WAIT_MS: '500' });
    await ing.start();

    await publish(batch('good-1', 1));
    await publisher.publish(routingKeys.data('good-1'), Buffer.from('not a protobuf message \u00ff\u00ff'), {
      contentType: CONTENT_TYPE_PROTOBUF,
    });
    await publish(batch('good-2', 1), routingKeys.data('good-1')); // body serial differs from the routing key
    await publish(batch('good-2', 2));

    await waitFor(async () => (await rowCount()) === 20, 'the two valid batches');
    let dead: Awaited<ReturnType<typeof drainQueue>> = [];
    await waitFor(async () => {
      dead.push(...(await drainQueue(vhost.url, DEAD_LETTER_QUEUE)));
      return dead.length >= 2;
    }, 'two dead letters');
    dead = dead.sort((a, b) =>
      String(a.headers[HEADER_REASON]).localeCompare(String(b.headers[HEADER_REASON])),
    );
    expect(dead.map((d) => d.routingKey)).toEqual(['sensor.good-1.data', 'sensor.good-1.data']);
    expect(String(dead[0]?.headers[HEADER_REASON])).toMatch(/^PROTOCOL_INVALID: /);
    expect(String(dead[1]?.headers[HEADER_REASON])).toMatch(/^ROUTING_KEY_MISMATCH: .*serial good-2/);
    expect(
      await metricValue(registry, 'sensor_streaming_messages_rejected_total', { reason: 'invalid' }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'sensor_streaming_messages_rejected_total', {
        reason: 'routing_key_mismatch',
      }),
    ).toBe(1);
  });

  it('releases messages to the queue (nothing held, nothing counted) and reports not ready while PostgreSQL refuses connections, then writes everything', async () => {
    const admin = createPool({ url: testServerUrl(), logger: silentLogger, max: 1 });
    try {
      const { ingester: ing } = ingester();
      await ing.start();
      await publish(batch('outage-1', 1));
      await waitFor(async () => (await rowCount()) === 10, 'a first batch before the outage');

      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        db.name,
      ]);

      for (let seq = 2; seq <= 21; seq++) await publish(batch('outage-1', seq));
      await waitFor(async () => !ing.isWriting(), 'writes to fail');
      expect((await evaluateReadiness(ing.readiness)).failing).toContain('database');
      // consuming paused and nothing is held: all 20 messages are back in RabbitMQ, ready, none dead-lettered
      await waitFor(
        async () => {
          const q = await queueTotals(vhost.vhost, 'measurements-ingester');
          return q.messages === 20 && q.messages_unacknowledged === 0;
        },
        'the management API to show 20 messages ready, none unacked',
        20_000,
      );
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
      await expect(rowCount()).rejects.toThrow(/not currently accepting connections/);

      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);

      await waitFor(async () => (await rowCount()) === 210, 'every batch after the outage', 20_000);
      await waitFor(async () => (await evaluateReadiness(ing.readiness)).ready, 'ready again');
      expect(await queueMessageCount(vhost.url, 'measurements-ingester')).toBe(0);
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
    } finally {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
  });

  it('puts no good message in the dead-letter queue through more restarts than x-delivery-limit during an outage', async () => {
    // the old loss path: each restart returned the held batch, x-delivery-count grew, and after
    // x-delivery-limit (5) returns RabbitMQ dead-lettered good data
    const admin = createPool({ url: testServerUrl(), logger: silentLogger, max: 1 });
    try {
      const first = ingester({ SHUTDOWN_DRAIN_MS: '200', RELEASE_AFTER_MS: '300' });
      await first.ingester.start();
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        db.name,
      ]);
      for (let seq = 1; seq <= 20; seq++) await publish(batch('restarts-1', seq));
      await waitFor(async () => !first.ingester.isWriting(), 'writes to fail');
      await first.ingester.stop();

      const restarts = 7; // > DEFAULT_DELIVERY_LIMIT
      for (let r = 0; r < restarts; r++) {
        const { ingester: ing } = ingester({
          SHUTDOWN_DRAIN_MS: '200',
          RELEASE_AFTER_MS: '300',
          SERVICE_NAME: `mi-restart-${r}`,
        });
        await ing.start();
        // twice, a crash: the broker drops the connections (the management API lists them after a delay)
        if (r < 2) await closeConnectionsByName(`mi-restart-${r}`, { expect: 1 });
        await ing.stop();
      }
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
      expect(await queueMessageCount(vhost.url, 'measurements-ingester')).toBe(20);

      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);
      const last = ingester();
      await last.ingester.start();
      await waitFor(async () => (await rowCount()) === 200, 'every sample after the outage', 30_000);
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
      await waitFor(
        async () => (await queueMessageCount(vhost.url, 'measurements-ingester')) === 0,
        'an empty queue',
      );
    } finally {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
  }, 90_000);

  it('gives the held messages back to RabbitMQ when stopped during an outage', async () => {
    const admin = createPool({ url: testServerUrl(), logger: silentLogger, max: 1 });
    try {
      const { ingester: ing } = ingester({ SHUTDOWN_DRAIN_MS: '300' });
      await ing.start();
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        db.name,
      ]);
      for (let seq = 1; seq <= 5; seq++) await publish(batch('held-1', seq));
      await waitFor(async () => !ing.isWriting(), 'writes to fail');

      const started = Date.now();
      await ing.stop();

      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await queueMessageCount(vhost.url, 'measurements-ingester')).toBe(5);
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
    } finally {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
  });

  it('loses nothing when a replica is stopped mid-stream (competing consumers take over)', async () => {
    const a = ingester({ MAX_BATCH_MESSAGES: '5', MAX_BATCH_WAIT_MS: '10', WRITE_CONCURRENCY: '1' });
    const b = ingester({ MAX_BATCH_MESSAGES: '5', MAX_BATCH_WAIT_MS: '10', WRITE_CONCURRENCY: '1' });
    await a.ingester.start();
    await b.ingester.start();

    const total = 300;
    let published = 0;
    const publishing = (async () => {
      for (let seq = 1; seq <= total; seq++) {
        await publish(batch(`stream-${seq % 7}`, seq, 20));
        published++;
      }
    })();
    await waitFor(async () => published >= 100 && (await rowCount()) > 0, 'the stream to be under way');
    const publishedAtStop = published;
    await a.ingester.stop();
    await publishing;

    await waitFor(async () => (await rowCount()) === total * 20, 'every sample', 20_000);
    expect(publishedAtStop).toBeLessThan(total);
    expect(await metricValue(a.registry, 'sensor_streaming_messages_received_total')).toBeGreaterThan(0);
    expect(await metricValue(b.registry, 'sensor_streaming_messages_received_total')).toBeGreaterThan(0);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
  });
});
