-- Hourly and daily aggregates with the columns of measurements_1m
-- (bucket, sensor_id, channel, avg, min, max, rms, count), so a year on a
-- dashboard is 8,760 or 365 points per series instead of 525,600.
--
-- With TimescaleDB: continuous aggregates on continuous aggregates
-- (measurements_1h on measurements_1m, measurements_1d on measurements_1h),
-- real-time, with refresh and retention policies. avg and rms are combined
-- weighted by count, so they equal the aggregate of the raw rows (up to
-- floating-point summation order). On plain PostgreSQL the views and the
-- incremental rollups behind them come from 0011.
--
-- Also: sensor_logs compression orders by (time DESC, entry_hash), silencing
-- TimescaleDB's warning that the unique key column entry_hash should be used
-- for segmenting or ordering (it makes ON CONFLICT checks on compressed
-- chunks cheaper). Chunks compressed earlier keep their old order.
--
-- And: JIT compilation off for this database. Dashboard queries are short;
-- PostgreSQL's cost threshold still JIT-compiled the rollup queries, and the
-- compilation (130 ms measured) took longer than the queries themselves
-- (bench:queries). Long ad-hoc scans lose a little speed at most.
--
--   setting (sensor_streaming.*)    default
--   aggregates_1h_retention         730 days
--   aggregates_1d_retention         3650 days

DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'not the owner of database %: leaving jit as configured (dashboards may pay JIT compile time)',
    current_database();
END
$$;

DO $$
DECLARE
  features text := sensor_streaming_timescale_features();
BEGIN
  IF features = 'none' THEN
    RETURN; -- 0011 created measurements_1h and measurements_1d
  END IF;
  IF features = 'apache' THEN
    -- no continuous aggregates in the Apache-only build: views over the 1-minute view, as 0008 does
    CREATE VIEW measurements_1h AS
      SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, sensor_id, channel,
             sum(avg * count) / sum(count) AS avg, min(min) AS min, max(max) AS max,
             sqrt(sum(rms * rms * count) / sum(count)) AS rms, sum(count)::bigint AS count
      FROM measurements_1m GROUP BY 1, 2, 3;
    CREATE VIEW measurements_1d AS
      SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, sensor_id, channel,
             sum(avg * count) / sum(count) AS avg, min(min) AS min, max(max) AS max,
             sqrt(sum(rms * rms * count) / sum(count)) AS rms, sum(count)::bigint AS count
      FROM measurements_1h GROUP BY 1, 2, 3;
    RETURN;
  END IF;

  EXECUTE $sql$
    CREATE MATERIALIZED VIEW measurements_1h
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
           sensor_id,
           channel,
           sum(avg * count) / sum(count)::float8 AS avg,
           min(min) AS min,
           max(max) AS max,
           sqrt(sum(rms * rms * count) / sum(count)::float8) AS rms,
           sum(count)::bigint AS count
    FROM measurements_1m
    GROUP BY 1, sensor_id, channel
    WITH NO DATA
  $sql$;
  EXECUTE $sql$
    CREATE MATERIALIZED VIEW measurements_1d
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
           sensor_id,
           channel,
           sum(avg * count) / sum(count)::float8 AS avg,
           min(min) AS min,
           max(max) AS max,
           sqrt(sum(rms * rms * count) / sum(count)::float8) AS rms,
           sum(count)::bigint AS count
    FROM measurements_1h
    GROUP BY 1, sensor_id, channel
    WITH NO DATA
  $sql$;

  -- each level re-reads a little more than its parent's look-back, so late
  -- data that reached the 1-minute level reaches the hours and days too
  PERFORM add_continuous_aggregate_policy('measurements_1h',
    start_offset => sensor_streaming_setting('aggregates_refresh_lookback', '3 hours')::interval + INTERVAL '2 hours',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
  PERFORM add_continuous_aggregate_policy('measurements_1d',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour', if_not_exists => true);
  PERFORM add_retention_policy('measurements_1h',
    drop_after => sensor_streaming_setting('aggregates_1h_retention', '730 days')::interval, if_not_exists => true);
  PERFORM add_retention_policy('measurements_1d',
    drop_after => sensor_streaming_setting('aggregates_1d_retention', '3650 days')::interval, if_not_exists => true);

  ALTER TABLE sensor_logs SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'sensor_id',
    timescaledb.compress_orderby = 'time DESC, entry_hash'
  );
END
$$;

COMMENT ON VIEW measurements_1h IS 'Per hour, sensor and channel: avg, min, max, rms, count (same columns as measurements_1m).';
COMMENT ON VIEW measurements_1d IS 'Per day (UTC), sensor and channel: avg, min, max, rms, count (same columns as measurements_1m).';
