-- The registry's reconciler asks, per sensor, whether a command is still pending
-- (status ISSUED). Command history only grows; keep that lookup on a small
-- partial index instead of scanning every command the sensor ever got.
CREATE INDEX IF NOT EXISTS commands_pending_sensor_idx ON commands (sensor_id) WHERE status = 'ISSUED';
