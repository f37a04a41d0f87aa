import type { Queryable } from '../pool.js';

// The sensor registry's queries: sensors (reported and desired state,
// liveness), sensor_state_changes, commands and their outcomes. Every write is
// one statement per batch (a JSON array expanded with jsonb_to_recordset), so a
// fleet heartbeating at 1,000 messages/s costs a few statements per batch, not
// one per message. Times are integer microseconds since the Unix epoch.
// Schema: migrations/0002_sensors.sql, migrations/0006_commands.sql.

export type RegistryPowerState = 'AWAKE' | 'ASLEEP' | 'OFFLINE';
export type RegistryCommandType = 'sleep' | 'awake' | 'changesamplefrequency';
export type RegistryCommandStatus = 'ISSUED' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'TIMED_OUT';

/** `$n` µs since the epoch, as timestamptz. */
const ts = (expr: string): string => `(timestamptz 'epoch' + (${expr})::bigint * interval '1 microsecond')`;
/** A timestamptz column as µs since the epoch (bigint, read as string). */
const us = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::bigint`;

/** One decoded SensorState, as the registry stores it. */
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

export interface CommandInput {
  commandId: string;
  serial: string;
  type: RegistryCommandType;
  sampleFrequencyHz?: number;
  issuedBy: string;
  issuedAtUs: number;
  expiresAtUs?: number;
}

export interface DesiredStateInput {
  serial: string;
  /** Omitted: leave as is. */
  state?: 'AWAKE' | 'ASLEEP';
  frequencyHz?: number;
}

export interface RecordCommandsResult {
  /** Ids this call inserted (others were already recorded, e.g. by the alarm-service). */
  inserted: string[];
  /** Serials with no sensors row: their commands are not recorded. */
  unknownSerials: string[];
}

/**
 * Records commands as ISSUED (ON CONFLICT (id) DO NOTHING: whoever records a
 * command first wins) and sets the desired state/frequency they ask for, in
 * one statement. Commands for serials with no sensors row are skipped and
 * reported in `unknownSerials`.
 */
export async function recordCommands(
  db: Queryable,
  commands: readonly CommandInput[],
  desired: readonly DesiredStateInput[],
): Promise<RecordCommandsResult> {
  if (commands.length === 0 && desired.length === 0) return { inserted: [], unknownSerials: [] };
  const input = commands.map((c) => ({
    id: c.commandId,
    serial: c.serial,
    type: c.type,
    params: c.sampleFrequencyHz === undefined ? {} : { sampleFrequencyHz: c.sampleFrequencyHz },
    issued_by: c.issuedBy,
    issued_at_us: Math.round(c.issuedAtUs),
    expires_at_us: c.expiresAtUs === undefined ? null : Math.round(c.expiresAtUs),
  }));
  const want = desired.map((d) => ({ serial: d.serial, state: d.state ?? null, hz: d.frequencyHz ?? null }));
  const { rows } = await db.query<{ kind: 'inserted' | 'unknown'; value: string }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
         id uuid, serial text, type text, params jsonb, issued_by text, issued_at_us bigint, expires_at_us bigint)
     ), ins AS (
       INSERT INTO commands (id, sensor_id, serial, type, params, issued_by, issued_at, expires_at)
       SELECT i.id, s.id, i.serial, i.type, i.params, i.issued_by, ${ts('i.issued_at_us')},
              CASE WHEN i.expires_at_us IS NULL THEN NULL ELSE ${ts('i.expires_at_us')} END
       FROM input i JOIN sensors s USING (serial)
       ON CONFLICT (id) DO NOTHING
       RETURNING id
     ), want AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(serial text, state text, hz float8)
     ), desired AS (
       UPDATE sensors s SET
         desired_state = COALESCE(w.state, s.desired_state),
         desired_frequency_hz = COALESCE(w.hz, s.desired_frequency_hz)
       FROM want w
       WHERE s.serial = w.serial
         AND (s.desired_state IS DISTINCT FROM COALESCE(w.state, s.desired_state)
           OR s.desired_frequency_hz IS DISTINCT FROM COALESCE(w.hz, s.desired_frequency_hz))
     )
     SELECT 'inserted' AS kind, id::text AS value FROM ins
     UNION ALL
     SELECT DISTINCT 'unknown', i.serial FROM input i WHERE NOT EXISTS (SELECT 1 FROM sensors s WHERE s.serial = i.serial)`,
    [JSON.stringify(input), JSON.stringify(want)],
  );
  return {
    inserted: rows.filter((r) => r.kind === 'inserted').map((r) => r.value),
    unknownSerials: rows.filter((r) => r.kind === 'unknown').map((r) => r.value),
  };
}

