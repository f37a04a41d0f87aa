import { type Bus, createBus, HEADER_REASON } from '@sensor-streaming/bus';
import {
  createTestVhost,
  drainQueue,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import { createPool, silentLogger } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  type LogBatch,
  type LogEntry,
  logBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger, evaluateReadiness } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createLogsIngester, type LogsIngester } from './logs-ingester.js';

const logger = createLogger({ service: 'logs-ingester-test', level: 'silent' });
const T0 = (Date.now() - 60_000) * 1000;

let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
let running: LogsIngester[];

function ingester(): { ingester: LogsIngester; registry: Registry } {
  const registry = new Registry();
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    MAX_BATCH_MESSAGES: '20',
    MAX_BATCH_WAIT_MS: '30',
    RETRY_INITIAL_DELAY_MS: '50',
    RETRY_MAX_DELAY_MS: '300',
  });
  const i = createLogsIngester({ config, logger, registry });
  running.push(i);
  return { ingester: i, registry };
}

function entry(i: number, over: Partial<LogEntry> = {}): LogEntry {
  return {
    timeUs: T0 + i * 1000,
    level: i % 3 === 0 ? 'ERROR' : 'INFO',
    errorCode: i % 3 === 0 ? 'C004_OVERPRESSURE' : '',
    appVersion: '2.0.1',
    firmwareVersion: 'fw-1.4',
    message: `event ${i}`,
    component: 'valve',
    ...over,
  };
}

function batch(serial: string, sequence: number, n = 5): LogBatch {
  return { serial, sequence, entries: Array.from({ length: n }, (_, i) => entry(sequence * 100 + i)) };
}

async function publish(b: LogBatch, routingKey = routingKeys.logs(b.serial)): Promise<void> {
  await publisher.publish(routingKey, logBatchCodec.encode(b), { contentType: CONTENT_TYPE_PROTOBUF });
}

async function rowCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sensor_logs');
  return rows[0]?.n ?? 0;
}

async function counter(
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
  vhost = await createTestVhost('li');
  db = await createTestDatabase({ prefix: 'li_ingest' });
  publisher = createBus({ url: vhost.url, connectionName: 'li-test-publisher', logger });
  await publisher.start();
});

afterAll(async () => {
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
});

beforeEach(async () => {
  running = [];
  await db.pool.query('TRUNCATE sensor_logs, sensors CASCADE');
});

afterEach(async () => {
  for (const i of running) await i.stop();
  for (const q of ['logs-ingester', DEAD_LETTER_QUEUE]) await drainQueue(vhost.url, q).catch(() => []);
});

describe('logs-ingester', () => {
  it('stores every entry of published batches, creating the unknown sensor', async () => {
    const { ingester: ing, registry } = ingester();
    await ing.start();
    const batches = [1, 2, 3, 4].map((seq) => batch('pump-7', seq));
    for (const b of batches) await publish(b);
    const errors = batches.flatMap((b) => b.entries).filter((e) => e.level === 'ERROR').length;

    await waitFor(async () => (await rowCount()) === 20, '20 log entries');
    const { rows } = await db.pool.query(
      `SELECT s.serial, (extract(epoch FROM l.time) * 1000000)::bigint AS us, l.level, l.error_code,
              l.app_version, l.firmware_version, l.component, l.message
       FROM sensor_logs l JOIN sensors s ON s.id = l.sensor_id ORDER BY l.time LIMIT 1`,
    );
    expect(rows[0]).toEqual({
      serial: 'pump-7',
      us: String(T0 + 100 * 1000),
      level: 'INFO',
      error_code: '',
      app_version: '2.0.1',
      firmware_version: 'fw-1.4',
      component: 'valve',
      message: 'event 100',
    });
    expect(await counter(registry, 'sensor_streaming_log_entries_written_total', { level: 'ERROR' })).toBe(
      errors,
    );
    expect(await counter(registry, 'sensor_streaming_log_entries_written_total')).toBe(20);
    expect((await evaluateReadiness(ing.readiness)).ready).toBe(true);
  });

  it('stores a batch published twice once, and a poison message goes to the dead-letter queue with its reason', async () => {
    const { ingester: ing } = ingester();
    await ing.start();
    await publish(batch('pump-8', 1));
    await publish(batch('pump-8', 1));
    await publisher.publish(routingKeys.logs('pump-8'), Buffer.from([0xff, 0xff, 0xff]), {
      contentType: CONTENT_TYPE_PROTOBUF,
    });
    await publish(batch('pump-8', 2));

    await waitFor(async () => (await rowCount()) === 10, 'both distinct batches');
    const dead: Awaited<ReturnType<typeof drainQueue>> = [];
    await waitFor(async () => {
      dead.push(...(await drainQueue(vhost.url, DEAD_LETTER_QUEUE)));
      return dead.length >= 1;
    }, 'the poison message');
    expect(dead).toHaveLength(1);
    expect(String(dead[0]?.headers[HEADER_REASON])).toMatch(/^PROTOCOL_INVALID: /);
    await waitFor(async () => (await queueMessageCount(vhost.url, 'logs-ingester')) === 0, 'an empty queue');
    expect(await rowCount()).toBe(10);
  });

  it('holds batches while PostgreSQL refuses connections and writes them when it is back', async () => {
    const admin = createPool({ url: testServerUrl(), logger: silentLogger, max: 1 });
    try {
      const { ingester: ing } = ingester();
      await ing.start();
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        db.name,
      ]);

      for (let seq = 1; seq <= 5; seq++) await publish(batch('pump-9', seq));
      await waitFor(async () => !ing.isWriting(), 'writes to fail');
      expect((await evaluateReadiness(ing.readiness)).failing).toContain('database');
      expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);

      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);
      await waitFor(async () => (await rowCount()) === 25, 'every entry after the outage', 20_000);
      await waitFor(async () => (await evaluateReadiness(ing.readiness)).ready, 'ready again');
    } finally {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
  });
});
