// GPS in sample batches: stored as a track (moves only) and shown as the sensor's current position.
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  type GeoPoint,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createMeasurementsIngester, type MeasurementsIngester } from './measurements-ingester.js';

const logger = createLogger({ service: 'measurements-ingester-positions-test', level: 'silent' });
const T0 = (Date.now() - 60_000) * 1000;

let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
let ingester: MeasurementsIngester;

beforeAll(async () => {
  vhost = await createTestVhost('mipos');
  db = await createTestDatabase({ prefix: 'mi_positions' });
  publisher = createBus({ url: vhost.url, connectionName: 'mi-positions-publisher', logger });
  await publisher.start();
  ingester = createMeasurementsIngester({
    config: loadConfig({
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      MAX_BATCH_MESSAGES: '20',
      MAX_BATCH_WAIT_MS: '30',
      STORAGE_MAINTENANCE_INTERVAL: '0',
    }),
    logger,
    registry: new Registry(),
  });
  await ingester.start();
});

afterAll(async () => {
  await ingester?.stop();
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
});

function batch(sequence: number, position?: GeoPoint): MeasurementBatch {
  return {
    serial: 'crane-9',
    channel: 'load',
    unit: 't',
    sequence,
    firstSampleTimeUs: T0 + sequence * 1_000_000,
    samplePeriodNs: 100_000_000,
    values: [1, 2, 3],
    ...(position ? { position } : {}),
  };
}

async function publish(b: MeasurementBatch): Promise<void> {
  await publisher.publish(routingKeys.data(b.serial), measurementBatchCodec.encode(b), {
    contentType: CONTENT_TYPE_PROTOBUF,
  });
}

async function track(): Promise<Array<{ latitude: number; longitude: number }>> {
  const { rows } = await db.pool.query<{ latitude: number; longitude: number }>(
    `SELECT p.latitude, p.longitude FROM sensor_positions p JOIN sensors s ON s.id = p.sensor_id
     WHERE s.serial = 'crane-9' ORDER BY p.time`,
  );
  return rows;
}

async function samples(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM measurements');
  return rows[0]?.n ?? 0;
}

describe('positions reported with samples', () => {
  it('are stored when the sensor moves, and the sensor shows the newest one', async () => {
    // one at a time: two batches of one sensor written concurrently may both store an unchanged position
    await publish(batch(1, { lat: 51.9, lon: 4.4, altM: 20 }));
    await waitFor(async () => (await samples()) === 3, 'the first batch', 20_000);
    await publish(batch(2, { lat: 51.9, lon: 4.4, altM: 20 })); // did not move
    await waitFor(async () => (await samples()) === 6, 'the second batch', 20_000);
    await publish(batch(3)); // no GPS in this batch
    await waitFor(async () => (await samples()) === 9, 'the third batch', 20_000);
    expect(await track()).toHaveLength(1);
    await publish(batch(4, { lat: 51.91, lon: 4.41 }));
    await waitFor(async () => (await track()).length === 2, 'the second position', 20_000);
    expect(await track()).toEqual([
      { latitude: 51.9, longitude: 4.4 },
      { latitude: 51.91, longitude: 4.41 },
    ]);
    const { rows } = await db.pool.query(
      "SELECT latitude, longitude, altitude_m FROM sensors WHERE serial = 'crane-9'",
    );
    expect(rows).toEqual([{ latitude: 51.91, longitude: 4.41, altitude_m: null }]);
    expect(await samples()).toBe(12);
  });
});
