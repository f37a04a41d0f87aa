import type { Queryable } from '../pool.js';
import { type RegistryPowerState, ts } from './registry-sql.js';

// The sensor registry's writes of what sensors report: SensorState messages (registration, reported state,
// history in sensor_state_changes), liveness from any message, the silence sweep and the fleet counts. Every
// write is one statement per batch (a JSON array expanded with jsonb_to_recordset), so a fleet heartbeating at
// 1,000 messages/s costs a few statements per batch, not one per message.
// Schema: migrations/0002_sensors.sql, migrations/0050_sensor_liveness.sql.

export interface SensorStateInput {
  serial: string;
  kind: string;
  labels: Record<string, string>;
  channels: string[];
  firmware: string;
  location?: { lat: number; lon: number; altM?: number };
  state: RegistryPowerState;
  sampleFrequencyHz: number;
  /** 0 when unknown (stored as NULL). */
  minFrequencyHz: number;
  maxFrequencyHz: number;
  uptimeS: number;
  reason: 'BIRTH' | 'HEARTBEAT' | 'CHANGE' | 'WILL';
  timeUs: number;
}

export interface SensorStateOutcome {
  serial: string;
  /** No row existed: registered by this batch. */
  registered: boolean;
  /** The row existed but was offline (silent, WILL, or a bare row created from data). */
  wasOffline: boolean;
  /** False when the row already held a newer state (a stale, reordered message). */
  applied: boolean;
}

/**
 * Registers or updates the sensors of a batch of SensorState messages and
 * records their state changes, in one statement. Per serial the newest message
 * (by time) updates the row; a message older than the stored one changes
 * nothing (a sensor's messages are ordered by its own clock, so a WILL
 * processed after the BIRTH of the next session is ignored; an MQTT will
 * prepared at connect time is too, and the silence sweep marks that sensor
 * OFFLINE instead). A row created earlier by an ingester (serial only) is
 * filled in, never duplicated. `last_seen_at` is the message time, capped at
 * now. Every newer BIRTH, CHANGE and WILL, and any newer message whose state
 * or frequency differs from the previous one (or that brings an offline
 * sensor back), goes to sensor_state_changes (idempotent on (sensor_id, time)).
 */
