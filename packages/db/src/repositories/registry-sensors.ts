import type { Queryable } from '../pool.js';
import { type RegistryPowerState, us } from './registry-sql.js';

// The sensor registry's reads of the sensors table: the RPC's listings and the sensors to reconcile.

export interface ReconcileCandidate {
  serial: string;
  desiredState: 'AWAKE' | 'ASLEEP' | null;
  desiredFrequencyHz: number | null;
  reportedState: RegistryPowerState | null;
  reportedFrequencyHz: number | null;
  minFrequencyHz: number | null;
  maxFrequencyHz: number | null;
}

/**
 * Of `serials`, the online sensors whose reported state or frequency differs
 * from the desired one and that have no command still pending (ISSUED and not
 * expired): a pending command is on its way and will reconcile them itself.
 */
export async function findReconcileCandidates(
  db: Queryable,
  serials: readonly string[],
): Promise<ReconcileCandidate[]> {
  if (serials.length === 0) return [];
  const { rows } = await db.query<{
    serial: string;
    desired_state: 'AWAKE' | 'ASLEEP' | null;
    desired_frequency_hz: number | null;
    reported_state: RegistryPowerState | null;
    reported_frequency_hz: number | null;
    min_frequency_hz: number | null;
    max_frequency_hz: number | null;
  }>(
    `SELECT s.serial, s.desired_state, s.desired_frequency_hz, s.reported_state, s.reported_frequency_hz,
            s.min_frequency_hz, s.max_frequency_hz
     FROM sensors s
     WHERE s.serial = ANY($1::text[])
       AND s.online
       AND ((s.desired_state IS NOT NULL AND s.desired_state IS DISTINCT FROM s.reported_state)
         OR (s.desired_frequency_hz IS NOT NULL AND s.desired_frequency_hz IS DISTINCT FROM s.reported_frequency_hz))
       AND NOT EXISTS (
         SELECT 1 FROM commands c
         WHERE c.sensor_id = s.id AND c.status = 'ISSUED' AND (c.expires_at IS NULL OR c.expires_at > now()))
     ORDER BY s.serial`,
    [[...new Set(serials)]],
  );
  return rows.map((r) => ({
    serial: r.serial,
    desiredState: r.desired_state,
    desiredFrequencyHz: r.desired_frequency_hz,
    reportedState: r.reported_state,
    reportedFrequencyHz: r.reported_frequency_hz,
    minFrequencyHz: r.min_frequency_hz,
    maxFrequencyHz: r.max_frequency_hz,
  }));
}

export interface RegistrySensorRow {
  serial: string;
  kind: string;
  labels: Record<string, string>;
  firmware: string;
  channels: string[];
  latitude: number | null;
  longitude: number | null;
  altitudeM: number | null;
  desiredState: 'AWAKE' | 'ASLEEP' | null;
  desiredFrequencyHz: number | null;
  reportedState: RegistryPowerState | null;
  reportedFrequencyHz: number | null;
  minFrequencyHz: number | null;
  maxFrequencyHz: number | null;
  online: boolean;
  /** Receive time of the last message of any kind. */
  lastSeenAtUs: number | null;
  /** Receive time of the last data batch. */
  lastDataAtUs: number | null;
  /** Samples per second counted over the recent data (as of lastDataAtUs). */
  measuredSamplesPerSecond: number | null;
  /** Commands sent and not settled yet (ISSUED, not expired): a change on its way. */
  pendingCommands: number;
  registeredAtUs: number;
}

export interface RegistrySensorFilter {
  kind?: string;
  /** Effective state: OFFLINE for any sensor not online; an online sensor that never reported matches none. */
  state?: RegistryPowerState;
  online?: boolean;
  /** Every key must equal its value in labels; `kind` also matches the kind column. */
  selector?: Record<string, string>;
  serials?: readonly string[];
  limit?: number;
}

