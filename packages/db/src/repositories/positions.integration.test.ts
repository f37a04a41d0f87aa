import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/index.js';
import { getSensorPositions, writeSensorPositions } from './positions.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'positions' });
});
afterAll(async () => {
  await db?.drop();
});

async function sensor(serial: string): Promise<number> {
  const { rows } = await db.pool.query<{ id: string }>(
    'INSERT INTO sensors (serial) VALUES ($1) RETURNING id',
    [serial],
  );
  return Number(rows[0]?.id);
}

async function current(id: number) {
  const { rows } = await db.pool.query(
    'SELECT latitude, longitude, altitude_m, position_time FROM sensors WHERE id = $1',
    [id],
  );
  return rows[0];
}

const us = (iso: string) => Date.parse(iso) * 1000;

describe('sensor positions', () => {
  it('stores a track of moves only, and the sensor shows the newest position', async () => {
    const crane = await sensor('crane-1');
    const at = (t: string, lat: number, lon: number, altM?: number) => ({
      sensorId: crane,
      timeUs: us(t),
      lat,
      lon,
      ...(altM === undefined ? {} : { altM }),
    });
    expect(await writeSensorPositions(db.pool, [at('2026-05-01T10:00:00Z', 51.9, 4.4, 12)])).toBe(1);
    // same place again (every batch carries it): nothing stored
    expect(await writeSensorPositions(db.pool, [at('2026-05-01T10:00:05Z', 51.9, 4.4, 12)])).toBe(0);
    // moved; two positions of one sensor in one write batch: the newest is kept
    expect(
      await writeSensorPositions(db.pool, [
        at('2026-05-01T10:01:00Z', 51.95, 4.41),
        at('2026-05-01T10:02:00Z', 52, 4.42),
      ]),
    ).toBe(1);
    // redelivered batch: a no-op
    expect(await writeSensorPositions(db.pool, [at('2026-05-01T10:02:00Z', 52, 4.42)])).toBe(0);

    const track = await getSensorPositions(db.pool, crane, {
      from: new Date('2026-05-01T00:00:00Z'),
      to: new Date('2026-05-02T00:00:00Z'),
    });
    expect(track).toEqual([
      { time: new Date('2026-05-01T10:00:00Z'), latitude: 51.9, longitude: 4.4, altitudeM: 12 },
      { time: new Date('2026-05-01T10:02:00Z'), latitude: 52, longitude: 4.42, altitudeM: null },
    ]);
    expect(await current(crane)).toEqual({
      latitude: 52,
      longitude: 4.42,
      altitude_m: null,
      position_time: new Date('2026-05-01T10:02:00Z'),
    });

    // a late (older) position joins the track but does not move the sensor back
    expect(await writeSensorPositions(db.pool, [at('2026-05-01T09:00:00Z', 40, 3)])).toBe(1);
    expect(await current(crane)).toMatchObject({ latitude: 52, longitude: 4.42 });

    // the registry's upsert from SensorState (a configured location) no longer moves it either (0013)
    await db.pool.query('UPDATE sensors SET latitude = 10, longitude = 20, firmware = $2 WHERE id = $1', [
      crane,
      '2.0.0',
    ]);
    expect(await current(crane)).toMatchObject({ latitude: 52, longitude: 4.42 });
    // a sensor without GPS in its samples keeps taking the registry's location
    const fixed = await sensor('pump-fixed');
    await db.pool.query('UPDATE sensors SET latitude = 10, longitude = 20 WHERE id = $1', [fixed]);
    expect(await current(fixed)).toMatchObject({ latitude: 10, longitude: 20, position_time: null });
  });

  it('writes several sensors in one statement and rejects invalid coordinates naming the field', async () => {
    const a = await sensor('truck-a');
    const b = await sensor('truck-b');
    expect(
      await writeSensorPositions(db.pool, [
        { sensorId: a, timeUs: us('2026-05-02T00:00:00Z'), lat: 1, lon: 2 },
        { sensorId: b, timeUs: us('2026-05-02T00:00:00Z'), lat: -3, lon: -4, altM: 5 },
      ]),
    ).toBe(2);
    expect(await current(b)).toMatchObject({ latitude: -3, longitude: -4, altitude_m: 5 });
    await expect(
      writeSensorPositions(db.pool, [
        { sensorId: a, timeUs: us('2026-05-02T00:00:01Z'), lat: 1, lon: 2 },
        { sensorId: a, timeUs: us('2026-05-02T00:00:02Z'), lat: 91, lon: 2 },
      ]),
    ).rejects.toThrow('positions[1].lat: must be within [-90, 90], got 91');
    expect(await writeSensorPositions(db.pool, [])).toBe(0);
  });
});
