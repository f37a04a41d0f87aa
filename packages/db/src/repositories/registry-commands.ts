import type { Queryable } from '../pool.js';
import {
  type RegistryCommandStatus,
  type RegistryCommandType,
  type RegistryPowerState,
  ts,
  us,
} from './registry-sql.js';

// The sensor registry's commands: recorded as ISSUED (and the desired state they set), their outcomes from
// acks (and the reported state an APPLIED ack carries), expiry and time-outs, the history per sensor.
// Schema: migrations/0006_commands.sql.

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
 * registry does not re-send what the sensor refuses). An APPLIED ack carries
 * the sensor's resulting state and frequency: they become the reported ones
 * (unless a newer SensorState already said otherwise), so reconciliation never
 * repeats a command the sensor applied without a separate state change.
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
     ), reported AS (
       UPDATE sensors s SET
         reported_state = COALESCE(i.state, s.reported_state),
         reported_frequency_hz = COALESCE(i.hz, s.reported_frequency_hz),
         reported_at = LEAST(now(), ${ts('i.time_us')})
       FROM upd u JOIN input i ON i.id = u.id
       WHERE u.status = 'APPLIED' AND s.id = u.sensor_id
         AND (i.state IS NOT NULL OR i.hz IS NOT NULL)
         AND (s.reported_at IS NULL OR LEAST(now(), ${ts('i.time_us')}) >= s.reported_at)
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
