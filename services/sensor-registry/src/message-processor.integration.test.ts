import type { Delivery } from '@sensor-streaming/bus';
import type { Pool } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import { routingKeys, type SensorState, sensorStateCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMessageProcessor } from './message-processor.js';
import { createRegistryMetrics } from './metrics.js';

// The processor against a real database whose connection fails on purpose:
// outages are retried with the batch held, a row the database refuses is
// rejected alone.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'regproc' });
});
afterAll(async () => {
  await db?.drop();
});

const logger = createLogger({ service: 'test', level: 'silent' });

function delivery(s: SensorState): Delivery {
  return {
    body: sensorStateCodec.encode(s),
    routingKey: routingKeys.state(s.serial),
    contentType: 'application/x-protobuf',
    headers: {},
    redelivered: false,
    deliveryCount: 1,
    exchange: 'sensor_streaming',
    queue: 'sensor-registry',
  };
}

function state(serial: string): SensorState {
  return {
    serial,
    kind: 'process',
    channels: ['temperature'],
    firmware: '1',
    state: 'AWAKE',
    sampleFrequencyHz: 1,
    uptimeS: 0,
    reason: 'BIRTH',
    timeUs: Date.now() * 1000,
    labels: {},
    minFrequencyHz: 0,
    maxFrequencyHz: 0,
  };
}

/** The real pool, except that `fail(text, values)` may throw instead. */
function faultyPool(fail: (text: string, values: unknown[] | undefined) => Error | undefined): Pool {
  return new Proxy(db.pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return (text: string, values?: unknown[]) => {
        const err = fail(text, values);
        return err === undefined ? target.query(text, values) : Promise.reject(err);
      };
    },
  });
}

const exists = async (serial: string) =>
  (await db.pool.query('SELECT 1 FROM sensors WHERE serial = $1', [serial])).rowCount === 1;

describe('message processor', () => {
  it('holds the batch while the database is unavailable and writes it when it is back', async () => {
    let failures = 3;
    const healthSeen: boolean[] = [];
    const processor = createMessageProcessor({
      pool: faultyPool(() => {
        if (failures <= 0) return undefined;
        failures--;
        healthSeen.push(processor.isHealthy());
        return Object.assign(new Error('terminating connection due to administrator command'), {
          code: '57P01',
        });
      }),
      logger,
      metrics: createRegistryMetrics(new Registry()),
      retry: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    const outcome = await processor.handle([delivery(state('proc-outage'))]);
    expect(outcome).toEqual({});
    expect(failures).toBe(0);
    expect(healthSeen).toEqual([true, false, false]); // unhealthy from the first failure until success
    expect(processor.isHealthy()).toBe(true);
    expect(await exists('proc-outage')).toBe(true);
  });

  it('gives a held batch back (throws) when stopped during an outage', async () => {
    const processor = createMessageProcessor({
      pool: faultyPool(() => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      logger,
      metrics: createRegistryMetrics(new Registry()),
      retry: { initialDelayMs: 50, maxDelayMs: 50 },
    });
    const handled = processor.handle([delivery(state('proc-stopped'))]);
    setTimeout(() => processor.stop(), 120);
    await expect(handled).rejects.toThrow('stopping');
    expect(await exists('proc-stopped')).toBe(false);
  });

  it('rejects only the message the database refuses and stores the rest', async () => {
    const metrics = new Registry();
    const processor = createMessageProcessor({
      pool: faultyPool((text, values) =>
        text.includes('INSERT INTO sensors') && JSON.stringify(values).includes('proc-refused')
          ? Object.assign(new Error('new row violates check constraint'), { code: '23514' })
          : undefined,
      ),
      logger,
      metrics: createRegistryMetrics(metrics),
      retry: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    const outcome = await processor.handle([
      delivery(state('proc-ok-1')),
      delivery(state('proc-refused')),
      delivery(state('proc-ok-2')),
    ]);
    expect(outcome.rejected).toEqual([{ index: 1, reason: expect.stringContaining('REGISTRY_DB_REJECTED') }]);
    expect(await exists('proc-ok-1')).toBe(true);
    expect(await exists('proc-ok-2')).toBe(true);
    expect(await exists('proc-refused')).toBe(false);
    expect(await metrics.getSingleMetricAsString('sensor_streaming_messages_rejected_total')).toContain(
      'kind="state",reason="db_rejected"} 1',
    );
  });
});
