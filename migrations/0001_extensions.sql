-- TimescaleDB when the server offers it, plain PostgreSQL otherwise.
--
-- Every later migration branches on whether the extension is installed, so the
-- same files build the same tables, views and columns on both. Set the custom
-- setting `sensor_streaming.timescaledb` before migrating to choose:
--   auto (default)  install TimescaleDB if pg_available_extensions lists it
--   on              fail unless TimescaleDB can be installed
--   off             never install it (plain PostgreSQL objects)

CREATE OR REPLACE FUNCTION sensor_streaming_setting(name text, default_value text)
RETURNS text
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(nullif(current_setting('sensor_streaming.' || name, true), ''), default_value)
$$;

COMMENT ON FUNCTION sensor_streaming_setting(text, text) IS
  'Reads the custom setting sensor_streaming.<name> (SET, ALTER DATABASE ... SET, PGOPTIONS) or returns the default; used by migrations for chunk intervals, compression and retention.';

DO $$
DECLARE
  mode text := lower(sensor_streaming_setting('timescaledb', 'auto'));
  available boolean;
BEGIN
  IF mode NOT IN ('auto', 'on', 'off') THEN
    RAISE EXCEPTION 'sensor_streaming.timescaledb must be auto, on or off, got %', mode;
  END IF;
  SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') INTO available;
  IF mode = 'off' THEN
    RAISE NOTICE 'sensor_streaming.timescaledb = off: using plain PostgreSQL tables and views';
  ELSIF available THEN
    -- On a server this fails when timescaledb is not in shared_preload_libraries:
    -- that is a configuration error worth stopping for, not something to hide.
    CREATE EXTENSION IF NOT EXISTS timescaledb;
  ELSIF mode = 'on' THEN
    RAISE EXCEPTION 'sensor_streaming.timescaledb = on but the timescaledb extension is not available on this server';
  ELSE
    RAISE NOTICE 'timescaledb is not available: using plain PostgreSQL tables and views';
  END IF;
END
$$;

-- True when TimescaleDB is installed with its community (TSL) features:
-- compression, policies and continuous aggregates. With the Apache-only
-- build we still create hypertables but fall back to plain views.
CREATE OR REPLACE FUNCTION sensor_streaming_timescale_features()
RETURNS text
LANGUAGE sql
STABLE
AS $$
  SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN 'none'
    WHEN current_setting('timescaledb.license', true) = 'apache' THEN 'apache'
    ELSE 'full'
  END
$$;

-- Plain PostgreSQL: a time_bucket(interval, timestamptz) with TimescaleDB's
-- default origin (Monday 2000-01-03), so dashboard queries written with
-- time_bucket run on both.
DO $$
BEGIN
  IF sensor_streaming_timescale_features() = 'none' THEN
    EXECUTE $fn$
      CREATE OR REPLACE FUNCTION time_bucket(bucket_width interval, ts timestamptz)
      RETURNS timestamptz
      LANGUAGE sql
      IMMUTABLE PARALLEL SAFE
      AS 'SELECT date_bin(bucket_width, ts, TIMESTAMPTZ ''2000-01-03 00:00:00+00'')'
    $fn$;
  END IF;
END
$$;
