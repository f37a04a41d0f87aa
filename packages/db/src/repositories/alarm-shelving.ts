import type { Queryable } from '../pool.js';
import type { NotificationChannel } from './alarms.js';

// Shelving and maintenance mode (alarm_shelves, sensor_maintenance;
// migrations/0020_alarm_management.sql). Times are µs since the epoch.

const us = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::bigint`;

export interface Shelf {
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  reason: string;
  shelvedBy: string;
  shelvedAtUs: number;
  expiresAtUs: number;
}

interface ShelfRow {
  alarm_id: string;
  serial: string;
  rule: string;
  channel: string;
  reason: string;
  shelved_by: string;
  shelved_us: string;
  expires_us: string;
}

const toShelf = (r: ShelfRow): Shelf => ({
  alarmId: r.alarm_id,
  serial: r.serial,
  rule: r.rule,
  channel: r.channel,
  reason: r.reason,
  shelvedBy: r.shelved_by,
  shelvedAtUs: Number(r.shelved_us),
  expiresAtUs: Number(r.expires_us),
});

/**
 * Shelves the alarm (sensor + rule + channel) of episode `alarmId` for
 * `forMs`, with a reason, and records a SHELVED transition. Shelving an
 * already shelved alarm replaces its expiry and reason. undefined: no such episode.
 */
export async function shelveAlarm(
  db: Queryable,
  s: { alarmId: string; by: string; reason: string; forMs: number },
): Promise<Shelf | undefined> {
  const { rows } = await db.query<ShelfRow>(
    `WITH ep AS (
       SELECT e.* FROM alarm_episodes e WHERE e.alarm_id = $1
     ), old AS (
       UPDATE alarm_shelves sh SET ended_at = now(), ended_by = $2
       FROM ep WHERE sh.sensor_id = ep.sensor_id AND sh.rule = ep.rule AND sh.channel = ep.channel
         AND sh.ended_at IS NULL
       RETURNING sh.id
     ), shelf AS (
       INSERT INTO alarm_shelves (sensor_id, rule, channel, alarm_id, reason, shelved_by, shelved_at, expires_at)
       SELECT sensor_id, rule, channel, alarm_id, $3, $2, clock_timestamp(),
              clock_timestamp() + $4::bigint * interval '1 millisecond'
       FROM ep WHERE (SELECT count(*) FROM old) >= 0
       RETURNING *
     ), tr AS (
       INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns,
                           time, acknowledged_by, message)
       SELECT ep.alarm_id, ep.sensor_id, ep.rule, ep.channel, ep.severity, 'SHELVED', ep.value, ep.threshold,
              ep.window_ns, shelf.shelved_at, $2, 'shelved until ' || shelf.expires_at || ': ' || $3
       FROM ep JOIN shelf ON true
     )
     SELECT shelf.alarm_id, s.serial, shelf.rule, shelf.channel, shelf.reason, shelf.shelved_by,
            ${us('shelf.shelved_at')} AS shelved_us, ${us('shelf.expires_at')} AS expires_us
     FROM shelf JOIN sensors s ON s.id = shelf.sensor_id`,
    [s.alarmId, s.by, s.reason, Math.trunc(s.forMs)],
  );
  const r = rows[0];
  return r === undefined ? undefined : toShelf(r);
}

const END_SHELVES = (where: string) => `
  WITH ended AS (
    UPDATE alarm_shelves sh SET ended_at = now(), ended_by = $1
    WHERE sh.ended_at IS NULL AND ${where}
    RETURNING sh.*
  ), back AS (
    -- an alarm that is still active comes back: an UNSHELVED transition, notified
    INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns,
                        time, acknowledged_by, message)
    SELECT e.alarm_id, e.sensor_id, e.rule, e.channel, e.severity, 'UNSHELVED', e.value, e.threshold,
           e.window_ns, now(), $1, 'back from the shelf (' || $1 || '): ' || e.message
    FROM ended JOIN alarm_episodes e
      ON e.sensor_id = ended.sensor_id AND e.rule = ended.rule AND e.channel = ended.channel
     AND e.cleared_at IS NULL
    RETURNING id
  ), nq AS (
    INSERT INTO alarm_notifications (transition_id, channel)
    SELECT back.id, c FROM back CROSS JOIN unnest($2::text[]) AS c
  )
  SELECT ended.alarm_id, s.serial, ended.rule, ended.channel, ended.reason, ended.shelved_by,
         ${us('ended.shelved_at')} AS shelved_us, ${us('ended.expires_at')} AS expires_us
  FROM ended JOIN sensors s ON s.id = ended.sensor_id`;

/**
 * Ends the shelf of the alarm of episode `alarmId` now (by an operator). An
 * alarm still active comes back (UNSHELVED transition, notified on `channels`).
 */
export async function unshelveAlarm(
  db: Queryable,
  alarmId: string,
  by: string,
  channels: readonly NotificationChannel[],
): Promise<Shelf | undefined> {
  const { rows } = await db.query<ShelfRow>(
    END_SHELVES(`(sh.sensor_id, sh.rule, sh.channel) IN
      (SELECT sensor_id, rule, channel FROM alarm_episodes WHERE alarm_id = $3)`),
    [by, [...channels], alarmId],
  );
  const r = rows[0];
  return r === undefined ? undefined : toShelf(r);
}

/** Ends every shelf past its expiry (the active alarm-service calls it on its tick). */
export async function expireShelves(
  db: Queryable,
  channels: readonly NotificationChannel[],
): Promise<Shelf[]> {
  const { rows } = await db.query<ShelfRow>(END_SHELVES('sh.expires_at <= now()'), ['expiry', [...channels]]);
  return rows.map(toShelf);
}

/** Shelves in force. */
export async function listShelves(db: Queryable): Promise<Shelf[]> {
  const { rows } = await db.query<ShelfRow>(
    `SELECT sh.alarm_id, s.serial, sh.rule, sh.channel, sh.reason, sh.shelved_by,
            ${us('sh.shelved_at')} AS shelved_us, ${us('sh.expires_at')} AS expires_us
     FROM alarm_shelves sh JOIN sensors s ON s.id = sh.sensor_id
     WHERE sh.ended_at IS NULL AND sh.expires_at > now()
     ORDER BY sh.expires_at`,
  );
  return rows.map(toShelf);
}

export interface Maintenance {
  serial: string;
  reason: string;
  startedBy: string;
  startedAtUs: number;
  endsAtUs: number;
}

/**
 * Puts sensors (by serial) in maintenance for `forMs` (replacing a running
 * maintenance of the same sensor). Unknown serials are left out of the result.
 */
export async function startMaintenance(
  db: Queryable,
  m: { serials: readonly string[]; by: string; reason: string; forMs: number },
): Promise<Maintenance[]> {
  const { rows } = await db.query<{
    serial: string;
    reason: string;
    started_by: string;
    s_us: string;
    e_us: string;
  }>(
    `WITH target AS (SELECT id, serial FROM sensors WHERE serial = ANY($1::text[])),
     old AS (
       UPDATE sensor_maintenance m SET ended_at = now()
       FROM target WHERE m.sensor_id = target.id AND m.ended_at IS NULL
       RETURNING m.id
     ), ins AS (
       INSERT INTO sensor_maintenance (sensor_id, reason, started_by, started_at, ends_at)
       SELECT id, $3, $2, clock_timestamp(), clock_timestamp() + $4::bigint * interval '1 millisecond'
       FROM target WHERE (SELECT count(*) FROM old) >= 0
       RETURNING *
     )
     SELECT t.serial, ins.reason, ins.started_by, ${us('ins.started_at')} AS s_us, ${us('ins.ends_at')} AS e_us
     FROM ins JOIN target t ON t.id = ins.sensor_id ORDER BY t.serial`,
    [[...new Set(m.serials)], m.by, m.reason, Math.trunc(m.forMs)],
  );
  return rows.map((r) => ({
    serial: r.serial,
    reason: r.reason,
    startedBy: r.started_by,
    startedAtUs: Number(r.s_us),
    endsAtUs: Number(r.e_us),
  }));
}

/** Ends the maintenance of these sensors now; returns the serials that were in maintenance. */
export async function endMaintenance(db: Queryable, serials: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ serial: string }>(
    `UPDATE sensor_maintenance m SET ended_at = now()
     FROM sensors s
     WHERE s.id = m.sensor_id AND s.serial = ANY($1::text[]) AND m.ended_at IS NULL AND m.ends_at > now()
     RETURNING s.serial`,
    [[...new Set(serials)]],
  );
  return rows.map((r) => r.serial).sort();
}

/** Sensors in maintenance now. */
export async function listMaintenance(db: Queryable): Promise<Maintenance[]> {
  const { rows } = await db.query<{
    serial: string;
    reason: string;
    started_by: string;
    s_us: string;
    e_us: string;
  }>(
    `SELECT s.serial, m.reason, m.started_by, ${us('m.started_at')} AS s_us, ${us('m.ends_at')} AS e_us
     FROM sensor_maintenance m JOIN sensors s ON s.id = m.sensor_id
     WHERE m.ended_at IS NULL AND m.ends_at > now() ORDER BY s.serial`,
  );
  return rows.map((r) => ({
    serial: r.serial,
    reason: r.reason,
    startedBy: r.started_by,
    startedAtUs: Number(r.s_us),
    endsAtUs: Number(r.e_us),
  }));
}
