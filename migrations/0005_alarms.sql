-- Alarm rules, alarm transitions, alarm episodes and anomaly-model state.
--
-- alarms is the append-only log of transitions (RAISED / ACKNOWLEDGED /
-- CLEARED), one alarm_id per episode. It stays a plain table even with
-- TimescaleDB: it is small, and a hypertable could not keep the identity
-- primary key or the foreign key lookups by alarm_id cheap.
-- alarm_episodes holds one row per episode with its current status; its
-- unique partial index enforces at most one open episode per
-- (sensor, rule, channel), so two alarm-service replicas racing to raise the
-- same alarm cannot both succeed. active_alarms is the open subset.

CREATE TABLE alarm_rules (
  name text NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  definition jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
  enabled boolean NOT NULL DEFAULT true,
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alarm_rules_pkey PRIMARY KEY (name, version)
);

COMMENT ON TABLE alarm_rules IS 'Versioned alarm rules; the highest version of a name is current.';

CREATE TABLE alarms (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  alarm_id uuid NOT NULL,
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  rule text NOT NULL,
  channel text NOT NULL DEFAULT '',
  severity text NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'MAJOR', 'CRITICAL')),
  transition text NOT NULL CHECK (transition IN ('RAISED', 'CLEARED', 'ACKNOWLEDGED')),
  value double precision,
  threshold double precision,
  window_ns bigint NOT NULL DEFAULT 0 CHECK (window_ns >= 0),
  time timestamptz NOT NULL,
  acknowledged_by text,
  message text NOT NULL DEFAULT '',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  -- a redelivered transition is a no-op (ON CONFLICT DO NOTHING)
  CONSTRAINT alarms_transition_key UNIQUE (alarm_id, transition, time)
);

COMMENT ON TABLE alarms IS 'Append-only alarm transitions; alarm_id identifies the episode.';

CREATE INDEX alarms_sensor_time_idx ON alarms (sensor_id, time DESC);
CREATE INDEX alarms_time_idx ON alarms (time DESC);

CREATE TABLE alarm_episodes (
  alarm_id uuid PRIMARY KEY,
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  rule text NOT NULL,
  channel text NOT NULL DEFAULT '',
  severity text NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'MAJOR', 'CRITICAL')),
  value double precision,
  threshold double precision,
  window_ns bigint NOT NULL DEFAULT 0 CHECK (window_ns >= 0),
  message text NOT NULL DEFAULT '',
  raised_at timestamptz NOT NULL,
  acknowledged_at timestamptz,
  acknowledged_by text,
  cleared_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alarm_episodes_cleared_after_raised CHECK (cleared_at IS NULL OR cleared_at >= raised_at)
);

-- At most one open episode per sensor + rule + channel (channel '' for rules
-- that are not about one channel). Raise with
--   INSERT ... ON CONFLICT (sensor_id, rule, channel) WHERE cleared_at IS NULL DO NOTHING
CREATE UNIQUE INDEX alarm_episodes_one_open_idx
  ON alarm_episodes (sensor_id, rule, channel)
  WHERE cleared_at IS NULL;

CREATE INDEX alarm_episodes_raised_at_idx ON alarm_episodes (raised_at DESC);

CREATE TRIGGER alarm_episodes_touch_updated_at
  BEFORE UPDATE ON alarm_episodes
  FOR EACH ROW EXECUTE FUNCTION sensor_streaming_touch_updated_at();

CREATE VIEW active_alarms AS
  SELECT e.alarm_id, e.sensor_id, s.serial, e.rule, e.channel, e.severity, e.value, e.threshold,
         e.window_ns, e.message, e.raised_at, e.acknowledged_at, e.acknowledged_by, e.updated_at
  FROM alarm_episodes e
  JOIN sensors s ON s.id = e.sensor_id
  WHERE e.cleared_at IS NULL;

COMMENT ON VIEW active_alarms IS 'Open alarm episodes (raised, possibly acknowledged, not cleared).';

-- Persisted parameters of per sensor/channel anomaly models (e.g. EWMA mean
-- and variance), so a restarted or rescaled alarm-service resumes warm.
CREATE TABLE alarm_model_state (
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  channel text NOT NULL,
  model text NOT NULL,
  params jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
  samples bigint NOT NULL DEFAULT 0 CHECK (samples >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alarm_model_state_pkey PRIMARY KEY (sensor_id, channel, model)
);
