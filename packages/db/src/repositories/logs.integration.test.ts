import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.js';
import { type SensorLogEntry, writeSensorLogs } from './logs.js';
import { isRowDataError } from './measurements.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'mi_logs' });
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE sensor_logs');
});

const T0 = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 7;

function entry(i: number, over: Partial<SensorLogEntry> = {}): SensorLogEntry {
  return {
    timeUs: T0 + i,
    level: i % 2 === 0 ? 'ERROR' : 'INFO',
    errorCode: i % 2 === 0 ? 'C003_OVERHEAT' : '',
    appVersion: '1.2.3',
    firmwareVersion: 'fw-9',
    component: 'pump',
    message: `entry ${i} ünïcode ✓`,
    ...over,
  };
}

describe('writeSensorLogs', () => {
  it('stores every entry with all its fields', async () => {
    const r = await writeSensorLogs(db.pool, [{ sensorId: 3, entries: [entry(0), entry(1)] }]);

    expect(r).toEqual({ rows: 2, inserted: 2, deduplicated: false });
    const { rows } = await db.pool.query(
      `SELECT sensor_id, (extract(epoch FROM time) * 1000000)::bigint AS us, level, error_code,
              app_version, firmware_version, component, message
       FROM sensor_logs ORDER BY time`,
    );
    expect(rows[0]).toEqual({
      sensor_id: '3',
      us: String(T0),
      level: 'ERROR',
      error_code: 'C003_OVERHEAT',
      app_version: '1.2.3',
      firmware_version: 'fw-9',
      component: 'pump',
      message: 'entry 0 ünïcode ✓',
    });
    expect(rows[1]?.level).toBe('INFO');
  });

  it('makes a redelivered batch a no-op but keeps two different entries at the same time', async () => {
    const entries = [entry(0), entry(1), entry(1, { message: 'another event, same microsecond' })];
    await writeSensorLogs(db.pool, [{ sensorId: 3, entries }]);

    const again = await writeSensorLogs(db.pool, [{ sensorId: 3, entries: [...entries, entry(2)] }]);

    expect(again).toEqual({ rows: 4, inserted: 1, deduplicated: true });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM sensor_logs');
    expect(rows[0].n).toBe(4);
  });

  it('fails the whole batch with a row data error when an entry holds a NUL byte, writing nothing', async () => {
    const err = await writeSensorLogs(db.pool, [
      { sensorId: 3, entries: [entry(0), entry(1, { message: 'bad \u0000 byte' })] },
    ]).catch((e: unknown) => e);

    expect(isRowDataError(err)).toBe(true);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM sensor_logs');
    expect(rows[0].n).toBe(0);
    // the pooled connection is still fine
    await writeSensorLogs(db.pool, [{ sensorId: 3, entries: [entry(5)] }]);
  });
});
