import type { Queryable } from '../pool.js';
import { us } from './registry-sql.js';

// What sensors sent, read back for the registry's RPC: logs (`iotctl logs`, served by the sensor_logs index
// on (sensor_id, time DESC)) and the newest stored times (the live view's ingest health).
// Schema: migrations/0003_measurements.sql, migrations/0004_sensor_logs.sql.

export type RegistryLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
const LEVELS: readonly RegistryLogLevel[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

export interface RegistryLogQuery {
  serials: readonly string[];
  /** This level and above. */
  minLevel?: RegistryLogLevel;
  errorCode?: string;
  sinceUs?: number;
  limit: number;
}

export interface RegistryLogRow {
  serial: string;
  timeUs: number;
  level: RegistryLogLevel;
  errorCode: string;
  component: string;
  message: string;
  appVersion: string;
  firmwareVersion: string;
}

/** The newest `limit` log entries of the serials that match, returned oldest first. */
export async function listRegistryLogs(db: Queryable, q: RegistryLogQuery): Promise<RegistryLogRow[]> {
  const levels = q.minLevel === undefined ? null : LEVELS.slice(LEVELS.indexOf(q.minLevel));
  const { rows } = await db.query<{
    serial: string;
    time_us: string;
    level: RegistryLogLevel;
    error_code: string;
    component: string;
    message: string;
    app_version: string;
    firmware_version: string;
  }>(
    `SELECT * FROM (
       SELECT s.serial, ${us('l.time')} AS time_us, l.level, l.error_code, l.component, l.message,
              l.app_version, l.firmware_version
       FROM sensor_logs l JOIN sensors s ON s.id = l.sensor_id
       WHERE s.serial = ANY($1::text[])
         AND ($2::text[] IS NULL OR l.level = ANY($2::text[]))
         AND ($3::text IS NULL OR l.error_code = $3)
         AND ($4::bigint IS NULL OR l.time >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond')
       ORDER BY l.time DESC
       LIMIT $5
     ) newest ORDER BY time_us, serial`,
    [
      [...q.serials],
      levels,
      q.errorCode ?? null,
      q.sinceUs === undefined ? null : Math.round(q.sinceUs),
      q.limit,
    ],
  );
  return rows.map((r) => ({
    serial: r.serial,
    timeUs: Number(r.time_us),
    level: r.level,
    errorCode: r.error_code,
    component: r.component,
    message: r.message,
    appVersion: r.app_version,
    firmwareVersion: r.firmware_version,
  }));
}

export interface NewestStoredTimes {
  newestMeasurementUs: number | null;
  newestLogUs: number | null;
}

/**
 * The newest sample and log entry stored in the last 10 minutes (is each ingester writing?), one query; both
 * read backwards on a time index (the hypertables' chunks outside the window are excluded).
 */
export async function newestStoredTimes(db: Queryable): Promise<NewestStoredTimes> {
  const { rows } = await db.query<{ m: string | null; l: string | null }>(
    `SELECT (SELECT ${us('max(time)')} FROM measurements WHERE time > now() - interval '10 minutes') AS m,
            (SELECT ${us('max(time)')} FROM sensor_logs WHERE time > now() - interval '10 minutes') AS l`,
  );
  const r = rows[0];
  return {
    newestMeasurementUs: r?.m == null ? null : Number(r.m),
    newestLogUs: r?.l == null ? null : Number(r.l),
  };
}
