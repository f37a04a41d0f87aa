-- One-minute aggregates for dashboards, identical columns on both backends:
--   measurements_1m (bucket, sensor_id, channel, avg, min, max, rms, count)
--   error_counts_1m (bucket, sensor_id, error_code, count)   -- level = 'ERROR' only
--
-- With TimescaleDB: continuous aggregates with real-time aggregation
-- (materialized_only = false, so the newest minutes are always there), a
-- refresh policy and a retention policy that outlives the raw data.
-- `WITH NO DATA` lets them be created inside the migration's transaction; the
-- refresh policy fills them in. On plain PostgreSQL: ordinary views over the
-- raw tables (always exact, slower on large ranges).
--
--   setting (sensor_streaming.*)    default
--   aggregates_refresh_interval     1 minute
--   aggregates_refresh_lookback     3 hours   (late data older than this is not re-aggregated)
--   aggregates_retention            365 days

DO $$
DECLARE
  refresh_interval interval := sensor_streaming_setting('aggregates_refresh_interval', '1 minute')::interval;
  lookback interval := sensor_streaming_setting('aggregates_refresh_lookback', '3 hours')::interval;
  retention interval := sensor_streaming_setting('aggregates_retention', '365 days')::interval;
BEGIN
  IF sensor_streaming_timescale_features() = 'full' THEN
    EXECUTE $sql$
      CREATE MATERIALIZED VIEW measurements_1m
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
             sensor_id,
             channel,
             avg(value) AS avg,
             min(value) AS min,
             max(value) AS max,
             sqrt(avg(value * value)) AS rms,
             count(*) AS count
      FROM measurements
      GROUP BY bucket, sensor_id, channel
      WITH NO DATA
    $sql$;
    EXECUTE $sql$
      CREATE MATERIALIZED VIEW error_counts_1m
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
             sensor_id,
             error_code,
             count(*) AS count
      FROM sensor_logs
      WHERE level = 'ERROR'
      GROUP BY bucket, sensor_id, error_code
      WITH NO DATA
    $sql$;

    PERFORM add_continuous_aggregate_policy('measurements_1m',
      start_offset => lookback, end_offset => INTERVAL '1 minute',
      schedule_interval => refresh_interval, if_not_exists => true);
    PERFORM add_continuous_aggregate_policy('error_counts_1m',
      start_offset => lookback, end_offset => INTERVAL '1 minute',
      schedule_interval => refresh_interval, if_not_exists => true);
    PERFORM add_retention_policy('measurements_1m', drop_after => retention, if_not_exists => true);
    PERFORM add_retention_policy('error_counts_1m', drop_after => retention, if_not_exists => true);
  ELSE
    CREATE VIEW measurements_1m AS
      SELECT date_trunc('minute', time) AS bucket,
             sensor_id,
             channel,
             avg(value) AS avg,
             min(value) AS min,
             max(value) AS max,
             sqrt(avg(value * value)) AS rms,
             count(*) AS count
      FROM measurements
      GROUP BY 1, sensor_id, channel;
    CREATE VIEW error_counts_1m AS
      SELECT date_trunc('minute', time) AS bucket,
             sensor_id,
             error_code,
             count(*) AS count
      FROM sensor_logs
      WHERE level = 'ERROR'
      GROUP BY 1, sensor_id, error_code;
  END IF;
END
$$;

COMMENT ON VIEW measurements_1m IS 'Per minute, sensor and channel: avg, min, max, rms = sqrt(avg(value^2)), count.';
COMMENT ON VIEW error_counts_1m IS 'Per minute, sensor and error code: number of ERROR log entries.';
