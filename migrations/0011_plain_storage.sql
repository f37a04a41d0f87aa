-- Plain PostgreSQL as a first-class backend: what TimescaleDB does with
-- chunks, retention policies and continuous aggregates, done with native
-- partitioning, a few tables and one procedure the platform calls every
-- minute (CALL sensor_streaming_maintain_storage(NULL), run by the
-- measurements ingester's storage maintainer or `pnpm -s db:maintain`).
-- With TimescaleDB this file only creates the procedure, which then does
-- nothing (the extension's own jobs do the work).
--
-- 1. measurements becomes a table partitioned by range of time. On an
--    existing database the old table, with its rows, is attached as the
--    first partition (MINVALUE up to the end of the current period): no row
--    is copied; ATTACH scans it once to check the bound. On a new database
--    partitions cover the retention window. Partitions are created ahead
--    (through now + 2 periods) and detached and dropped once their whole
--    range is older than the retention.
-- 2. Rollups are materialised incrementally into rollup_* tables (sum,
--    sum of squares, min, max, count per bucket): 1 minute from the raw rows,
--    1 hour from the minutes, 1 day from the hours. A watermark per level says
--    up to where a level is materialised; an AFTER INSERT statement trigger
--    records late rows (older than the invalidation threshold) so their
--    buckets are recomputed. measurements_1m / _1h / _1d and error_counts_1m
--    are views with TimescaleDB's real-time semantics: materialised buckets
--    below the watermark, computed from finer data above it, so they are
--    exact at any moment.
-- 3. Retention with the same settings as TimescaleDB: measurements_retention
--    (partitions), aggregates_retention (1-minute rollups, partitions),
--    aggregates_1h_retention and aggregates_1d_retention, sensor_logs_retention,
--    sensor_state_changes_retention, sensor_positions_retention (DELETE in
--    batches: these tables are small next to measurements).
--
--   setting (sensor_streaming.*)          default
--   measurements_partition_interval       1 day     (plain PostgreSQL)
--   aggregates_partition_interval         7 days    (plain PostgreSQL, 1-minute rollups)
--   aggregates_1h_retention               730 days  (both backends)
--   aggregates_1d_retention               3650 days (both backends)
--
-- The values are resolved when this file runs and kept in storage_policies;
-- change them later with UPDATE storage_policies SET retention = ... .

-- Partition bounds and rollup buckets share TimescaleDB's default origin
-- (Monday 2000-01-03 UTC), so days and hours line up on both backends.
CREATE OR REPLACE FUNCTION sensor_streaming_bin(width interval, ts timestamptz)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$ SELECT date_bin(width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;

-- [lo, hi) as a multirange, empty when lo >= hi (tstzrange would raise).
CREATE OR REPLACE FUNCTION sensor_streaming_span(lo timestamptz, hi timestamptz)
RETURNS tstzmultirange
LANGUAGE sql
IMMUTABLE
AS $$ SELECT CASE WHEN lo < hi THEN tstzmultirange(tstzrange(lo, hi)) ELSE '{}'::tstzmultirange END $$;

-- The retention and partitioning in force; one row per managed table.
-- partition_step is NULL for tables trimmed with DELETE.
CREATE TABLE storage_policies (
  relation text PRIMARY KEY,
  time_column text NOT NULL,
  partition_step interval,
  retention interval NOT NULL,
  -- partitions are created from here on (the first partition's upper bound)
  partitions_from timestamptz
);

COMMENT ON TABLE storage_policies IS
  'Plain PostgreSQL: partition interval and retention per table, applied by sensor_streaming_maintain_storage(). Empty with TimescaleDB (its jobs apply the same settings).';

-- Watermarks of the incremental rollups: below `watermark` a level is
-- materialised (the views compute the rest from finer data).
CREATE TABLE rollup_watermarks (
  name text PRIMARY KEY,
  watermark timestamptz NOT NULL
);

-- Per source table: inserts of rows older than `threshold` record an
-- invalidation. Kept apart from the watermarks: inserts lock this row
-- FOR SHARE, and only raising the threshold waits for them.
CREATE TABLE rollup_thresholds (
  source text PRIMARY KEY,
  threshold timestamptz NOT NULL
);

CREATE TABLE rollup_invalidations (
  source text NOT NULL,
  lo timestamptz NOT NULL,
  hi timestamptz NOT NULL
);

-- The watermark of one rollup level, for the views. Declared IMMUTABLE on
-- purpose: the planner then reads it once while planning, and prunes the raw
-- and rollup partitions with it as with a literal (with a sub-select, every
-- partition would be planned and pruned only at run time). A plan that keeps
-- an older value stays exact: the levels below any past watermark are
-- complete, and the raw rows above it are all read; it is only slower.
CREATE OR REPLACE FUNCTION sensor_streaming_rollup_watermark(level text)
RETURNS timestamptz
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  RETURN (SELECT watermark FROM rollup_watermarks WHERE name = level);
END
$$;

-- Creates missing partitions of one table through `through`, detaches and
-- drops those entirely older than now - retention. Returns what it did.
CREATE OR REPLACE FUNCTION sensor_streaming_manage_partitions(now_ts timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
AS $fn$
DECLARE
  p record;
  part record;
  lower_ts timestamptz;
  upper_ts timestamptz;
  name text;
  created text[] := '{}';
  dropped text[] := '{}';
BEGIN
  IF NOT pg_try_advisory_xact_lock(8315173729079549812) THEN
    RETURN jsonb_build_object('partitions', 'skipped: another maintainer holds the lock');
  END IF;
  SET LOCAL lock_timeout = '5s';
  FOR p IN SELECT * FROM storage_policies WHERE partition_step IS NOT NULL ORDER BY relation LOOP
    -- from the retention window's start, never below the catch-all partition (FROM MINVALUE)
    SELECT max((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz)
      INTO lower_ts
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(quote_ident(p.relation))
      AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM (MINVALUE)%';
    lower_ts := greatest(p.partitions_from, sensor_streaming_bin(p.partition_step, now_ts - p.retention),
                         sensor_streaming_bin(p.partition_step, lower_ts));
    WHILE lower_ts < now_ts + 2 * p.partition_step LOOP
      upper_ts := lower_ts + p.partition_step;
      name := p.relation || '_p' || to_char(lower_ts AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MI');
      IF to_regclass(quote_ident(name)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       name, p.relation, lower_ts, upper_ts);
        created := created || name;
      END IF;
      lower_ts := upper_ts;
    END LOOP;

    FOR part IN
      SELECT c.relname,
             (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1] AS upper_text,
             pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM (MINVALUE)%' AS catch_all
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass(quote_ident(p.relation))
    LOOP
      CONTINUE WHEN part.upper_text IS NULL; -- MAXVALUE or unparsable: never dropped automatically
      -- the catch-all (its upper bound is the oldest partition's lower one) goes with that partition
      IF (part.upper_text::timestamptz
          + (CASE WHEN part.catch_all THEN p.partition_step ELSE INTERVAL '0' END) <= now_ts - p.retention) THEN
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', p.relation, part.relname);
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped || part.relname::text;
      END IF;
    END LOOP;

    -- rows older than every partition (late data, back-fills) land in <table>_p_before, which is
    -- dropped with the next partitions past retention and created again below the oldest one left
    IF NOT EXISTS (
      SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass(quote_ident(p.relation))
        AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM (MINVALUE)%'
    ) THEN
      SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz)
        INTO lower_ts
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass(quote_ident(p.relation));
      IF lower_ts IS NOT NULL THEN
        name := p.relation || '_p_before';
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (MINVALUE) TO (%L)',
                       name, p.relation, lower_ts);
        created := created || name;
      END IF;
    END IF;
  END LOOP;
  RETURN jsonb_build_object('partitions_created', to_jsonb(created), 'partitions_dropped', to_jsonb(dropped));
END
$fn$;

-- Moves each rollup's invalidation threshold up to the newest complete
-- minute. Run in its own transaction before sensor_streaming_refresh_rollups():
-- the UPDATE waits for every insert that read the old threshold (they hold
-- FOR SHARE on the row until they commit), so the refresh's snapshot sees all
-- rows below the new threshold, and later inserts below it are recorded.
CREATE OR REPLACE FUNCTION sensor_streaming_raise_rollup_thresholds(now_ts timestamptz DEFAULT now())
RETURNS void
LANGUAGE sql
AS $$
  UPDATE rollup_thresholds
     SET threshold = greatest(threshold, sensor_streaming_bin(INTERVAL '1 minute', now_ts - INTERVAL '1 minute'))
$$;

-- Materialises what changed since the last run: invalidated minutes and
-- [watermark, threshold) at 1 minute, then the hours and days they touch.
-- Rows are inserted in bucket order, so each level is stored in time order
-- and a fleet-wide read of a range touches only that range's pages.
CREATE OR REPLACE FUNCTION sensor_streaming_refresh_rollups()
RETURNS jsonb
LANGUAGE plpgsql
AS $fn$
DECLARE
  w record;
  inv record;
  rg tstzrange;
  slice_lo timestamptz;
  slice_hi timestamptz;
  keep_1m timestamptz;
  m_1m tstzmultirange := '{}';
  m_1h tstzmultirange := '{}';
  m_1d tstzmultirange := '{}';
  m_err tstzmultirange := '{}';
  wm_1m timestamptz; new_1m timestamptz;
  wm_1h timestamptz; new_1h timestamptz;
  wm_1d timestamptz; new_1d timestamptz;
  wm_err timestamptz; new_err timestamptz;
  n bigint;
  rows_1m bigint := 0; rows_1h bigint := 0; rows_1d bigint := 0; rows_err bigint := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(8315173729079549813) THEN
    RETURN jsonb_build_object('rollups', 'skipped: another refresh holds the lock');
  END IF;
  FOR w IN SELECT * FROM rollup_watermarks LOOP
    CASE w.name
      WHEN 'measurements_1m' THEN wm_1m := w.watermark;
      WHEN 'measurements_1h' THEN wm_1h := w.watermark;
      WHEN 'measurements_1d' THEN wm_1d := w.watermark;
      WHEN 'error_counts_1m' THEN wm_err := w.watermark;
      ELSE NULL;
    END CASE;
  END LOOP;
  -- materialise up to the thresholds: every row below them is committed or was recorded
  SELECT greatest(wm_1m, threshold) INTO new_1m FROM rollup_thresholds WHERE source = 'measurements';
  SELECT greatest(wm_err, threshold) INTO new_err FROM rollup_thresholds WHERE source = 'sensor_logs';
  -- 1-minute rollups are kept for aggregates_retention: nothing older is recomputed
  SELECT now() - retention INTO keep_1m FROM storage_policies WHERE relation = 'rollup_measurements_1m';
  keep_1m := sensor_streaming_bin(INTERVAL '1 minute', coalesce(keep_1m, '-infinity'));

  FOR inv IN DELETE FROM rollup_invalidations RETURNING source, lo, hi LOOP
    IF inv.source = 'measurements' THEN
      m_1m := m_1m + sensor_streaming_span(
        greatest(sensor_streaming_bin(INTERVAL '1 minute', inv.lo), keep_1m),
        least(sensor_streaming_bin(INTERVAL '1 minute', inv.hi) + INTERVAL '1 minute', wm_1m));
    ELSE
      m_err := m_err + sensor_streaming_span(
        sensor_streaming_bin(INTERVAL '1 minute', inv.lo),
        least(sensor_streaming_bin(INTERVAL '1 minute', inv.hi) + INTERVAL '1 minute', wm_err));
    END IF;
  END LOOP;
  m_1m := m_1m + sensor_streaming_span(greatest(wm_1m, keep_1m), new_1m);
  m_err := m_err + sensor_streaming_span(wm_err, new_err);

  FOR rg IN SELECT unnest(m_1m) LOOP
    DELETE FROM rollup_measurements_1m WHERE bucket >= lower(rg) AND bucket < upper(rg);
    -- a day at a time from the first row (the first pass after an upgrade covers all history)
    slice_lo := (SELECT min(time) FROM measurements WHERE time >= lower(rg) AND time < upper(rg));
    CONTINUE WHEN slice_lo IS NULL;
    slice_lo := greatest(lower(rg), sensor_streaming_bin(INTERVAL '1 day', slice_lo));
    WHILE slice_lo < upper(rg) LOOP
      slice_hi := least(sensor_streaming_bin(INTERVAL '1 day', slice_lo) + INTERVAL '1 day', upper(rg));
      INSERT INTO rollup_measurements_1m (bucket, sensor_id, channel, sum, sumsq, min, max, count)
      SELECT sensor_streaming_bin(INTERVAL '1 minute', time), sensor_id, channel,
             sum(value), sum(value * value), min(value), max(value), count(*)
      FROM measurements
      WHERE time >= slice_lo AND time < slice_hi
      GROUP BY 1, 2, 3
      ORDER BY 1;
      GET DIAGNOSTICS n = ROW_COUNT;
      rows_1m := rows_1m + n;
      slice_lo := slice_hi;
    END LOOP;
  END LOOP;

  -- hours: complete ones only (below the hour of the new 1-minute watermark)
  new_1h := greatest(wm_1h, sensor_streaming_bin(INTERVAL '1 hour', new_1m));
  FOR rg IN SELECT unnest(m_1m) LOOP
    m_1h := m_1h + sensor_streaming_span(
      sensor_streaming_bin(INTERVAL '1 hour', lower(rg)),
      least(sensor_streaming_bin(INTERVAL '1 hour', upper(rg) - INTERVAL '1 microsecond') + INTERVAL '1 hour', new_1h));
  END LOOP;
  m_1h := m_1h + sensor_streaming_span(wm_1h, new_1h);
  FOR rg IN SELECT unnest(m_1h) LOOP
    DELETE FROM rollup_measurements_1h WHERE bucket >= lower(rg) AND bucket < upper(rg);
    INSERT INTO rollup_measurements_1h (bucket, sensor_id, channel, sum, sumsq, min, max, count)
    SELECT sensor_streaming_bin(INTERVAL '1 hour', bucket), sensor_id, channel,
           sum(sum), sum(sumsq), min(min), max(max), sum(count)
    FROM rollup_measurements_1m
    WHERE bucket >= lower(rg) AND bucket < upper(rg)
    GROUP BY 1, 2, 3
    ORDER BY 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    rows_1h := rows_1h + n;
  END LOOP;

  new_1d := greatest(wm_1d, sensor_streaming_bin(INTERVAL '1 day', new_1h));
  FOR rg IN SELECT unnest(m_1h) LOOP
    m_1d := m_1d + sensor_streaming_span(
      sensor_streaming_bin(INTERVAL '1 day', lower(rg)),
      least(sensor_streaming_bin(INTERVAL '1 day', upper(rg) - INTERVAL '1 microsecond') + INTERVAL '1 day', new_1d));
  END LOOP;
  m_1d := m_1d + sensor_streaming_span(wm_1d, new_1d);
  FOR rg IN SELECT unnest(m_1d) LOOP
    DELETE FROM rollup_measurements_1d WHERE bucket >= lower(rg) AND bucket < upper(rg);
    INSERT INTO rollup_measurements_1d (bucket, sensor_id, channel, sum, sumsq, min, max, count)
    SELECT sensor_streaming_bin(INTERVAL '1 day', bucket), sensor_id, channel,
           sum(sum), sum(sumsq), min(min), max(max), sum(count)
    FROM rollup_measurements_1h
    WHERE bucket >= lower(rg) AND bucket < upper(rg)
    GROUP BY 1, 2, 3
    ORDER BY 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    rows_1d := rows_1d + n;
  END LOOP;

  FOR rg IN SELECT unnest(m_err) LOOP
    DELETE FROM rollup_error_counts_1m WHERE bucket >= lower(rg) AND bucket < upper(rg);
    INSERT INTO rollup_error_counts_1m (bucket, sensor_id, error_code, count)
    SELECT sensor_streaming_bin(INTERVAL '1 minute', time), sensor_id, error_code, count(*)
    FROM sensor_logs
    WHERE level = 'ERROR' AND time >= lower(rg) AND time < upper(rg)
    GROUP BY 1, 2, 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    rows_err := rows_err + n;
  END LOOP;

  UPDATE rollup_watermarks SET watermark = CASE name
      WHEN 'measurements_1m' THEN new_1m
      WHEN 'measurements_1h' THEN new_1h
      WHEN 'measurements_1d' THEN new_1d
      WHEN 'error_counts_1m' THEN new_err
    END;
  RETURN jsonb_build_object('rollup_rows', jsonb_build_object(
    'measurements_1m', rows_1m, 'measurements_1h', rows_1h, 'measurements_1d', rows_1d,
    'error_counts_1m', rows_err));
END
$fn$;

-- Retention of the tables that are not partitioned: DELETE in batches of
-- 50,000 rows per table and run, so one run never holds locks for long.
CREATE OR REPLACE FUNCTION sensor_streaming_trim_tables(now_ts timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
AS $fn$
DECLARE
  p record;
  n bigint;
  deleted jsonb := '{}';
BEGIN
  FOR p IN SELECT * FROM storage_policies WHERE partition_step IS NULL ORDER BY relation LOOP
    EXECUTE format(
      'DELETE FROM %1$I WHERE ctid = ANY (ARRAY(SELECT ctid FROM %1$I WHERE %2$I < $1 LIMIT 50000))',
      p.relation, p.time_column) USING now_ts - p.retention;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN deleted := deleted || jsonb_build_object(p.relation, n); END IF;
  END LOOP;
  RETURN jsonb_build_object('rows_deleted', deleted);
END
$fn$;

-- One maintenance pass (call outside a transaction block: each step commits).
-- With TimescaleDB it does nothing: the extension's jobs do the same work.
CREATE OR REPLACE PROCEDURE sensor_streaming_maintain_storage(INOUT report jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
BEGIN
  IF sensor_streaming_timescale_features() <> 'none' THEN
    report := jsonb_build_object('backend', 'timescaledb', 'note', 'TimescaleDB jobs maintain storage');
    RETURN;
  END IF;
  report := jsonb_build_object('backend', 'postgresql') || sensor_streaming_manage_partitions();
  COMMIT;
  PERFORM sensor_streaming_raise_rollup_thresholds();
  COMMIT;
  report := report || sensor_streaming_refresh_rollups();
  COMMIT;
  report := report || sensor_streaming_trim_tables();
  COMMIT;
END
$fn$;

DO $$
DECLARE
  step interval := sensor_streaming_setting('measurements_partition_interval', '1 day')::interval;
  rollup_step interval := sensor_streaming_setting('aggregates_partition_interval', '7 days')::interval;
  retention interval := sensor_streaming_setting('measurements_retention', '30 days')::interval;
  rollup_retention interval := sensor_streaming_setting('aggregates_retention', '365 days')::interval;
  oldest timestamptz;
  newest timestamptz;
  legacy_upper timestamptz;
  start_wm timestamptz;
BEGIN
  IF sensor_streaming_timescale_features() <> 'none' THEN
    RETURN;
  END IF;
  IF step < INTERVAL '1 hour' OR rollup_step < INTERVAL '1 hour' THEN
    RAISE EXCEPTION 'sensor_streaming.measurements_partition_interval and aggregates_partition_interval must be at least 1 hour, got % and %', step, rollup_step;
  END IF;

  -- 1. measurements: partitioned by time; the existing table becomes the first partition
  -- With rows: the old table keeps them up to the end of the current period (it is dropped once that is
  -- past retention). Empty (a new database): it only takes rows already past retention, and partitions
  -- cover the retention window, so back-filled history lands in its own period's partition.
  SELECT min(time), max(time) INTO oldest, newest FROM measurements;
  legacy_upper := CASE
    WHEN newest IS NULL THEN sensor_streaming_bin(step, now() - retention)
    ELSE sensor_streaming_bin(step, greatest(now(), newest)) + step
  END;
  ALTER TABLE measurements RENAME TO measurements_p_legacy;
  ALTER TABLE measurements_p_legacy RENAME CONSTRAINT measurements_pkey TO measurements_p_legacy_pkey;
  CREATE TABLE measurements (
    sensor_id bigint NOT NULL,
    channel text NOT NULL,
    time timestamptz NOT NULL,
    value double precision NOT NULL,
    CONSTRAINT measurements_pkey PRIMARY KEY (time, sensor_id, channel)
  ) PARTITION BY RANGE (time);
  COMMENT ON TABLE measurements IS
    'Raw samples at microsecond precision; partitioned by time on plain PostgreSQL (storage_policies), hypertable with TimescaleDB.';
  EXECUTE format('ALTER TABLE measurements ATTACH PARTITION measurements_p_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
                 legacy_upper);

  -- 2. rollup tables
  CREATE TABLE rollup_measurements_1m (
    bucket timestamptz NOT NULL,
    sensor_id bigint NOT NULL,
    channel text NOT NULL,
    sum double precision NOT NULL,
    sumsq double precision NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    count bigint NOT NULL,
    CONSTRAINT rollup_measurements_1m_pkey PRIMARY KEY (bucket, sensor_id, channel)
  ) PARTITION BY RANGE (bucket);
  CREATE INDEX rollup_measurements_1m_series_idx ON rollup_measurements_1m (sensor_id, channel, bucket);
  CREATE TABLE rollup_measurements_1h (LIKE rollup_measurements_1m);
  ALTER TABLE rollup_measurements_1h ADD CONSTRAINT rollup_measurements_1h_pkey PRIMARY KEY (bucket, sensor_id, channel);
  CREATE INDEX rollup_measurements_1h_series_idx ON rollup_measurements_1h (sensor_id, channel, bucket);
  CREATE TABLE rollup_measurements_1d (LIKE rollup_measurements_1m);
  ALTER TABLE rollup_measurements_1d ADD CONSTRAINT rollup_measurements_1d_pkey PRIMARY KEY (bucket, sensor_id, channel);
  CREATE INDEX rollup_measurements_1d_series_idx ON rollup_measurements_1d (sensor_id, channel, bucket);
  CREATE TABLE rollup_error_counts_1m (
    bucket timestamptz NOT NULL,
    sensor_id bigint NOT NULL,
    error_code text NOT NULL,
    count bigint NOT NULL,
    CONSTRAINT rollup_error_counts_1m_pkey PRIMARY KEY (bucket, sensor_id, error_code)
  );
  CREATE INDEX rollup_error_counts_1m_sensor_idx ON rollup_error_counts_1m (sensor_id, bucket);

  -- nothing is materialised yet: the views compute everything from the raw
  -- rows (exact, slower) until the first maintenance pass materialises the
  -- existing data (within aggregates_retention)
  start_wm := '-infinity';
  INSERT INTO rollup_watermarks (name, watermark) VALUES
    ('measurements_1m', start_wm), ('measurements_1h', start_wm), ('measurements_1d', start_wm),
    ('error_counts_1m', start_wm);
  INSERT INTO rollup_thresholds (source, threshold) VALUES ('measurements', start_wm), ('sensor_logs', start_wm);

  INSERT INTO storage_policies (relation, time_column, partition_step, retention, partitions_from) VALUES
    ('measurements', 'time', step, retention, legacy_upper),
    ('rollup_measurements_1m', 'bucket', rollup_step, rollup_retention,
     sensor_streaming_bin(rollup_step, least(oldest, now() - rollup_retention))),
    ('rollup_measurements_1h', 'bucket', NULL,
     sensor_streaming_setting('aggregates_1h_retention', '730 days')::interval, NULL),
    ('rollup_measurements_1d', 'bucket', NULL,
     sensor_streaming_setting('aggregates_1d_retention', '3650 days')::interval, NULL),
    ('rollup_error_counts_1m', 'bucket', NULL,
     sensor_streaming_setting('aggregates_retention', '365 days')::interval, NULL),
    ('sensor_logs', 'time', NULL,
     sensor_streaming_setting('sensor_logs_retention', '90 days')::interval, NULL),
    ('sensor_state_changes', 'time', NULL,
     sensor_streaming_setting('sensor_state_changes_retention', '365 days')::interval, NULL),
    ('sensor_positions', 'time', NULL,
     sensor_streaming_setting('sensor_positions_retention', '365 days')::interval, NULL);

  -- 3. late rows: record their time range when they fall below the threshold
  CREATE FUNCTION sensor_streaming_invalidate_measurements() RETURNS trigger LANGUAGE plpgsql AS $t$
  BEGIN
    INSERT INTO rollup_invalidations (source, lo, hi)
    SELECT 'measurements', lo, hi
    FROM (SELECT min(time) AS lo, max(time) AS hi FROM new_rows) r
    WHERE r.lo < (SELECT threshold FROM rollup_thresholds WHERE source = 'measurements' FOR SHARE);
    RETURN NULL;
  END
  $t$;
  CREATE TRIGGER measurements_invalidate_rollups
    AFTER INSERT ON measurements REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sensor_streaming_invalidate_measurements();
  CREATE FUNCTION sensor_streaming_invalidate_error_counts() RETURNS trigger LANGUAGE plpgsql AS $t$
  BEGIN
    INSERT INTO rollup_invalidations (source, lo, hi)
    SELECT 'sensor_logs', lo, hi
    FROM (SELECT min(time) AS lo, max(time) AS hi FROM new_rows WHERE level = 'ERROR') r
    WHERE r.lo < (SELECT threshold FROM rollup_thresholds WHERE source = 'sensor_logs' FOR SHARE);
    RETURN NULL;
  END
  $t$;
  CREATE TRIGGER sensor_logs_invalidate_rollups
    AFTER INSERT ON sensor_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sensor_streaming_invalidate_error_counts();

  -- 4. the views the dashboards read: materialised below the watermark, computed above it
  DROP VIEW measurements_1m;
  DROP VIEW error_counts_1m;
  CREATE VIEW measurements_1m AS
    SELECT r.bucket, r.sensor_id, r.channel, r.sum / r.count AS avg, r.min, r.max,
           sqrt(r.sumsq / r.count) AS rms, r.count
    FROM rollup_measurements_1m r
    WHERE r.bucket < sensor_streaming_rollup_watermark('measurements_1m')
    UNION ALL
    SELECT sensor_streaming_bin(INTERVAL '1 minute', m.time), m.sensor_id, m.channel, avg(m.value),
           min(m.value), max(m.value), sqrt(avg(m.value * m.value)), count(*)
    FROM measurements m
    WHERE m.time >= sensor_streaming_rollup_watermark('measurements_1m')
    GROUP BY 1, 2, 3;
  CREATE VIEW measurements_1h AS
    SELECT r.bucket, r.sensor_id, r.channel, r.sum / r.count AS avg, r.min, r.max,
           sqrt(r.sumsq / r.count) AS rms, r.count
    FROM rollup_measurements_1h r
    WHERE r.bucket < sensor_streaming_rollup_watermark('measurements_1h')
    UNION ALL
    SELECT sensor_streaming_bin(INTERVAL '1 hour', t.bucket), t.sensor_id, t.channel,
           sum(t.sum) / sum(t.count), min(t.min), max(t.max), sqrt(sum(t.sumsq) / sum(t.count)),
           sum(t.count)::bigint
    FROM (
      SELECT bucket, sensor_id, channel, sum, sumsq, min, max, count
      FROM rollup_measurements_1m
      WHERE bucket >= sensor_streaming_rollup_watermark('measurements_1h') AND bucket < sensor_streaming_rollup_watermark('measurements_1m')
      UNION ALL
      SELECT time, sensor_id, channel, value, value * value, value, value, 1
      FROM measurements
      WHERE time >= greatest(sensor_streaming_rollup_watermark('measurements_1h'), sensor_streaming_rollup_watermark('measurements_1m'))
    ) t
    GROUP BY 1, 2, 3;
  CREATE VIEW measurements_1d AS
    SELECT r.bucket, r.sensor_id, r.channel, r.sum / r.count AS avg, r.min, r.max,
           sqrt(r.sumsq / r.count) AS rms, r.count
    FROM rollup_measurements_1d r
    WHERE r.bucket < sensor_streaming_rollup_watermark('measurements_1d')
    UNION ALL
    SELECT sensor_streaming_bin(INTERVAL '1 day', t.bucket), t.sensor_id, t.channel,
           sum(t.sum) / sum(t.count), min(t.min), max(t.max), sqrt(sum(t.sumsq) / sum(t.count)),
           sum(t.count)::bigint
    FROM (
      SELECT bucket, sensor_id, channel, sum, sumsq, min, max, count
      FROM rollup_measurements_1h
      WHERE bucket >= sensor_streaming_rollup_watermark('measurements_1d') AND bucket < sensor_streaming_rollup_watermark('measurements_1h')
      UNION ALL
      SELECT bucket, sensor_id, channel, sum, sumsq, min, max, count
      FROM rollup_measurements_1m
      WHERE bucket >= greatest(sensor_streaming_rollup_watermark('measurements_1d'), sensor_streaming_rollup_watermark('measurements_1h')) AND bucket < sensor_streaming_rollup_watermark('measurements_1m')
      UNION ALL
      SELECT time, sensor_id, channel, value, value * value, value, value, 1
      FROM measurements
      WHERE time >= greatest(sensor_streaming_rollup_watermark('measurements_1d'), sensor_streaming_rollup_watermark('measurements_1h'), sensor_streaming_rollup_watermark('measurements_1m'))
    ) t
    GROUP BY 1, 2, 3;
  CREATE VIEW error_counts_1m AS
    SELECT r.bucket, r.sensor_id, r.error_code, r.count
    FROM rollup_error_counts_1m r
    WHERE r.bucket < sensor_streaming_rollup_watermark('error_counts_1m')
    UNION ALL
    SELECT sensor_streaming_bin(INTERVAL '1 minute', l.time), l.sensor_id, l.error_code, count(*)
    FROM sensor_logs l
    WHERE l.level = 'ERROR' AND l.time >= sensor_streaming_rollup_watermark('error_counts_1m')
    GROUP BY 1, 2, 3;

  -- first partitions, so rows can be written before the maintainer's first pass
  PERFORM sensor_streaming_manage_partitions();
END
$$;
