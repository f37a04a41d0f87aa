import {
  pauseTimescaleJobs,
  refreshContinuousAggregates,
  type TestSqlClient,
} from '@sensor-streaming/db/testing';

/**
 * A small, now-relative data set covering every table the dashboards read, so
 * their queries run over real rows: three sensors (awake with a position,
 * asleep, never reported), raw samples of the last three minutes and of one
 * day ago (old enough to compress with TimescaleDB), logs with error codes,
 * state changes, a position track, an open and a cleared alarm, commands with outcomes.
 */
export const SEED_SQL = [
  `INSERT INTO sensors (serial, kind, latitude, longitude, firmware, channels, reported_state,
                        reported_frequency_hz, desired_state, desired_frequency_hz, online, last_seen_at, labels)
   VALUES ('sim-0-0', 'vibration', 52.37, 4.89, '1.2.3', '{vibration,temperature}', 'AWAKE', 10, 'AWAKE', 10,
           true, now(), '{"site": "dock-1"}'),
          ('sim-0-1', 'environment', 48.85, 2.35, '1.2.3', '{temperature}', 'ASLEEP', 1, 'ASLEEP', NULL,
           true, now() - interval '5 minutes', '{}'),
          ('sim-0-2', 'process', NULL, NULL, '', '{}', NULL, NULL, NULL, NULL, false, NULL, '{}')`,
  `INSERT INTO measurements (sensor_id, channel, time, value)
   SELECT s.id, c.channel, g.t, sin(extract(epoch FROM g.t)) + c.n
   FROM sensors s,
        (VALUES ('vibration', 0), ('temperature', 20)) AS c(channel, n),
        generate_series(now() - interval '3 minutes', now(), interval '100 milliseconds') AS g(t)
   WHERE s.serial = 'sim-0-0'`,
  `INSERT INTO measurements (sensor_id, channel, time, value)
   SELECT s.id, 'temperature', g.t, 21.5
   FROM sensors s, generate_series(now() - interval '25 minutes', now() - interval '20 minutes', interval '1 second') AS g(t)
   WHERE s.serial = 'sim-0-1'`,
  `INSERT INTO measurements (sensor_id, channel, time, value)
   SELECT s.id, 'vibration', g.t, cos(extract(epoch FROM g.t))
   FROM sensors s,
        generate_series(now() - interval '1 day', now() - interval '1 day' + interval '10 minutes', interval '1 second') AS g(t)
   WHERE s.serial = 'sim-0-0'`,
  `INSERT INTO sensor_logs (sensor_id, time, level, error_code, app_version, firmware_version, component, message)
   SELECT s.id,
          now() - g.i * interval '20 seconds',
          (ARRAY['DEBUG', 'INFO', 'WARN', 'ERROR'])[1 + g.i % 4],
          CASE WHEN g.i % 4 = 3 THEN (ARRAY['E101', 'E202'])[1 + (g.i / 4) % 2] ELSE '' END,
          '0.1.0', '1.2.3', 'sampler', 'entry ' || g.i
   FROM sensors s, generate_series(0, 59) AS g(i)
   WHERE s.serial IN ('sim-0-0', 'sim-0-1')`,
  `INSERT INTO sensor_positions (sensor_id, time, latitude, longitude, altitude_m)
   SELECT s.id, now() - g.i * interval '10 minutes', 52.37 + g.i * 0.001, 4.89 - g.i * 0.002, 3
   FROM sensors s, generate_series(0, 5) AS g(i)
   WHERE s.serial = 'sim-0-0'`,
  `INSERT INTO sensor_state_changes (sensor_id, time, state, frequency_hz, reason, firmware, uptime_s)
   SELECT s.id, now() - c.ago, c.state, c.hz, c.reason, '1.2.3', 60
   FROM sensors s,
        (VALUES (interval '30 minutes', 'AWAKE', 10.0, 'BIRTH'),
                (interval '10 minutes', 'ASLEEP', 10.0, 'CHANGE'),
                (interval '5 minutes', 'AWAKE', 50.0, 'CHANGE')) AS c(ago, state, hz, reason)
   WHERE s.serial IN ('sim-0-0', 'sim-0-1')`,
  `INSERT INTO alarm_episodes (alarm_id, sensor_id, rule, channel, severity, value, threshold, window_ns, message,
                               raised_at, cleared_at)
   SELECT e.alarm_id::uuid, s.id, e.rule, 'vibration', e.severity, 9.5, 5, 60000000000, e.message,
          now() - e.raised_ago, now() - e.cleared_ago
   FROM sensors s,
        (VALUES ('00000000-0000-4000-8000-000000000001', 'vibration-rms-high', 'CRITICAL', 'rms above 5',
                 interval '2 minutes', NULL::interval),
                ('00000000-0000-4000-8000-000000000002', 'vibration-peak', 'WARNING', 'peak above 8',
                 interval '10 minutes', interval '1 minute')) AS e(alarm_id, rule, severity, message, raised_ago, cleared_ago)
   WHERE s.serial = 'sim-0-0'`,
  `INSERT INTO alarms (alarm_id, sensor_id, rule, channel, severity, transition, value, threshold, window_ns, time, message)
   SELECT e.alarm_id, e.sensor_id, e.rule, e.channel, e.severity, 'RAISED', e.value, e.threshold, e.window_ns,
          e.raised_at, e.message
   FROM alarm_episodes e
   UNION ALL
   SELECT e.alarm_id, e.sensor_id, e.rule, e.channel, e.severity, 'CLEARED', e.value, e.threshold, e.window_ns,
          e.cleared_at, e.message
   FROM alarm_episodes e
   WHERE e.cleared_at IS NOT NULL`,
  `INSERT INTO commands (sensor_id, serial, type, params, issued_by, issued_at, acked_at, status, reason, rtt_ms,
                         resulting_state, resulting_frequency_hz)
   SELECT s.id, s.serial, c.type, c.params::jsonb, c.issued_by, now() - c.ago, now() - c.ago + interval '40 milliseconds',
          c.status, c.reason, 40, c.state, c.hz
   FROM sensors s,
        (VALUES ('changesamplefrequency', '{"sampleFrequencyHz": 50}', 'iotctl', interval '5 minutes', 'APPLIED', '', 'AWAKE', 50.0),
                ('sleep', '{}', 'alarm-service', interval '10 minutes', 'APPLIED', '', 'ASLEEP', 10.0),
                ('changesamplefrequency', '{"sampleFrequencyHz": 100000}', 'iotctl', interval '3 minutes', 'REJECTED',
                 'frequency above the sensor maximum', NULL, NULL))
          AS c(type, params, issued_by, ago, status, reason, state, hz)
   WHERE s.serial = 'sim-0-0'`,
];

/**
 * With TimescaleDB: compress the day-old chunk and materialise the aggregates, so those code paths run too.
 * On a real server the scheduler's own jobs start with the database: they are paused first and each
 * refresh waits out a concurrent one (SQLSTATE 55P03) instead of failing.
 * On plain PostgreSQL: one storage maintenance pass materialises the rollups.
 */
export async function materialiseSeed(
  db: TestSqlClient,
  backend: 'postgresql' | 'timescaledb',
): Promise<void> {
  if (backend === 'postgresql') {
    await db.query('CALL sensor_streaming_maintain_storage(NULL)');
    return;
  }
  await pauseTimescaleJobs(db);
  await db.query(
    `SELECT compress_chunk(c, true) FROM show_chunks('measurements', older_than => interval '3 hours') AS c`,
  );
  await refreshContinuousAggregates(
    db,
    ['measurements_1m', 'error_counts_1m', 'measurements_1h', 'measurements_1d'],
    { from: null, to: new Date(Date.now() - 120_000).toISOString() },
  );
}
