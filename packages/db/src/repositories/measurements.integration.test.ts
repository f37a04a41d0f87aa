import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.js';
import { type MeasurementSeries, type MeasurementWriteStrategy, writeMeasurements } from './measurements.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'mi_meas' });
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE measurements');
});

const T0 = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123; // µs, sub-millisecond on purpose

function series(sensorId: number, channel: string, n: number, offset = 0): MeasurementSeries {
  const timesUs: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    timesUs.push(T0 + (offset + i) * 1001);
    values.push((offset + i) * 0.5 - 3);
  }
  return { sensorId, channel, timesUs, values };
}

async function stored(): Promise<Array<{ sensor_id: string; channel: string; us: string; value: number }>> {
  const { rows } = await db.pool.query(
    `SELECT sensor_id, channel, (extract(epoch FROM time) * 1000000)::bigint AS us, value
     FROM measurements ORDER BY sensor_id, channel, time`,
  );
  return rows;
}

describe('writeMeasurements', () => {
  it('stores every sample with its sensor, channel, microsecond time and value', async () => {
    const r = await writeMeasurements(db.pool, [series(1, 'vibration', 3), series(2, 'temperature', 2)]);

    expect(r).toEqual({ rows: 5, inserted: 5, deduplicated: false });
    const rows = await stored();
    expect(rows).toHaveLength(5);
    expect(rows[0]).toEqual({ sensor_id: '1', channel: 'vibration', us: String(T0), value: -3 });
    expect(rows[2]).toEqual({ sensor_id: '1', channel: 'vibration', us: String(T0 + 2002), value: -2 });
    expect(rows[4]).toEqual({ sensor_id: '2', channel: 'temperature', us: String(T0 + 1001), value: -2.5 });
  });

  it('makes a redelivered batch a no-op through the staging fallback', async () => {
    const batch = [series(1, 'vibration', 100)];
    await writeMeasurements(db.pool, batch);

    const again = await writeMeasurements(db.pool, batch);

    expect(again).toEqual({ rows: 100, inserted: 0, deduplicated: true });
    expect(await stored()).toHaveLength(100);
  });

  it('inserts only the new rows of a partly stored batch, and duplicates inside one batch once', async () => {
    await writeMeasurements(db.pool, [series(1, 'vibration', 10)]);

    const r = await writeMeasurements(db.pool, [
      series(1, 'vibration', 20),
      series(3, 'vibration', 5),
      series(3, 'vibration', 5),
    ]);

    expect(r).toEqual({ rows: 30, inserted: 15, deduplicated: true });
    expect(await stored()).toHaveLength(25);
  });

  it.each<MeasurementWriteStrategy>(['staging', 'unnest'])(
    'strategy %s stores the same rows and is idempotent',
    async (strategy) => {
      const batch = [series(4, 'pressure', 50), series(5, 'pressure', 50)];
      expect((await writeMeasurements(db.pool, batch, { strategy })).inserted).toBe(100);
      expect((await writeMeasurements(db.pool, batch, { strategy })).inserted).toBe(0);
      const rows = await stored();
      expect(rows).toHaveLength(100);
      expect(rows[1]).toEqual({ sensor_id: '4', channel: 'pressure', us: String(T0 + 1001), value: -2.5 });
    },
  );

  it('writes nothing and does not touch the database for an empty batch', async () => {
    expect(await writeMeasurements(db.pool, [])).toEqual({ rows: 0, inserted: 0, deduplicated: false });
  });

  it('keeps the connection usable after a fallback (pooled clients are reused)', async () => {
    const batch = [series(6, 'humidity', 10)];
    for (let i = 0; i < 8; i++) await writeMeasurements(db.pool, batch);
    await writeMeasurements(db.pool, [series(6, 'humidity', 10, 10)]);
    expect(await stored()).toHaveLength(20);
  });
});
