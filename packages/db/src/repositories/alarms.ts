import type { Queryable } from '../pool.js';
import type { SensorId } from './sensors.js';

// Alarm episodes and transitions, anomaly-model state and the sensor facts the
// alarm-service needs. Times are integer microseconds since the Unix epoch.
// Schema: migrations/0005_alarms.sql (alarm_episodes with one open episode per
// sensor + rule + channel; alarms = append-only transitions).

export type AlarmSeverityName = 'INFO' | 'WARNING' | 'MAJOR' | 'CRITICAL';
export type AlarmTransitionName = 'RAISED' | 'CLEARED' | 'ACKNOWLEDGED' | 'SHELVED' | 'UNSHELVED';

const US = `interval '1 microsecond'`;
/** SQL for "$n µs since the epoch" as timestamptz. */
const ts = (n: number): string => `(timestamptz 'epoch' + $${n}::bigint * ${US})`;
/** SQL for a timestamptz column as µs since the epoch (bigint, read as string). */
const us = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::bigint`;

export interface RaiseAlarmInput {
  alarmId: string;
  sensorId: SensorId;
  rule: string;
  /** '' for rules not tied to one channel. */
  channel: string;
  severity: AlarmSeverityName;
  value: number;
  threshold: number;
  windowNs: number;
  timeUs: number;
  message: string;
}

export interface ClearAlarmInput {
  sensorId: SensorId;
  rule: string;
  channel: string;
  value: number;
  threshold: number;
  timeUs: number;
  message: string;
}

/** Notification channels a transition is queued for (alarm_notifications.channel). */
export type NotificationChannel = 'webhook' | 'email';
/** Why a transition was stored without notifying. */
export type SuppressedBy = 'shelved' | 'maintenance';

export interface StoredTransition {
  /** alarms.id: the transition id (message id on the bus, outbox key). */
  transitionId: number;
  alarmId: string;
  severity: AlarmSeverityName;
  windowNs: number;
  timeUs: number;
  suppressedBy: SuppressedBy | null;
}

const SUPPRESSION = `CASE
    WHEN EXISTS (SELECT 1 FROM sensor_maintenance m
                 WHERE m.sensor_id = i.sensor_id AND m.ended_at IS NULL AND m.ends_at > now()) THEN 'maintenance'
    WHEN EXISTS (SELECT 1 FROM alarm_shelves sh
                 WHERE sh.sensor_id = i.sensor_id AND sh.rule = i.rule AND sh.channel = i.channel
                   AND sh.ended_at IS NULL AND sh.expires_at > now()) THEN 'shelved'
  END`;

/**
 * Opens an episode per alarm and records its RAISED transition, in one
 * statement, unless an episode of the same sensor + rule + channel is already
 * open (the partial unique index decides between racing replicas): only the
 * raised ones, returned, may be published and notified. It also writes, in the same statement, the transition's
 * outbox row (published later if the publish after the commit fails) and its
 * notification rows (one per channel when `notify`, none when the alarm is
 * shelved or its sensor in maintenance). Returns the raised ones by alarm id.
 */
export async function raiseAlarmsWithOutbox(
  db: Queryable,
  list: ReadonlyArray<RaiseAlarmInput & { notify: boolean }>,
  channels: readonly NotificationChannel[],
): Promise<Map<string, StoredTransition>> {
  if (list.length === 0) return new Map();
  const { rows } = await db.query<{
    id: string;
    alarm_id: string;
    severity: AlarmSeverityName;
    window_ns: string;
    t: string;
    suppressed_by: SuppressedBy | null;
  }>(
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[],
                            $7::float8[], $8::bigint[], $9::text[], $10::bigint[], $11::boolean[])
         AS t (alarm_id, sensor_id, rule, channel, severity, value, threshold, window_ns, message, time_us, notify)
     ), sup AS (
       SELECT i.alarm_id, i.notify, ${SUPPRESSION} AS suppressed_by FROM input i
     ), ep AS (
       INSERT INTO alarm_episodes (alarm_id, sensor_id, rule, channel, severity, value, threshold, window_ns,
                                   message, raised_at)
       SELECT alarm_id, sensor_id, rule, channel, severity, value, threshold, window_ns, message,
              timestamptz 'epoch' + time_us * ${US}
       FROM input
       ON CONFLICT (sensor_id, rule, channel) WHERE cleared_at IS NULL DO NOTHING
       RETURNING *
     ), tr AS (
       INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns,
                           time, message, suppressed_by)
       SELECT ep.alarm_id, sensor_id, rule, channel, severity, 'RAISED', value, threshold, window_ns, raised_at,
              message, sup.suppressed_by
       FROM ep JOIN sup ON sup.alarm_id = ep.alarm_id
       RETURNING id, alarm_id, severity, window_ns, time, suppressed_by
     ), ob AS (
       INSERT INTO alarm_outbox (transition_id) SELECT id FROM tr
     ), nq AS (
       INSERT INTO alarm_notifications (transition_id, channel)
       SELECT tr.id, c FROM tr JOIN sup ON sup.alarm_id = tr.alarm_id CROSS JOIN unnest($12::text[]) AS c
       WHERE sup.notify AND tr.suppressed_by IS NULL
     )
     SELECT id, alarm_id, severity, window_ns, ${us('time')} AS t, suppressed_by FROM tr`,
    [
      list.map((a) => a.alarmId),
      list.map((a) => a.sensorId),
      list.map((a) => a.rule),
      list.map((a) => a.channel),
      list.map((a) => a.severity),
      list.map((a) => a.value),
      list.map((a) => a.threshold),
      list.map((a) => a.windowNs),
      list.map((a) => a.message),
      list.map((a) => a.timeUs),
      list.map((a) => a.notify),
      [...channels],
    ],
  );
  return new Map(
    rows.map((r) => [
      r.alarm_id,
      {
        transitionId: Number(r.id),
        alarmId: r.alarm_id,
        severity: r.severity,
        windowNs: Number(r.window_ns),
        timeUs: Number(r.t),
        suppressedBy: r.suppressed_by,
      },
    ]),
  );
}

