-- Sensors: identity, metadata, desired vs reported state.
-- `desired_*` is what operators (iotctl) or the alarm-service asked for;
-- `reported_*` is what the sensor last said (SensorState). The registry
-- reconciles the two.

CREATE OR REPLACE FUNCTION sensor_streaming_touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE sensors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial text NOT NULL CONSTRAINT sensors_serial_key UNIQUE
    CONSTRAINT sensors_serial_check CHECK (serial ~ '^[A-Za-z0-9_-]{1,64}$'),
  kind text NOT NULL DEFAULT '',
  labels jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(labels) = 'object'),
  -- numeric columns so a Grafana geomap layer can read them directly
  latitude double precision CHECK (latitude BETWEEN -90 AND 90),
  longitude double precision CHECK (longitude BETWEEN -180 AND 180),
  altitude_m double precision,
  firmware text NOT NULL DEFAULT '',
  channels text[] NOT NULL DEFAULT '{}',
  min_frequency_hz double precision CHECK (min_frequency_hz >= 0),
  max_frequency_hz double precision CHECK (max_frequency_hz >= 0),
  desired_state text CHECK (desired_state IN ('AWAKE', 'ASLEEP')),
  desired_frequency_hz double precision CHECK (desired_frequency_hz > 0),
  reported_state text CHECK (reported_state IN ('AWAKE', 'ASLEEP', 'OFFLINE')),
  reported_frequency_hz double precision CHECK (reported_frequency_hz >= 0),
  online boolean NOT NULL DEFAULT false,
  last_seen_at timestamptz,
  registered_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sensors_frequency_range_check
    CHECK (min_frequency_hz IS NULL OR max_frequency_hz IS NULL OR min_frequency_hz <= max_frequency_hz)
);

COMMENT ON TABLE sensors IS
  'One row per sensor serial. Ingesters create bare rows on the fly for unknown serials; the registry fills in the rest from SensorState.';

CREATE INDEX sensors_kind_idx ON sensors (kind);
CREATE INDEX sensors_labels_idx ON sensors USING gin (labels jsonb_path_ops);

CREATE TRIGGER sensors_touch_updated_at
  BEFORE UPDATE ON sensors
  FOR EACH ROW EXECUTE FUNCTION sensor_streaming_touch_updated_at();

-- History of reported state and sample frequency (births, changes, wills),
-- for dashboards ("when was this pump asleep?"). Becomes a hypertable in 0007.
CREATE TABLE sensor_state_changes (
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  time timestamptz NOT NULL,
  state text NOT NULL CHECK (state IN ('AWAKE', 'ASLEEP', 'OFFLINE')),
  frequency_hz double precision CHECK (frequency_hz >= 0),
  reason text NOT NULL DEFAULT '',
  firmware text NOT NULL DEFAULT '',
  uptime_s double precision,
  CONSTRAINT sensor_state_changes_pkey PRIMARY KEY (sensor_id, time)
);

CREATE INDEX sensor_state_changes_time_idx ON sensor_state_changes (time DESC);
