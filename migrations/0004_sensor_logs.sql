-- Sensor log entries (the monitoring-event shape of LogBatch).
--
-- Dedupe: entry_hash is computed by the database from the entry's content, so
-- the key (time, sensor_id, entry_hash) makes a redelivered or re-batched
-- entry a no-op with INSERT ... ON CONFLICT DO NOTHING, while two different
-- entries at the same microsecond are both kept. Writers never supply it
-- (leave it out of INSERT/COPY column lists).

CREATE TABLE sensor_logs (
  sensor_id bigint NOT NULL,
  time timestamptz NOT NULL,
  level text NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARN', 'ERROR')),
  error_code text NOT NULL DEFAULT '',
  app_version text NOT NULL DEFAULT '',
  firmware_version text NOT NULL DEFAULT '',
  component text NOT NULL DEFAULT '',
  message text NOT NULL DEFAULT '',
  entry_hash uuid NOT NULL GENERATED ALWAYS AS (
    md5(
      level || E'\x1f' || error_code || E'\x1f' || app_version || E'\x1f' || firmware_version
        || E'\x1f' || component || E'\x1f' || message
    )::uuid
  ) STORED,
  CONSTRAINT sensor_logs_pkey PRIMARY KEY (time, sensor_id, entry_hash)
);

COMMENT ON TABLE sensor_logs IS
  'Sensor log entries; hypertable (1 day chunks) with TimescaleDB. entry_hash is generated: do not write it.';

CREATE INDEX sensor_logs_sensor_time_idx ON sensor_logs (sensor_id, time DESC);
CREATE INDEX sensor_logs_error_code_time_idx ON sensor_logs (error_code, time DESC) WHERE error_code <> '';