/**
 * Closes the open episode of each sensor + rule + channel (clear time never
 * before the raise time) and records its CLEARED transition, with the outbox
 * and notification rows (see raiseAlarmsWithOutbox); the episode gets the
 * clear message. One entry per input, undefined where nothing was open
 * (another replica cleared it).
 */
export async function clearAlarmsWithOutbox(
  db: Queryable,
  list: ReadonlyArray<ClearAlarmInput & { notify: boolean }>,
  channels: readonly NotificationChannel[],
): Promise<Array<StoredTransition | undefined>> {
  if (list.length === 0) return [];
  const { rows } = await db.query<{
    idx: number;
    id: string;
    alarm_id: string;
    severity: AlarmSeverityName;
    window_ns: string;
    t: string;
    suppressed_by: SuppressedBy | null;
  }>(
    `WITH input AS (
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                            $7::bigint[], $8::text[], $9::boolean[])
         AS t (idx, sensor_id, rule, channel, value, threshold, time_us, message, notify)
     ), sup AS (
       SELECT i.idx, ${SUPPRESSION} AS suppressed_by FROM input i
     ), ep AS (
       UPDATE alarm_episodes e
       SET cleared_at = GREATEST(e.raised_at, timestamptz 'epoch' + i.time_us * ${US}), message = i.message
       FROM input i
       WHERE e.sensor_id = i.sensor_id AND e.rule = i.rule AND e.channel = i.channel AND e.cleared_at IS NULL
       RETURNING e.*, i.idx, i.notify, i.value AS new_value, i.threshold AS new_threshold, i.message AS new_message
     ), tr AS (
       INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns,
                           time, message, suppressed_by)
       SELECT alarm_id, sensor_id, rule, channel, severity, 'CLEARED', new_value, new_threshold, window_ns,
              cleared_at, new_message, sup.suppressed_by
       FROM ep JOIN sup ON sup.idx = ep.idx
       RETURNING id, alarm_id, severity, window_ns, time, suppressed_by
     ), ob AS (
       INSERT INTO alarm_outbox (transition_id) SELECT id FROM tr
     ), nq AS (
       INSERT INTO alarm_notifications (transition_id, channel)
       SELECT tr.id, c FROM tr JOIN ep ON ep.alarm_id = tr.alarm_id CROSS JOIN unnest($10::text[]) AS c
       WHERE ep.notify AND tr.suppressed_by IS NULL
     )
     SELECT ep.idx, tr.id, tr.alarm_id, tr.severity, tr.window_ns, ${us('tr.time')} AS t, tr.suppressed_by
     FROM tr JOIN ep ON ep.alarm_id = tr.alarm_id`,
    [
      list.map((_, i) => i),
      list.map((c) => c.sensorId),
      list.map((c) => c.rule),
      list.map((c) => c.channel),
      list.map((c) => c.value),
      list.map((c) => c.threshold),
      list.map((c) => c.timeUs),
      list.map((c) => c.message),
      list.map((c) => c.notify),
      [...channels],
    ],
  );
  const out: Array<StoredTransition | undefined> = list.map(() => undefined);
  for (const r of rows) {
    out[r.idx] = {
      transitionId: Number(r.id),
      alarmId: r.alarm_id,
      severity: r.severity,
      windowNs: Number(r.window_ns),
      timeUs: Number(r.t),
      suppressedBy: r.suppressed_by,
    };
  }
  return out;
}

