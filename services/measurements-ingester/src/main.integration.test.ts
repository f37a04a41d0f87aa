import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester } from './measurements-ingester.js';

const logger = createLogger({ service: 'measurements-ingester-test', level: 'silent' });
let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
let child: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

beforeAll(async () => {
  vhost = await createTestVhost('mi-main');
  db = await createTestDatabase({ prefix: 'mi_main' });
  publisher = createBus({ url: vhost.url, connectionName: 'mi-main-publisher', logger });
  await publisher.start();
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
});

describe('measurements-ingester process', () => {
  it('on SIGTERM mid-stream finishes its batches and exits 143; nothing is lost or duplicated', async () => {
    const port = await freePort();
    child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          AMQP_URL: vhost.url,
          DATABASE_URL: db.url,
          METRICS_PORT: String(port),
          METRICS_HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          MAX_BATCH_MESSAGES: '5',
          MAX_BATCH_WAIT_MS: '20',
        },
        stdio: 'ignore',
      },
    );
    const exited = once(child, 'exit');
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true,
      'the ingester process to be ready',
      30_000,
    );

    const total = 200;
    const t0 = (Date.now() - 600_000) * 1000;
    let published = 0;
    const publishing = (async () => {
      for (let seq = 1; seq <= total; seq++) {
        const serial = `proc-${seq % 5}`;
        const body = measurementBatchCodec.encode({
          serial,
          channel: 'pressure',
          unit: 'kPa',
          sequence: seq,
          firstSampleTimeUs: t0 + seq * 100_000,
          samplePeriodNs: 1_000_000,
          values: Array.from({ length: 50 }, (_, i) => i),
        });
        await publisher.publish(routingKeys.data(serial), body, { contentType: CONTENT_TYPE_PROTOBUF });
        published++;
      }
    })();
    const count = async () =>
      Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM measurements')).rows[0]?.n);
    await waitFor(async () => published >= 50 && (await count()) > 0, 'the stream to be under way', 20_000);
    const publishedAtSignal = published;
    child.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, string | null];
    child = undefined;
    await publishing;

    expect(publishedAtSignal).toBeLessThan(total);
    expect({ code, signal }).toEqual({ code: 143, signal: null });
    // what the stopped process did not take is still queued: a new replica writes it
    const next = createMeasurementsIngester({
      config: loadConfig({ AMQP_URL: vhost.url, DATABASE_URL: db.url, MAX_BATCH_WAIT_MS: '20' }),
      logger,
      registry: new Registry(),
    });
    await next.start();
    try {
      await waitFor(async () => (await count()) === total * 50, 'every sample', 60_000);
    } finally {
      await next.stop();
    }
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
  }, 150_000);
});