export interface CommandAckInput {
  commandId: string;
  status: 'APPLIED' | 'REJECTED' | 'EXPIRED';
  reason: string;
  timeUs: number;
  state?: RegistryPowerState;
  sampleFrequencyHz?: number;
}

export interface CommandAckOutcome {
  commandId: string;
  /** A command with this id is recorded. */
  known: boolean;
  /** This call set its outcome (false: unknown, or already settled by an earlier ack). */
  updated: boolean;
  type: RegistryCommandType | null;
  status: RegistryCommandStatus | null;
  rttMs: number | null;
}

/**
 * Records the outcome of commands from their acks, in one statement: status,
 * acked_at (the ack's time), reason, resulting state/frequency and the round
 * trip (ack time - issued_at). Only an ISSUED or TIMED_OUT command changes (a
 * late ack still tells the truth; a duplicate ack changes nothing). A REJECTED
 * command no longer counts as desired: the sensor's desired state/frequency
 * goes back to NULL if it is still what that command asked for (so the
 * registry does not re-send what the sensor refuses).
 */
export async function applyCommandAcks(
  db: Queryable,
  acks: readonly CommandAckInput[],
): Promise<CommandAckOutcome[]> {
  if (acks.length === 0) return [];
  const byId = new Map<string, CommandAckInput>();
  for (const a of acks) if (!byId.has(a.commandId)) byId.set(a.commandId, a);
  const input = [...byId.values()].map((a) => ({
    id: a.commandId,
    status: a.status,
    reason: a.reason,
    time_us: Math.round(a.timeUs),
    state: a.state ?? null,
    hz: a.sampleFrequencyHz ?? null,
  }));
  const { rows } = await db.query<{
    id: string;
    known: boolean;
    updated: boolean;
    type: RegistryCommandType | null;
    status: RegistryCommandStatus | null;
    rtt_ms: number | null;
  }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
         id uuid, status text, reason text, time_us bigint, state text, hz float8)
     ), upd AS (
       UPDATE commands c SET
         status = i.status,
         acked_at = ${ts('i.time_us')},
         reason = i.reason,
         rtt_ms = GREATEST(0, extract(epoch FROM (${ts('i.time_us')} - c.issued_at)) * 1000),
         resulting_state = i.state,
         resulting_frequency_hz = i.hz
       FROM input i
       WHERE c.id = i.id AND c.status IN ('ISSUED', 'TIMED_OUT')
       RETURNING c.id, c.sensor_id, c.type, c.params, c.status, c.rtt_ms
     ), reverted AS (
       UPDATE sensors s SET
         desired_state = CASE
           WHEN u.type = 'sleep' AND s.desired_state = 'ASLEEP' THEN NULL
           WHEN u.type = 'awake' AND s.desired_state = 'AWAKE' THEN NULL
           ELSE s.desired_state END,
         desired_frequency_hz = CASE
           WHEN u.type = 'changesamplefrequency'
            AND s.desired_frequency_hz = (u.params ->> 'sampleFrequencyHz')::float8 THEN NULL
           ELSE s.desired_frequency_hz END
       FROM upd u
       WHERE u.status = 'REJECTED' AND s.id = u.sensor_id
     )
     SELECT i.id::text AS id,
            EXISTS (SELECT 1 FROM commands c WHERE c.id = i.id) AS known,
            u.id IS NOT NULL AS updated,
            COALESCE(u.type, (SELECT c.type FROM commands c WHERE c.id = i.id)) AS type,
            COALESCE(u.status, (SELECT c.status FROM commands c WHERE c.id = i.id)) AS status,
            u.rtt_ms
     FROM input i LEFT JOIN upd u ON u.id = i.id`,
    [JSON.stringify(input)],
  );
  return rows.map((r) => ({
    commandId: r.id,
    known: r.known,
    updated: r.updated,
    type: r.type,
    status: r.status,
    rttMs: r.rtt_ms,
  }));
}

export interface ExpiredCommand {
  commandId: string;
  serial: string;
  type: RegistryCommandType;
}

/**
 * Marks commands EXPIRED (acked now, with `reason`; rtt_ms = now - issued_at,
 * as an EXPIRED ack would record it) unless an outcome is already known; one
 * statement. Returns the ones this call changed.
 */
export async function markCommandsExpired(
  db: Queryable,
  commandIds: readonly string[],
  reason: string,
): Promise<ExpiredCommand[]> {
  if (commandIds.length === 0) return [];
  const { rows } = await db.query<{ id: string; serial: string; type: RegistryCommandType }>(
    `UPDATE commands SET status = 'EXPIRED', acked_at = now(), reason = $2,
       rtt_ms = GREATEST(0, extract(epoch FROM (now() - issued_at)) * 1000)
     WHERE id = ANY($1::uuid[]) AND status IN ('ISSUED', 'TIMED_OUT')
     RETURNING id::text, serial, type`,
    [[...new Set(commandIds)], reason],
  );
  return rows.map((r) => ({ commandId: r.id, serial: r.serial, type: r.type }));
}

/**
 * Marks ISSUED commands whose expires_at passed more than `graceMs` ago
 * TIMED_OUT (one UPDATE). Returns their types, for metrics.
 */
export async function markCommandsTimedOut(
  db: Queryable,
  graceMs: number,
): Promise<Array<{ commandId: string; type: RegistryCommandType }>> {
  const { rows } = await db.query<{ id: string; type: RegistryCommandType }>(
    `UPDATE commands SET status = 'TIMED_OUT',
       reason = 'no ack from the sensor within ' || ($1::float8 / 1000)::text || ' s after the command expired'
     WHERE status = 'ISSUED' AND expires_at < now() - $1::float8 * interval '1 millisecond'
     RETURNING id::text, type`,
    [graceMs],
  );
  return rows.map((r) => ({ commandId: r.id, type: r.type }));
}

// ---------------------------------------------------------------------------
// Reads (the registry's RPC)

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
  lastSeenAtUs: number | null;
  registeredAtUs: number;
}

export interface RegistrySensorFilter {
  kind?: string;
  /** Effective state: OFFLINE for any sensor not online. */
  state?: RegistryPowerState;
  online?: boolean;
  /** Every key must equal its value in labels; `kind` also matches the kind column. */
  selector?: Record<string, string>;
  serials?: readonly string[];
  limit?: number;
}

const SENSOR_COLUMNS = `serial, kind, labels, firmware, channels, latitude, longitude, altitude_m,
  desired_state, desired_frequency_hz, reported_state, reported_frequency_hz, min_frequency_hz, max_frequency_hz,
  online, ${us('last_seen_at')} AS last_seen_us, ${us('registered_at')} AS registered_us`;

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
      `(CASE WHEN online AND reported_state IS NOT NULL THEN reported_state ELSE 'OFFLINE' END) = ${param(f.state)}`,
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

export interface RegistryCommandRow {
  commandId: string;
  serial: string;
  type: RegistryCommandType;
  params: Record<string, unknown>;
  issuedBy: string;
  issuedAtUs: number;
  expiresAtUs: number | null;
  ackedAtUs: number | null;
  status: RegistryCommandStatus;
  reason: string;
  rttMs: number | null;
}

/** The most recent commands of one serial, newest first. */
export async function listRegistryCommands(
  db: Queryable,
  serial: string,
  limit: number,
): Promise<RegistryCommandRow[]> {
  const { rows } = await db.query<{
    id: string;
    serial: string;
    type: RegistryCommandType;
    params: Record<string, unknown>;
    issued_by: string;
    issued_us: string;
    expires_us: string | null;
    acked_us: string | null;
    status: RegistryCommandStatus;
    reason: string;
    rtt_ms: number | null;
  }>(
    `SELECT c.id::text AS id, c.serial, c.type, c.params, c.issued_by, ${us('c.issued_at')} AS issued_us,
            ${us('c.expires_at')} AS expires_us, ${us('c.acked_at')} AS acked_us, c.status, c.reason, c.rtt_ms
     FROM commands c JOIN sensors s ON s.id = c.sensor_id
     WHERE s.serial = $1
     ORDER BY c.issued_at DESC, c.id
     LIMIT $2`,
    [serial, limit],
  );
  return rows.map((r) => ({
    commandId: r.id,
    serial: r.serial,
    type: r.type,
    params: r.params,
    issuedBy: r.issued_by,
    issuedAtUs: Number(r.issued_us),
    expiresAtUs: r.expires_us === null ? null : Number(r.expires_us),
    ackedAtUs: r.acked_us === null ? null : Number(r.acked_us),
    status: r.status,
    reason: r.reason,
    rttMs: r.rtt_ms,
  }));
}