export interface AlarmEpisode {
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverityName;
  value: number | null;
  threshold: number | null;
  windowNs: number;
  message: string;
  raisedAtUs: number;
  acknowledgedAtUs: number | null;
  acknowledgedBy: string | null;
  clearedAtUs: number | null;
}

interface EpisodeRow {
  alarm_id: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverityName;
  value: number | null;
  threshold: number | null;
  window_ns: string;
  message: string;
  raised_us: string;
  acked_us: string | null;
  acknowledged_by: string | null;
  cleared_us: string | null;
}

const EPISODE_COLUMNS = `e.alarm_id, s.serial, e.rule, e.channel, e.severity, e.value, e.threshold, e.window_ns,
  e.message, ${us('e.raised_at')} AS raised_us, ${us('e.acknowledged_at')} AS acked_us, e.acknowledged_by,
  ${us('e.cleared_at')} AS cleared_us`;

function toEpisode(r: EpisodeRow): AlarmEpisode {
  return {
    alarmId: r.alarm_id,
    serial: r.serial,
    rule: r.rule,
    channel: r.channel,
    severity: r.severity,
    value: r.value,
    threshold: r.threshold,
    windowNs: Number(r.window_ns),
    message: r.message,
    raisedAtUs: Number(r.raised_us),
    acknowledgedAtUs: r.acked_us === null ? null : Number(r.acked_us),
    acknowledgedBy: r.acknowledged_by,
    clearedAtUs: r.cleared_us === null ? null : Number(r.cleared_us),
  };
}

export interface AlarmFilter {
  serial?: string;
  rule?: string;
  severity?: AlarmSeverityName;
  /** true: only open episodes; false: only cleared ones; undefined: both. */
  active?: boolean;
  /** Only episodes raised at or after this time. */
  sinceUs?: number;
  /** Default 100, at most 10 000. */
  limit?: number;
}

/** Episodes (open and/or cleared), newest raise first: `iotctl alarms`. */
export async function listAlarms(
  db: Queryable,
  f: AlarmFilter = {},
): Promise<Array<AlarmEpisode & { shelvedUntilUs: number | null }>> {
  const limit = Math.min(Math.max(1, Math.trunc(f.limit ?? 100)), 10_000);
  const { rows } = await db.query<EpisodeRow & { shelved_us: string | null }>(
    `SELECT ${EPISODE_COLUMNS},
            (SELECT ${us('max(sh.expires_at)')} FROM alarm_shelves sh
             WHERE sh.sensor_id = e.sensor_id AND sh.rule = e.rule AND sh.channel = e.channel
               AND sh.ended_at IS NULL AND sh.expires_at > now()) AS shelved_us
     FROM alarm_episodes e JOIN sensors s ON s.id = e.sensor_id
     WHERE ($1::text IS NULL OR s.serial = $1)
       AND ($2::text IS NULL OR e.rule = $2)
       AND ($3::text IS NULL OR e.severity = $3)
       AND ($4::boolean IS NULL OR (e.cleared_at IS NULL) = $4)
       AND ($5::bigint IS NULL OR e.raised_at >= ${ts(5)})
     ORDER BY e.raised_at DESC, e.alarm_id
     LIMIT $6`,
    [f.serial ?? null, f.rule ?? null, f.severity ?? null, f.active ?? null, f.sinceUs ?? null, limit],
  );
  return rows.map((r) => ({
    ...toEpisode(r),
    shelvedUntilUs: r.shelved_us === null ? null : Number(r.shelved_us),
  }));
}