const SENSOR_COLUMNS = `serial, kind, labels, firmware, channels, latitude, longitude, altitude_m,
  desired_state, desired_frequency_hz, reported_state, reported_frequency_hz, min_frequency_hz, max_frequency_hz,
  online, ${us('last_seen_at')} AS last_seen_us, ${us('last_data_at')} AS last_data_us, measured_samples_per_second,
  ${us('registered_at')} AS registered_us,
  (SELECT count(*)::int FROM commands c
   WHERE c.sensor_id = sensors.id AND c.status = 'ISSUED' AND (c.expires_at IS NULL OR c.expires_at > now()))
    AS pending_commands`;

interface SensorDbRow {
  serial: string;
  kind: string;
  labels: Record<string, string>;
  firmware: string;
  channels: string[];
  latitude: number | null;
  longitude: number | null;
  altitude_m: number | null;
  desired_state: 'AWAKE' | 'ASLEEP' | null;
  desired_frequency_hz: number | null;
  reported_state: RegistryPowerState | null;
  reported_frequency_hz: number | null;
  min_frequency_hz: number | null;
  max_frequency_hz: number | null;
  online: boolean;
  last_seen_us: string | null;
  last_data_us: string | null;
  measured_samples_per_second: number | null;
  pending_commands: number;
  registered_us: string;
}

function toSensorRow(r: SensorDbRow): RegistrySensorRow {
  return {
    serial: r.serial,
    kind: r.kind,
    labels: r.labels,
    firmware: r.firmware,
    channels: r.channels,
    latitude: r.latitude,
    longitude: r.longitude,
    altitudeM: r.altitude_m,
    desiredState: r.desired_state,
    desiredFrequencyHz: r.desired_frequency_hz,
    reportedState: r.reported_state,
    reportedFrequencyHz: r.reported_frequency_hz,
    minFrequencyHz: r.min_frequency_hz,
    maxFrequencyHz: r.max_frequency_hz,
    online: r.online,
    lastSeenAtUs: r.last_seen_us === null ? null : Number(r.last_seen_us),
    lastDataAtUs: r.last_data_us === null ? null : Number(r.last_data_us),
    measuredSamplesPerSecond: r.measured_samples_per_second,
    pendingCommands: r.pending_commands,
    registeredAtUs: Number(r.registered_us),
  };
}

/** Sensors matching every given filter, ordered by serial. */
export async function listRegistrySensors(
  db: Queryable,
  f: RegistrySensorFilter = {},
): Promise<RegistrySensorRow[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  if (f.kind !== undefined) where.push(`kind = ${param(f.kind)}`);
  if (f.state !== undefined) {
    where.push(
      // online without a reported state (a device that only logs) is not OFFLINE, nor any other state
      `(CASE WHEN NOT online THEN 'OFFLINE' ELSE reported_state END) = ${param(f.state)}`,
    );
  }
  if (f.online !== undefined) where.push(`online = ${param(f.online)}`);
  if (f.selector !== undefined) {
    const { kind, ...labels } = f.selector;
    if (kind !== undefined) {
      const p = param(kind);
      where.push(`(kind = ${p} OR labels ->> 'kind' = ${p})`);
    }
    if (Object.keys(labels).length > 0) where.push(`labels @> ${param(JSON.stringify(labels))}::jsonb`);
  }
  if (f.serials !== undefined) where.push(`serial = ANY(${param([...f.serials])}::text[])`);
  const limit = f.limit === undefined ? '' : ` LIMIT ${param(f.limit)}`;
  const { rows } = await db.query<SensorDbRow>(
    `SELECT ${SENSOR_COLUMNS} FROM sensors${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
     ORDER BY serial${limit}`,
    values,
  );
  return rows.map(toSensorRow);
}

/** One sensor, or undefined when the serial is not registered. */
export async function getRegistrySensor(
  db: Queryable,
  serial: string,
): Promise<RegistrySensorRow | undefined> {
  const { rows } = await db.query<SensorDbRow>(`SELECT ${SENSOR_COLUMNS} FROM sensors WHERE serial = $1`, [
    serial,
  ]);
  return rows[0] === undefined ? undefined : toSensorRow(rows[0]);
}
