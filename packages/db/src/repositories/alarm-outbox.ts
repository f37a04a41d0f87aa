import type { Queryable } from '../pool.js';
import type { AlarmSeverityName } from './alarms.js';

// The transactional outbox of alarm transitions (migrations/0020_alarm_management.sql):
// rows are written with the transition (raiseAlarmsWithOutbox / clearAlarmsWithOutbox).

/** A stored RAISED / CLEARED transition as it goes on the bus. */
export interface OutboxTransition {
  transitionId: number;
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverityName;
  transition: 'RAISED' | 'CLEARED';
  value: number;
  threshold: number;
  windowNs: number;
  timeUs: number;
  message: string;
}

/**
 * Transitions not yet published whose outbox row is older than `olderThanMs`
 * (the immediate publish after the commit had that long), oldest first.
 */
export async function listUnpublishedTransitions(
  db: Queryable,
  olderThanMs: number,
  limit = 500,
): Promise<OutboxTransition[]> {
  const { rows } = await db.query<{
    id: string;
    alarm_id: string;
    serial: string;
    rule: string;
    channel: string;
    severity: AlarmSeverityName;
    transition: 'RAISED' | 'CLEARED';
    value: number | null;
    threshold: number | null;
    window_ns: string;
    t: string;
    message: string;
  }>(
    `SELECT a.id, a.alarm_id, s.serial, a.rule, a.channel, a.severity, a.transition, a.value, a.threshold,
            a.window_ns, (extract(epoch FROM a.time) * 1000000)::bigint AS t, a.message
     FROM alarm_outbox o
     JOIN alarms a ON a.id = o.transition_id
     JOIN sensors s ON s.id = a.sensor_id
     WHERE o.published_at IS NULL AND o.created_at <= now() - $1::int * interval '1 millisecond'
     ORDER BY o.transition_id
     LIMIT $2`,
    [Math.max(0, Math.trunc(olderThanMs)), limit],
  );
  return rows.map((r) => ({
    transitionId: Number(r.id),
    alarmId: r.alarm_id,
    serial: r.serial,
    rule: r.rule,
    channel: r.channel,
    severity: r.severity,
    transition: r.transition,
    value: r.value ?? 0,
    threshold: r.threshold ?? 0,
    windowNs: Number(r.window_ns),
    timeUs: Number(r.t),
    message: r.message,
  }));
}

/** Marks transitions published (the broker confirmed them); returns how many were still pending. */
export async function markTransitionsPublished(db: Queryable, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE alarm_outbox SET published_at = now(), attempts = attempts + 1
     WHERE transition_id = ANY($1::bigint[]) AND published_at IS NULL`,
    [ids],
  );
  return rowCount ?? 0;
}

/** Counts a failed publish attempt (for the operator: outbox rows with many attempts mean a broker problem). */
export async function countPublishAttempt(db: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query('UPDATE alarm_outbox SET attempts = attempts + 1 WHERE transition_id = ANY($1::bigint[])', [
    ids,
  ]);
}

/**
 * Deletes outbox rows published more than `keepMs` ago and notifications
 * finished (delivered, failed, suppressed) more than `keepMs` ago; the
 * transitions themselves stay in `alarms`. Returns how many rows went.
 */
export async function pruneAlarmQueues(db: Queryable, keepMs: number): Promise<number> {
  const keep = Math.max(0, Math.trunc(keepMs));
  const a = await db.query(
    `DELETE FROM alarm_outbox WHERE published_at < now() - $1::bigint * interval '1 millisecond'`,
    [keep],
  );
  const b = await db.query(
    `DELETE FROM alarm_notifications
     WHERE status <> 'PENDING' AND done_at < now() - $1::bigint * interval '1 millisecond'`,
    [keep],
  );
  return (a.rowCount ?? 0) + (b.rowCount ?? 0);
}
