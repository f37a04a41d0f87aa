-- Registration: which serials an operator provisioned (iotctl sensors provision), and which were revoked.
--
-- With REGISTRATION=closed the ingesters, the registry and the alarm service accept a serial only when its
-- row has provisioned_at set and revoked_at unset; everything else is dead-lettered or ignored and never
-- creates a row. Revoking keeps the row, its measurements and logs (history); provisioning again clears
-- revoked_at. Every provision and revoke is kept in sensor_registration_events.
ALTER TABLE sensors ADD COLUMN IF NOT EXISTS provisioned_at timestamptz;
ALTER TABLE sensors ADD COLUMN IF NOT EXISTS revoked_at timestamptz;

COMMENT ON COLUMN sensors.provisioned_at IS 'When the sensor was last provisioned (iotctl sensors provision); NULL: never (created by open registration).';
COMMENT ON COLUMN sensors.revoked_at IS 'When the sensor''s credential was revoked; NULL while provisioned. Its rows are kept.';

CREATE TABLE IF NOT EXISTS sensor_registration_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial text NOT NULL CHECK (serial ~ '^[A-Za-z0-9_-]{1,64}$'),
  event text NOT NULL CHECK (event IN ('PROVISIONED', 'REVOKED')),
  kind text,
  labels jsonb CHECK (labels IS NULL OR jsonb_typeof(labels) = 'object'),
  at timestamptz NOT NULL DEFAULT now(),
  by text NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS sensor_registration_events_serial_idx
  ON sensor_registration_events (serial, at DESC);
