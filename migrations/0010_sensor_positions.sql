-- GPS positions reported with samples (MeasurementBatch.position), kept as a
-- time series per sensor so a moving sensor (a crane, a truck) has a track,
-- not only its birth position.
--
-- Writers (the measurements ingester) store a row only when the position
-- differs from the sensor's latest stored one, so a stationary sensor costs
-- one row, not one per batch. The primary key makes a redelivered batch a no-op.
--
-- The registry's current position (sensors.latitude/longitude/altitude_m)
-- follows the newest row: the trigger below moves it forward, never back
-- (sensors.position_time is the time of the position it shows).
--
--   setting (sensor_streaming.*)          default
--   sensor_positions_chunk_interval       7 days    (TimescaleDB)
--   sensor_positions_retention            365 days  (both backends)

ALTER TABLE sensors ADD COLUMN position_time timestamptz;

COMMENT ON COLUMN sensors.position_time IS
  'Time of the position in latitude/longitude/altitude_m when it came from sensor_positions (GPS in a sample batch).';

CREATE TABLE sensor_positions (
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  time timestamptz NOT NULL,
  latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  altitude_m double precision,
  CONSTRAINT sensor_positions_pkey PRIMARY KEY (sensor_id, time)
);

COMMENT ON TABLE sensor_positions IS
  'Position track per sensor: one row each time a sample batch reports a new position.';

CREATE OR REPLACE FUNCTION sensor_streaming_follow_position()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE sensors
     SET latitude = NEW.latitude,
         longitude = NEW.longitude,
         altitude_m = NEW.altitude_m,
         position_time = NEW.time
   WHERE id = NEW.sensor_id
     AND (position_time IS NULL OR position_time < NEW.time);
  RETURN NULL;
END
$$;

CREATE TRIGGER sensor_positions_follow
  AFTER INSERT ON sensor_positions
  FOR EACH ROW EXECUTE FUNCTION sensor_streaming_follow_position();

DO $$
BEGIN
  IF sensor_streaming_timescale_features() = 'none' THEN
    RETURN; -- plain PostgreSQL: retention by sensor_streaming_maintain_storage() (0011)
  END IF;
  PERFORM create_hypertable('sensor_positions',
    by_range('time', sensor_streaming_setting('sensor_positions_chunk_interval', '7 days')::interval),
    create_default_indexes => false, if_not_exists => true);
  IF sensor_streaming_timescale_features() = 'full' THEN
    PERFORM add_retention_policy('sensor_positions',
      drop_after => sensor_streaming_setting('sensor_positions_retention', '365 days')::interval,
      if_not_exists => true);
  END IF;
END
$$;