/** Every open episode (the alarm-service loads them at start so it neither re-raises nor forgets to clear). */
export async function listOpenAlarms(db: Queryable): Promise<AlarmEpisode[]> {
  const { rows } = await db.query<EpisodeRow>(
    `SELECT ${EPISODE_COLUMNS}
     FROM alarm_episodes e JOIN sensors s ON s.id = e.sensor_id
     WHERE e.cleared_at IS NULL`,
  );
  return rows.map(toEpisode);
}

export type AckResult =
  | { status: 'ACKNOWLEDGED'; episode: AlarmEpisode }
  | { status: 'ALREADY_ACKNOWLEDGED'; episode: AlarmEpisode }
  | { status: 'NOT_FOUND' };

/**
 * Operator acknowledgement of an episode (open or already cleared): sets
 * acknowledged_at/by once and records an ACKNOWLEDGED transition. A second ack
 * changes nothing and says so.
 */
export async function acknowledgeAlarm(db: Queryable, alarmId: string, by: string): Promise<AckResult> {
  const { rows } = await db.query<EpisodeRow & { acked_now: boolean }>(
    `WITH ep AS (
       UPDATE alarm_episodes SET acknowledged_at = now(), acknowledged_by = $2
       WHERE alarm_id = $1 AND acknowledged_at IS NULL
       RETURNING *
     ), tr AS (
       INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns,
                           time, acknowledged_by, message)
       SELECT alarm_id, sensor_id, rule, channel, severity, 'ACKNOWLEDGED', value, threshold, window_ns,
              acknowledged_at, acknowledged_by, message
       FROM ep
       ON CONFLICT ON CONSTRAINT alarms_transition_key DO NOTHING
     )
     SELECT ${EPISODE_COLUMNS}, true AS acked_now FROM ep e JOIN sensors s ON s.id = e.sensor_id
     UNION ALL
     SELECT ${EPISODE_COLUMNS}, false FROM alarm_episodes e JOIN sensors s ON s.id = e.sensor_id
     WHERE e.alarm_id = $1 AND NOT EXISTS (SELECT 1 FROM ep)`,
    [alarmId, by],
  );
  const r = rows[0];
  if (r === undefined) return { status: 'NOT_FOUND' };
  return { status: r.acked_now ? 'ACKNOWLEDGED' : 'ALREADY_ACKNOWLEDGED', episode: toEpisode(r) };
}

export interface AlarmTransitionRecord {
  alarmId: string;
  serial: string;
  rule: string;
  channel: string;
  severity: AlarmSeverityName;
  transition: AlarmTransitionName;
  value: number | null;
  threshold: number | null;
  windowNs: number;
  timeUs: number;
  acknowledgedBy: string | null;
  message: string;
  /** Monotonic row id: `--follow` polls with afterId. */
  id: number;
}

/** Transitions after `afterId` (or since `sinceUs`), oldest first: the feed behind `iotctl alarms --follow`. */
export async function listAlarmTransitions(
  db: Queryable,
  f: { afterId?: number; sinceUs?: number; serial?: string; limit?: number } = {},
): Promise<AlarmTransitionRecord[]> {
  const limit = Math.min(Math.max(1, Math.trunc(f.limit ?? 1000)), 10_000);
  const { rows } = await db.query<{
    id: string;
    alarm_id: string;
    serial: string;
    rule: string;
    channel: string;
    severity: AlarmSeverityName;
    transition: AlarmTransitionName;
    value: number | null;
    threshold: number | null;
    window_ns: string;
    t: string;
    acknowledged_by: string | null;
    message: string;
  }>(
    `SELECT a.id, a.alarm_id, s.serial, a.rule, a.channel, a.severity, a.transition, a.value, a.threshold,
            a.window_ns, ${us('a.time')} AS t, a.acknowledged_by, a.message
     FROM alarms a JOIN sensors s ON s.id = a.sensor_id
     WHERE ($1::bigint IS NULL OR a.id > $1)
       AND ($2::bigint IS NULL OR a.time >= ${ts(2)})
       AND ($3::text IS NULL OR s.serial = $3)
     ORDER BY a.id
     LIMIT $4`,
    [f.afterId ?? null, f.sinceUs ?? null, f.serial ?? null, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    alarmId: r.alarm_id,
    serial: r.serial,
    rule: r.rule,
    channel: r.channel,
    severity: r.severity,
    transition: r.transition,
    value: r.value,
    threshold: r.threshold,
    windowNs: Number(r.window_ns),
    timeUs: Number(r.t),
    acknowledgedBy: r.acknowledged_by,
    message: r.message,
  }));
}

