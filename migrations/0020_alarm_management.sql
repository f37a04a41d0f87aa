-- Alarms operators can trust (issue 11): nothing forgotten on restart, shelving,
-- maintenance mode.
--
-- alarm_outbox: every RAISED / CLEARED transition gets a row in the same
-- statement that stores it (transactional outbox); it is published on the bus
-- with the transition id as message id and marked published on the confirm.
-- What is still unpublished after the publish timeout (broker gone, crash) is
-- published again by the active alarm-service, once per transition id.
CREATE TABLE alarm_outbox (
  transition_id bigint PRIMARY KEY REFERENCES alarms (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  attempts integer NOT NULL DEFAULT 0
);

CREATE INDEX alarm_outbox_pending_idx ON alarm_outbox (transition_id) WHERE published_at IS NULL;

-- Durable notification queue: one row per transition and channel (webhook,
-- email), written with the transition; delivered with retries and backoff by
-- the active alarm-service, resumed after a restart. SUPPRESSED: shelved or in
-- maintenance when it was due.
CREATE TABLE alarm_notifications (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transition_id bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
  channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED', 'SUPPRESSED')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz,
  CONSTRAINT alarm_notifications_once UNIQUE (transition_id, channel)
);

CREATE INDEX alarm_notifications_due_idx ON alarm_notifications (next_attempt_at) WHERE status = 'PENDING';

-- Open windows of the rule engine (error-burst counts, window panes, slopes),
-- saved like alarm_model_state so a restarted or failed-over alarm-service
-- continues the windows it had open.
CREATE TABLE alarm_window_state (
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  rule text NOT NULL,
  channel text NOT NULL,
  state jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alarm_window_state_pkey PRIMARY KEY (sensor_id, rule, channel)
);

-- Shelving (ISA-18.2): an operator hides one alarm (sensor + rule + channel)
-- for a while, with a reason. While shelved it is still evaluated and stored,
-- but it does not notify; when the shelf expires (or is removed) an alarm that
-- is still active comes back (UNSHELVED transition, notified).
CREATE TABLE alarm_shelves (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  rule text NOT NULL,
  channel text NOT NULL DEFAULT '',
  alarm_id uuid NOT NULL,
  reason text NOT NULL CHECK (reason <> ''),
  shelved_by text NOT NULL,
  shelved_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ended_at timestamptz,
  ended_by text,
  CONSTRAINT alarm_shelves_expiry_after_start CHECK (expires_at > shelved_at)
);

CREATE UNIQUE INDEX alarm_shelves_one_open_idx ON alarm_shelves (sensor_id, rule, channel) WHERE ended_at IS NULL;

-- Maintenance mode: a sensor under maintenance is still evaluated and its
-- transitions are stored (marked), but it neither notifies nor triggers commands.
CREATE TABLE sensor_maintenance (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  reason text NOT NULL DEFAULT '',
  started_by text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ends_at timestamptz NOT NULL,
  ended_at timestamptz,
  CONSTRAINT sensor_maintenance_end_after_start CHECK (ends_at > started_at)
);

CREATE INDEX sensor_maintenance_open_idx ON sensor_maintenance (sensor_id) WHERE ended_at IS NULL;

-- Shelving is recorded as transitions too; a transition stored while its alarm
-- was shelved or its sensor in maintenance says so.
ALTER TABLE alarms DROP CONSTRAINT alarms_transition_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_transition_check
  CHECK (transition IN ('RAISED', 'CLEARED', 'ACKNOWLEDGED', 'SHELVED', 'UNSHELVED'));
ALTER TABLE alarms ADD COLUMN suppressed_by text CHECK (suppressed_by IN ('shelved', 'maintenance'));
