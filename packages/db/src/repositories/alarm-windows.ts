import type { Queryable } from '../pool.js';
import type { SensorId } from './sensors.js';

// Open windows of the alarm-service's rule engine (alarm_window_state,
// migrations/0020_alarm_management.sql), saved so a restart or a failover
// continues them. `state` is the evaluator's own JSON snapshot.

export interface AlarmWindowState {
  serial: string;
  rule: string;
  channel: string;
  state: Record<string, unknown>;
}

/** Upserts (state) or deletes (state null: the window closed and nothing is open) many rows in one statement each. */
export async function saveAlarmWindowStates(
  db: Queryable,
  rows: ReadonlyArray<{
    sensorId: SensorId;
    rule: string;
    channel: string;
    state: Record<string, unknown> | null;
  }>,
): Promise<number> {
  const put = rows.filter((r) => r.state !== null);
  const del = rows.filter((r) => r.state === null);
  let n = 0;
  if (put.length > 0) {
    const { rowCount } = await db.query(
      `INSERT INTO alarm_window_state (sensor_id, rule, channel, state, updated_at)
       SELECT *, now() FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[])
       ON CONFLICT (sensor_id, rule, channel) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [
        put.map((r) => r.sensorId),
        put.map((r) => r.rule),
        put.map((r) => r.channel),
        put.map((r) => JSON.stringify(r.state)),
      ],
    );
    n += rowCount ?? 0;
  }
  if (del.length > 0) {
    const { rowCount } = await db.query(
      `DELETE FROM alarm_window_state w
       USING unnest($1::bigint[], $2::text[], $3::text[]) AS d (sensor_id, rule, channel)
       WHERE w.sensor_id = d.sensor_id AND w.rule = d.rule AND w.channel = d.channel`,
      [del.map((r) => r.sensorId), del.map((r) => r.rule), del.map((r) => r.channel)],
    );
    n += rowCount ?? 0;
  }
  return n;
}

/** Every saved window state (loaded once when a replica becomes the active evaluator). */
export async function loadAlarmWindowStates(db: Queryable): Promise<AlarmWindowState[]> {
  const { rows } = await db.query<AlarmWindowState>(
    `SELECT s.serial, w.rule, w.channel, w.state FROM alarm_window_state w JOIN sensors s ON s.id = w.sensor_id`,
  );
  return rows;
}
