-- TimescaleDB storage: hypertables, compression, compression and retention
-- policies. A no-op on plain PostgreSQL (the tables from 0003/0004/0002 stay
-- ordinary tables; nothing is compressed or dropped automatically).
--
-- Every knob is read from a custom setting with a default, so an operator can
-- choose values before the first migration, e.g.
--   ALTER DATABASE sensor_streaming SET sensor_streaming.measurements_retention = '90 days';
-- or PGOPTIONS='-c sensor_streaming.measurements_retention=90days' pnpm migrate
-- To change them afterwards see packages/db/README.md (remove_*/add_*_policy).
--
--   setting (sensor_streaming.*)          default
--   measurements_chunk_interval           1 hour     (~100k samples/s fleet-wide)
--   measurements_compress_after           2 hours
--   measurements_retention                30 days
--   sensor_logs_chunk_interval            1 day
--   sensor_logs_compress_after            7 days
--   sensor_logs_retention                 90 days
--   sensor_state_changes_chunk_interval   7 days
--   sensor_state_changes_retention        365 days

DO $$
DECLARE
  features text := sensor_streaming_timescale_features();
BEGIN
  IF features = 'none' THEN
    RAISE NOTICE 'TimescaleDB not installed: measurements, sensor_logs and sensor_state_changes stay plain tables';
    RETURN;
  END IF;

  -- create_default_indexes => false: the primary keys already lead with (or
  -- contain) time; a second time index would only slow inserts down.
  PERFORM create_hypertable('measurements',
    by_range('time', sensor_streaming_setting('measurements_chunk_interval', '1 hour')::interval),
    create_default_indexes => false, if_not_exists => true);
  PERFORM create_hypertable('sensor_logs',
    by_range('time', sensor_streaming_setting('sensor_logs_chunk_interval', '1 day')::interval),
    create_default_indexes => false, if_not_exists => true);
  PERFORM create_hypertable('sensor_state_changes',
    by_range('time', sensor_streaming_setting('sensor_state_changes_chunk_interval', '7 days')::interval),
    create_default_indexes => false, if_not_exists => true);

  IF features = 'apache' THEN
    RAISE NOTICE 'TimescaleDB Apache-only build: hypertables without compression or retention policies';
    RETURN;
  END IF;

  ALTER TABLE measurements SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'sensor_id, channel',
    timescaledb.compress_orderby = 'time DESC'
  );
  ALTER TABLE sensor_logs SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'sensor_id',
    timescaledb.compress_orderby = 'time DESC'
  );

  PERFORM add_compression_policy('measurements',
    compress_after => sensor_streaming_setting('measurements_compress_after', '2 hours')::interval,
    if_not_exists => true);
  PERFORM add_retention_policy('measurements',
    drop_after => sensor_streaming_setting('measurements_retention', '30 days')::interval,
    if_not_exists => true);

  PERFORM add_compression_policy('sensor_logs',
    compress_after => sensor_streaming_setting('sensor_logs_compress_after', '7 days')::interval,
    if_not_exists => true);
  PERFORM add_retention_policy('sensor_logs',
    drop_after => sensor_streaming_setting('sensor_logs_retention', '90 days')::interval,
    if_not_exists => true);

  PERFORM add_retention_policy('sensor_state_changes',
    drop_after => sensor_streaming_setting('sensor_state_changes_retention', '365 days')::interval,
    if_not_exists => true);
END
$$;
