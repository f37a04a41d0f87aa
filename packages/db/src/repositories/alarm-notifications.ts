import type { Queryable } from '../pool.js';
import type { AlarmSeverityName, AlarmTransitionName, NotificationChannel } from './alarms.js';

// Durable notification queue (alarm_notifications, migrations/0020_alarm_management.sql).

export interface DueNotification {
  id: number;
  channel: NotificationChannel;
  attempts: number;
  transitionId: number;
  alarmId: string;
  serial: string;
  rule: string;
  alarmChannel: string;
  severity: AlarmSeverityName;
  transition: AlarmTransitionName;
  value: number;
  threshold: number;
  windowNs: number;
  timeUs: number;
  message: string;
  /** Shelved or in maintenance right now: deliver nothing, mark SUPPRESSED. */
  suppressedBy: 'shelved' | 'maintenance' | null;
}

/**
 * Claims up to `limit` due notifications for `leaseMs` (another claim skips
 * them meanwhile; a crash releases them when the lease ends), oldest first.
 */
export async function claimDueNotifications(
  db: Queryable,
  limit: number,
  leaseMs: number,
): Promise<DueNotification[]> {
  const { rows } = await db.query<{
    id: string;
    channel: NotificationChannel;
    attempts: number;
    transition_id: string;
    alarm_id: string;
    serial: string;
    rule: string;
    alarm_channel: string;
    severity: AlarmSeverityName;
    transition: AlarmTransitionName;
    value: number | null;
    threshold: number | null;
    window_ns: string;
    t: string;
    message: string;
    suppressed_by: 'shelved' | 'maintenance' | null;
  }>(
    `WITH c AS (
       UPDATE alarm_notifications n SET next_attempt_at = now() + $2::int * interval '1 millisecond'
       WHERE n.id IN (SELECT id FROM alarm_notifications
                      WHERE status = 'PENDING' AND next_attempt_at <= now()
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING n.id, n.channel, n.attempts, n.transition_id
     )
     SELECT c.id, c.channel, c.attempts, c.transition_id, a.alarm_id, s.serial, a.rule, a.channel AS alarm_channel,
            a.severity, a.transition, a.value, a.threshold, a.window_ns,
            (extract(epoch FROM a.time) * 1000000)::bigint AS t, a.message,
            CASE
              WHEN a.transition = 'UNSHELVED' THEN NULL
              WHEN EXISTS (SELECT 1 FROM sensor_maintenance m
                           WHERE m.sensor_id = a.sensor_id AND m.ended_at IS NULL AND m.ends_at > now())
                THEN 'maintenance'
              WHEN EXISTS (SELECT 1 FROM alarm_shelves sh
                           WHERE sh.sensor_id = a.sensor_id AND sh.rule = a.rule AND sh.channel = a.channel
                             AND sh.ended_at IS NULL AND sh.expires_at > now())
                THEN 'shelved'
            END AS suppressed_by
     FROM c JOIN alarms a ON a.id = c.transition_id JOIN sensors s ON s.id = a.sensor_id
     ORDER BY c.id`,
    [limit, Math.max(1000, Math.trunc(leaseMs))],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    channel: r.channel,
    attempts: r.attempts,
    transitionId: Number(r.transition_id),
    alarmId: r.alarm_id,
    serial: r.serial,
    rule: r.rule,
    alarmChannel: r.alarm_channel,
    severity: r.severity,
    transition: r.transition,
    value: r.value ?? 0,
    threshold: r.threshold ?? 0,
    windowNs: Number(r.window_ns),
    timeUs: Number(r.t),
    message: r.message,
    suppressedBy: r.suppressed_by,
  }));
}

/** Final state of a notification: DELIVERED, FAILED (gave up) or SUPPRESSED (shelved / maintenance). */
export async function finishNotification(
  db: Queryable,
  id: number,
  status: 'DELIVERED' | 'FAILED' | 'SUPPRESSED',
  error?: string,
): Promise<void> {
  await db.query(
    `UPDATE alarm_notifications SET status = $2, done_at = now(), attempts = attempts + $3, last_error = $4
     WHERE id = $1`,
    [id, status, status === 'SUPPRESSED' ? 0 : 1, error ?? null],
  );
}

/** A failed attempt to retry after `delayMs`. */
export async function retryNotification(
  db: Queryable,
  id: number,
  delayMs: number,
  error: string,
): Promise<void> {
  await db.query(
    `UPDATE alarm_notifications
     SET attempts = attempts + 1, last_error = $3, next_attempt_at = now() + $2::int * interval '1 millisecond'
     WHERE id = $1`,
    [id, Math.max(0, Math.trunc(delayMs)), error.slice(0, 1000)],
  );
}

/** Queue depth by status (for the metrics and `iotctl alarms stats`). */
export async function countNotifications(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM alarm_notifications GROUP BY status',
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