export interface AlarmModelState {
  serial: string;
  channel: string;
  /** The rule id of the model (e.g. an anomaly rule). */
  model: string;
  params: Record<string, unknown>;
  samples: number;
}

/** Upserts many model states in one statement. */
export async function saveAlarmModelStates(
  db: Queryable,
  rows: ReadonlyArray<Omit<AlarmModelState, 'serial'> & { sensorId: SensorId }>,
): Promise<number> {
  if (rows.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO alarm_model_state (sensor_id, channel, model, params, samples, updated_at)
     SELECT * , now() FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::bigint[])
     ON CONFLICT (sensor_id, channel, model)
     DO UPDATE SET params = EXCLUDED.params, samples = EXCLUDED.samples, updated_at = now()`,
    [
      rows.map((r) => r.sensorId),
      rows.map((r) => r.channel),
      rows.map((r) => r.model),
      rows.map((r) => JSON.stringify(r.params)),
      rows.map((r) => Math.trunc(r.samples)),
    ],
  );
  return rowCount ?? 0;
}

/** Every stored model state (loaded once at start). */
export async function loadAlarmModelStates(db: Queryable): Promise<AlarmModelState[]> {
  const { rows } = await db.query<{
    serial: string;
    channel: string;
    model: string;
    params: Record<string, unknown>;
    samples: string;
  }>(
    `SELECT s.serial, m.channel, m.model, m.params, m.samples
     FROM alarm_model_state m JOIN sensors s ON s.id = m.sensor_id`,
  );
  return rows.map((r) => ({ ...r, samples: Number(r.samples) }));
}

export interface SensorProfileRow {
  serial: string;
  kind: string;
  labels: Record<string, string>;
  reportedState: 'AWAKE' | 'ASLEEP' | 'OFFLINE' | null;
  reportedFrequencyHz: number | null;
}

/** Kind, labels and reported state of the given serials (unknown serials are absent). */
export async function getSensorProfiles(
  db: Queryable,
  serials: readonly string[],
): Promise<SensorProfileRow[]> {
  if (serials.length === 0) return [];
  const { rows } = await db.query<{
    serial: string;
    kind: string;
    labels: Record<string, string>;
    reported_state: SensorProfileRow['reportedState'];
    reported_frequency_hz: number | null;
  }>(
    `SELECT serial, kind, labels, reported_state, reported_frequency_hz FROM sensors
     WHERE serial = ANY($1::text[])`,
    [[...new Set(serials)]],
  );
  return rows.map((r) => ({
    serial: r.serial,
    kind: r.kind,
    labels: r.labels,
    reportedState: r.reported_state,
    reportedFrequencyHz: r.reported_frequency_hz,
  }));
}

export interface IssuedCommandInput {
  commandId: string;
  sensorId: SensorId;
  serial: string;
  type: 'sleep' | 'awake' | 'changesamplefrequency';
  params: Record<string, unknown>;
  issuedBy: string;
  issuedAtUs: number;
  expiresAtUs: number | null;
}

/**
 * Records a command the alarm-service issues, before publishing it. The
 * registry may record the same command id: ON CONFLICT (id) DO NOTHING.
 */
export async function recordIssuedCommand(db: Queryable, c: IssuedCommandInput): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO commands (id, sensor_id, serial, type, params, issued_by, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, ${ts(7)},
             CASE WHEN $8::bigint IS NULL THEN NULL ELSE ${ts(8)} END)
     ON CONFLICT (id) DO NOTHING`,
    [
      c.commandId,
      c.sensorId,
      c.serial,
      c.type,
      JSON.stringify(c.params),
      c.issuedBy,
      c.issuedAtUs,
      c.expiresAtUs,
    ],
  );
  return rowCount === 1;
}

/** pg_try_advisory_lock on a dedicated session: true when this session holds the lock. */
export async function tryAdvisoryLock(db: Queryable, key: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]);
  return rows[0]?.ok === true;
}
