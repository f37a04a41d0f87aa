import type { Queryable } from '../pool.js';

/** A position reported with a sample batch (the protocol's GeoPoint plus the sensor and time). */
export interface SensorPositionSample {
  sensorId: number;
  /** Integer microseconds since the Unix epoch (the batch's newest sample). */
  timeUs: number;
  lat: number;
  lon: number;
  /** Metres; omitted when unknown. */
  altM?: number;
}

export interface SensorPositionRow {
  time: Date;
  latitude: number;
  longitude: number;
  altitudeM: number | null;
}

function validatePosition(p: SensorPositionSample, i: number): void {
  if (!Number.isFinite(p.lat) || p.lat < -90 || p.lat > 90) {
    throw new RangeError(`positions[${i}].lat: must be within [-90, 90], got ${p.lat}`);
  }
  if (!Number.isFinite(p.lon) || p.lon < -180 || p.lon > 180) {
    throw new RangeError(`positions[${i}].lon: must be within [-180, 180], got ${p.lon}`);
  }
  if (p.altM !== undefined && !Number.isFinite(p.altM)) {
    throw new RangeError(`positions[${i}].altM: must be finite, got ${p.altM}`);
  }
}

/**
 * Stores the newest position of each sensor in `positions` when it differs
 * from the sensor's latest stored position (a stationary sensor costs one row,
 * not one per batch). One statement; idempotent (a redelivered batch is a
 * no-op). Two writers storing the same sensor at once may both store an
 * unchanged position: a redundant track point, harmless. A trigger moves sensors.latitude/longitude/altitude_m to the newest
 * row (migrations/0010). Returns the number of rows stored.
 */
export async function writeSensorPositions(
  db: Queryable,
  positions: readonly SensorPositionSample[],
): Promise<number> {
  if (positions.length === 0) return 0;
  const ids: number[] = [];
  const times: number[] = [];
  const lats: number[] = [];
  const lons: number[] = [];
  const alts: Array<number | null> = [];
  positions.forEach((p, i) => {
    validatePosition(p, i);
    ids.push(p.sensorId);
    times.push(Math.round(p.timeUs));
    lats.push(p.lat);
    lons.push(p.lon);
    alts.push(p.altM ?? null);
  });
  const r = await db.query(
    `INSERT INTO sensor_positions (sensor_id, time, latitude, longitude, altitude_m)
     SELECT p.sensor_id, p.time, p.lat, p.lon, p.alt
     FROM (
       SELECT DISTINCT ON (sensor_id) sensor_id, timestamptz 'epoch' + us * interval '1 microsecond' AS time,
              lat, lon, alt
       FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[], $5::float8[]) AS t(sensor_id, us, lat, lon, alt)
       ORDER BY sensor_id, us DESC
     ) p
     LEFT JOIN LATERAL (
       SELECT l.latitude, l.longitude, l.altitude_m
       FROM sensor_positions l
       WHERE l.sensor_id = p.sensor_id AND l.time <= p.time
       ORDER BY l.time DESC
       LIMIT 1
     ) last ON true
     WHERE last.latitude IS NULL
        OR (last.latitude, last.longitude, last.altitude_m) IS DISTINCT FROM (p.lat, p.lon, p.alt)
     ON CONFLICT DO NOTHING`,
    [ids, times, lats, lons, alts],
  );
  return r.rowCount ?? 0;
}

/** A sensor's position track in [from, to), oldest first, at most `limit` rows (newest kept). */
export async function getSensorPositions(
  db: Queryable,
  sensorId: number,
  range: { from: Date; to: Date; limit?: number },
): Promise<SensorPositionRow[]> {
  const { rows } = await db.query<{
    time: Date;
    latitude: number;
    longitude: number;
    altitude_m: number | null;
  }>(
    `SELECT time, latitude, longitude, altitude_m FROM (
       SELECT time, latitude, longitude, altitude_m FROM sensor_positions
       WHERE sensor_id = $1 AND time >= $2 AND time < $3
       ORDER BY time DESC LIMIT $4
     ) t ORDER BY time`,
    [sensorId, range.from, range.to, range.limit ?? 10_000],
  );
  return rows.map((r) => ({
    time: r.time,
    latitude: r.latitude,
    longitude: r.longitude,
    altitudeM: r.altitude_m,
  }));
}
