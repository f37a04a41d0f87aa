-- Liveness from every message, and the order of reported states kept apart from it.
--
-- `last_seen_at` becomes the registry's receive time of ANY message from the sensor (state, ack, data, logs),
-- never the sensor's clock: a device that only logs is alive, and a sensor with a wrong clock is not shown as
-- silent. Reported states are still ordered by the sensor's own clock (a WILL of an old session that arrives
-- after the BIRTH of the next one must not win), which `reported_at` now carries: the sensor time of the
-- newest state (or APPLIED ack) taken as reported.
ALTER TABLE sensors ADD COLUMN IF NOT EXISTS reported_at timestamptz;
-- When the registry last received a data batch from the sensor (the live view's LAST DATA, not a heartbeat).
ALTER TABLE sensors ADD COLUMN IF NOT EXISTS last_data_at timestamptz;
-- Samples per second the registry counted in the sensor's recent data batches.
ALTER TABLE sensors ADD COLUMN IF NOT EXISTS measured_samples_per_second double precision
  CHECK (measured_samples_per_second >= 0);

UPDATE sensors SET reported_at = last_seen_at WHERE reported_at IS NULL AND reported_state IS NOT NULL;

COMMENT ON COLUMN sensors.last_seen_at IS 'Receive time (registry clock) of the last message of any kind from the sensor.';
COMMENT ON COLUMN sensors.reported_at IS 'Sensor clock time of the newest state or APPLIED ack taken as reported (orders states).';
COMMENT ON COLUMN sensors.last_data_at IS 'Receive time (registry clock) of the last data batch from the sensor.';
