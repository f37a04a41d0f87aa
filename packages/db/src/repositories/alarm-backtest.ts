import type { Queryable } from '../pool.js';

// Stored data for `iotctl rules test` (the alarm service's backtest): sensors by selector, then their
// measurements and log entries of a time slice in time order. Times are µs since the epoch.

const ts = (n: number): string => `(timestamptz 'epoch' + $${n}::bigint * interval '1 microsecond')`;
const us = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::bigint`;

export interface BacktestSensor {
  id: number;
  serial: string;
  kind: string;
  labels: Record<string, string>;
}

/** Registered sensors matching a selector (`kind` matches the sensor kind, other keys its labels). */
export async function listBacktestSensors(
  db: Queryable,
  selector: Record<string, string> = {},
): Promise<BacktestSensor[]> {
  const { kind, ...labels } = selector;
  const { rows } = await db.query<{
    id: string;
    serial: string;
    kind: string;
    labels: Record<string, string>;
  }>(
    `SELECT id, serial, kind, labels FROM sensors
     WHERE ($1::text IS NULL OR kind = $1) AND labels @> $2::jsonb
     ORDER BY serial`,
    [kind ?? null, JSON.stringify(labels)],
  );
  return rows.map((r) => ({ id: Number(r.id), serial: r.serial, kind: r.kind, labels: r.labels }));
}

export interface BacktestSamples {
  sensorId: number;
  channel: string;
  timesUs: number[];
  values: number[];
}

/** Samples of these sensors in [fromUs, toUs), one series per sensor + channel, in time order. */
export async function readBacktestSamples(
  db: Queryable,
  sensorIds: readonly number[],
  fromUs: number,
  toUs: number,
): Promise<BacktestSamples[]> {
  if (sensorIds.length === 0) return [];
  const { rows } = await db.query<{ sensor_id: string; channel: string; t: string[]; v: number[] }>(
    `SELECT sensor_id, channel, array_agg(${us('time')} ORDER BY time) AS t, array_agg(value ORDER BY time) AS v
     FROM measurements
     WHERE sensor_id = ANY($1::bigint[]) AND time >= ${ts(2)} AND time < ${ts(3)}
     GROUP BY sensor_id, channel`,
    [sensorIds, fromUs, toUs],
  );
  return rows.map((r) => ({
    sensorId: Number(r.sensor_id),
    channel: r.channel,
    timesUs: r.t.map(Number),
    values: r.v,
  }));
}

export interface BacktestLogEntry {
  sensorId: number;
  timeUs: number;
  level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  errorCode: string;
}

/** Log entries of these sensors in [fromUs, toUs), in time order. */
export async function readBacktestLogs(
  db: Queryable,
  sensorIds: readonly number[],
  fromUs: number,
  toUs: number,
): Promise<BacktestLogEntry[]> {
  if (sensorIds.length === 0) return [];
  const { rows } = await db.query<{
    sensor_id: string;
    t: string;
    level: BacktestLogEntry['level'];
    error_code: string;
  }>(
    `SELECT sensor_id, ${us('time')} AS t, level, error_code FROM sensor_logs
     WHERE sensor_id = ANY($1::bigint[]) AND time >= ${ts(2)} AND time < ${ts(3)}
     ORDER BY time, sensor_id`,
    [sensorIds, fromUs, toUs],
  );
  return rows.map((r) => ({
    sensorId: Number(r.sensor_id),
    timeUs: Number(r.t),
    level: r.level,
    errorCode: r.error_code,
  }));
}