export async function applySensorStates(
  db: Queryable,
  states: readonly SensorStateInput[],
): Promise<SensorStateOutcome[]> {
  if (states.length === 0) return [];
  const input = states.map((s, ord) => ({
    ord,
    serial: s.serial,
    kind: s.kind,
    labels: s.labels,
    channels: s.channels,
    firmware: s.firmware,
    lat: s.location?.lat ?? null,
    lon: s.location?.lon ?? null,
    alt: s.location?.altM ?? null,
    state: s.state,
    hz: s.sampleFrequencyHz,
    min_hz: s.minFrequencyHz > 0 ? s.minFrequencyHz : null,
    max_hz: s.maxFrequencyHz > 0 ? s.maxFrequencyHz : null,
    uptime_s: s.uptimeS,
    reason: s.reason,
    time_us: Math.round(s.timeUs),
  }));
  const { rows } = await db.query<{
    serial: string;
    registered: boolean;
    was_offline: boolean;
    applied: boolean;
  }>(
    `WITH raw AS (
       SELECT x.*
       FROM jsonb_to_recordset($1::jsonb) AS x(
         serial text, kind text, labels jsonb, channels jsonb, firmware text, lat float8, lon float8, alt float8,
         state text, hz float8, min_hz float8, max_hz float8, uptime_s float8, reason text, time_us bigint, ord bigint)
     ), input AS (
       SELECT raw.*,
              LEAST(now(), ${ts('time_us')}) AS seen_at
       FROM raw
     ), newest AS (
       SELECT DISTINCT ON (serial) * FROM input ORDER BY serial, seen_at DESC, ord DESC
     ), prev AS (
       SELECT s.id, s.serial, s.online, s.reported_state, s.reported_frequency_hz, s.last_seen_at
       FROM sensors s JOIN newest USING (serial)
     ), upserted AS (
       INSERT INTO sensors AS s (serial, kind, labels, channels, firmware, latitude, longitude, altitude_m,
                                 min_frequency_hz, max_frequency_hz, reported_state, reported_frequency_hz,
                                 online, last_seen_at)
       SELECT serial, kind, labels, ARRAY(SELECT jsonb_array_elements_text(channels)), firmware, lat, lon, alt,
              min_hz, max_hz, state, hz, state <> 'OFFLINE', seen_at
       FROM newest ORDER BY serial
       ON CONFLICT (serial) DO UPDATE SET
         kind = EXCLUDED.kind,
         labels = EXCLUDED.labels,
         channels = EXCLUDED.channels,
         firmware = EXCLUDED.firmware,
         latitude = COALESCE(EXCLUDED.latitude, s.latitude),
         longitude = COALESCE(EXCLUDED.longitude, s.longitude),
         altitude_m = CASE WHEN EXCLUDED.latitude IS NULL THEN s.altitude_m ELSE EXCLUDED.altitude_m END,
         min_frequency_hz = EXCLUDED.min_frequency_hz,
         max_frequency_hz = EXCLUDED.max_frequency_hz,
         reported_state = EXCLUDED.reported_state,
         reported_frequency_hz = EXCLUDED.reported_frequency_hz,
         online = EXCLUDED.online,
         last_seen_at = EXCLUDED.last_seen_at
       WHERE s.last_seen_at IS NULL OR EXCLUDED.last_seen_at >= s.last_seen_at
       RETURNING s.id, s.serial
     ), ids AS (
       SELECT id, serial FROM upserted
       UNION
       SELECT id, serial FROM prev
     ), changes AS (
       INSERT INTO sensor_state_changes (sensor_id, time, state, frequency_hz, reason, firmware, uptime_s)
       SELECT id, seen_at, state, hz, reason, firmware, uptime_s
       FROM (
         SELECT ids.id, i.seen_at, i.state, i.hz, i.reason, i.firmware, i.uptime_s,
                CASE WHEN row_number() OVER w = 1
                  THEN p.id IS NULL OR NOT p.online OR p.reported_state IS DISTINCT FROM i.state
                       OR p.reported_frequency_hz IS DISTINCT FROM i.hz
                  ELSE lag(i.state) OVER w IS DISTINCT FROM i.state OR lag(i.hz) OVER w IS DISTINCT FROM i.hz
                END AS differs
         FROM input i
         JOIN ids USING (serial)
         LEFT JOIN prev p USING (serial)
         WHERE p.last_seen_at IS NULL OR i.seen_at >= p.last_seen_at
         WINDOW w AS (PARTITION BY i.serial ORDER BY i.seen_at, i.ord)
       ) c
       WHERE reason <> 'HEARTBEAT' OR differs
       ON CONFLICT (sensor_id, time) DO NOTHING
     )
     SELECT n.serial,
            p.id IS NULL AS registered,
            COALESCE(NOT p.online, true) AS was_offline,
            u.id IS NOT NULL AS applied
     FROM newest n
     LEFT JOIN prev p USING (serial)
     LEFT JOIN upserted u USING (serial)
     ORDER BY n.serial`,
    [JSON.stringify(input)],
  );
  return rows.map((r) => ({
    serial: r.serial,
    registered: r.registered,
    wasOffline: r.was_offline,
    applied: r.applied,
  }));
}

/**
 * Marks every online sensor silent for longer than `silenceMs` OFFLINE (one
 * UPDATE for the whole fleet) and records the transition. Returns the serials.
 */
export async function markSilentSensorsOffline(db: Queryable, silenceMs: number): Promise<string[]> {
  const { rows } = await db.query<{ serial: string }>(
    `WITH off AS (
       UPDATE sensors SET online = false, reported_state = 'OFFLINE'
       WHERE online AND last_seen_at < now() - $1::float8 * interval '1 millisecond'
       RETURNING id, serial, reported_frequency_hz, firmware
     ), changes AS (
       INSERT INTO sensor_state_changes (sensor_id, time, state, frequency_hz, reason, firmware)
       SELECT id, now(), 'OFFLINE', reported_frequency_hz, 'SILENCE', firmware FROM off
       ON CONFLICT (sensor_id, time) DO NOTHING
     )
     SELECT serial FROM off ORDER BY serial`,
    [silenceMs],
  );
  return rows.map((r) => r.serial);
}

export interface SensorStateCounts {
  awake: number;
  asleep: number;
  offline: number;
  /** Rows never heard from (created by an ingester from data only). */
  unknown: number;
}

/** Fleet counts for the sensors gauge: online sensors by reported state, the rest offline. */
export async function countSensorsByState(db: Queryable): Promise<SensorStateCounts> {
  const { rows } = await db.query<{ state: keyof SensorStateCounts; n: string }>(
    `SELECT CASE
              WHEN reported_state IS NULL THEN 'unknown'
              WHEN NOT online OR reported_state = 'OFFLINE' THEN 'offline'
              WHEN reported_state = 'AWAKE' THEN 'awake'
              ELSE 'asleep'
            END AS state,
            count(*) AS n
     FROM sensors GROUP BY 1`,
  );
  const counts: SensorStateCounts = { awake: 0, asleep: 0, offline: 0, unknown: 0 };
  for (const r of rows) counts[r.state] = Number(r.n);
  return counts;
}

/** A sensor whose reported state or frequency differs from the desired one. */
