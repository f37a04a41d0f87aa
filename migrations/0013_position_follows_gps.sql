-- The registry writes sensors.latitude/longitude/altitude_m from SensorState
-- (a configured location, sent with every birth and heartbeat). Once a
-- sensor has reported GPS with its samples (sensors.position_time set by the
-- sensor_positions trigger, 0010), that position is the current one: an
-- update that changes the coordinates without a newer position_time keeps the
-- GPS position. Only a newer sample position moves the sensor.

CREATE OR REPLACE FUNCTION sensor_streaming_keep_gps_position()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF OLD.position_time IS NOT NULL
     AND NEW.position_time IS NOT DISTINCT FROM OLD.position_time
     AND (NEW.latitude, NEW.longitude, NEW.altitude_m) IS DISTINCT FROM (OLD.latitude, OLD.longitude, OLD.altitude_m)
  THEN
    NEW.latitude := OLD.latitude;
    NEW.longitude := OLD.longitude;
    NEW.altitude_m := OLD.altitude_m;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER sensors_keep_gps_position
  BEFORE UPDATE OF latitude, longitude, altitude_m ON sensors
  FOR EACH ROW EXECUTE FUNCTION sensor_streaming_keep_gps_position();
