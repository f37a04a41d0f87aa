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
 * filled in, never duplicated. The sensor's clock (capped at now) orders the
 * states (`reported_at`); `last_seen_at` is the receive time (now), for stale
 * messages too. Every newer BIRTH, CHANGE and WILL, and any newer message whose state
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
       SELECT s.id, s.serial, s.online, s.reported_state, s.reported_frequency_hz, s.reported_at
       FROM sensors s JOIN newest USING (serial)
     ), upserted AS (
       INSERT INTO sensors AS s (serial, kind, labels, channels, firmware, latitude, longitude, altitude_m,
                                 min_frequency_hz, max_frequency_hz, reported_state, reported_frequency_hz,
                                 online, last_seen_at, reported_at)
       SELECT serial, kind, labels, ARRAY(SELECT jsonb_array_elements_text(channels)), firmware, lat, lon, alt,
              min_hz, max_hz, state, hz, state <> 'OFFLINE', now(), seen_at
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
         last_seen_at = GREATEST(s.last_seen_at, EXCLUDED.last_seen_at),
         reported_at = EXCLUDED.reported_at
       WHERE s.reported_at IS NULL OR EXCLUDED.reported_at >= s.reported_at
       RETURNING s.id, s.serial
     ), seen AS (
       -- a stale message changes nothing it reports, but the sensor did speak
       UPDATE sensors s SET last_seen_at = GREATEST(s.last_seen_at, now())
       FROM prev p
       WHERE s.id = p.id AND p.id NOT IN (SELECT id FROM upserted)
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
         WHERE p.reported_at IS NULL OR i.seen_at >= p.reported_at
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

/** What the registry saw of one sensor in a batch of data, logs or acks (receive times, registry clock). */
export interface SensorTrafficInput {
  serial: string;
  /** Receive time of its latest message, µs since the epoch. */
  seenAtUs: number;
  /** Receive time of its latest data batch, when the batch held data. */
  dataAtUs?: number;
  /** Samples per second counted over the sensor's recent data, when a window closed. */
  samplesPerSecond?: number;
}

/**
 * Liveness from any message (data, logs, acks), one UPDATE per batch: `last_seen_at` (and `last_data_at`)
 * move forward to the receive time, the sensor is online again, and a sensor the silence sweep had marked
 * OFFLINE is AWAKE when it sends data, of unknown state when it only logs (until its next SensorState).
 * Serials with no sensors row are left alone (the ingesters create the rows). Returns the serials that were
 * offline and are back.
 */
export async function recordSensorTraffic(
  db: Queryable,
  traffic: readonly SensorTrafficInput[],
): Promise<string[]> {
  if (traffic.length === 0) return [];
  const bySerial = new Map<string, SensorTrafficInput>();
  for (const t of traffic) {
    const prev = bySerial.get(t.serial);
    if (prev === undefined) {
      bySerial.set(t.serial, { ...t });
      continue;
    }
    prev.seenAtUs = Math.max(prev.seenAtUs, t.seenAtUs);
    if (t.dataAtUs !== undefined) prev.dataAtUs = Math.max(prev.dataAtUs ?? 0, t.dataAtUs);
    if (t.samplesPerSecond !== undefined) prev.samplesPerSecond = t.samplesPerSecond;
  }
  const input = [...bySerial.values()].map((t) => ({
    serial: t.serial,
    seen_us: Math.round(t.seenAtUs),
    data_us: t.dataAtUs === undefined ? null : Math.round(t.dataAtUs),
    sps: t.samplesPerSecond ?? null,
  }));
  const { rows } = await db.query<{ serial: string }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(serial text, seen_us bigint, data_us bigint, sps float8)
     ), prev AS (
       SELECT s.id, s.serial, s.online AND s.reported_state IS DISTINCT FROM 'OFFLINE' AS was_online
       FROM sensors s JOIN input USING (serial)
     ), upd AS (
       UPDATE sensors s SET
         last_seen_at = GREATEST(s.last_seen_at, ${ts('i.seen_us')}),
         last_data_at = CASE WHEN i.data_us IS NULL THEN s.last_data_at
                             ELSE GREATEST(s.last_data_at, ${ts('i.data_us')}) END,
         measured_samples_per_second = COALESCE(i.sps, s.measured_samples_per_second),
         online = true,
         reported_state = CASE WHEN p.was_online THEN s.reported_state
                               WHEN i.data_us IS NOT NULL THEN 'AWAKE'
                               ELSE NULL END
       FROM input i JOIN prev p USING (serial)
       WHERE s.id = p.id
       RETURNING s.serial, p.was_online
     )
     SELECT serial FROM upd WHERE NOT was_online ORDER BY serial`,
    [JSON.stringify(input)],
  );
  return rows.map((r) => r.serial);
}
