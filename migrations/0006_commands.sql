-- Commands sent to sensors and their outcome.
-- status: ISSUED until the sensor's CommandAck (APPLIED / REJECTED / EXPIRED)
-- arrives, or TIMED_OUT when the registry gives up waiting. rtt_ms is the
-- time from issued_at to the ack.

CREATE TABLE commands (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sensor_id bigint NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
  serial text NOT NULL,
  type text NOT NULL CHECK (type IN ('sleep', 'awake', 'changesamplefrequency')),
  params jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(params) = 'object'),
  issued_by text NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  acked_at timestamptz,
  status text NOT NULL DEFAULT 'ISSUED'
    CHECK (status IN ('ISSUED', 'APPLIED', 'REJECTED', 'EXPIRED', 'TIMED_OUT')),
  reason text NOT NULL DEFAULT '',
  rtt_ms double precision CHECK (rtt_ms >= 0),
  resulting_state text CHECK (resulting_state IN ('AWAKE', 'ASLEEP', 'OFFLINE')),
  resulting_frequency_hz double precision,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX commands_sensor_issued_idx ON commands (sensor_id, issued_at DESC);
CREATE INDEX commands_issued_at_idx ON commands (issued_at DESC);
CREATE INDEX commands_pending_idx ON commands (expires_at) WHERE status = 'ISSUED';

CREATE TRIGGER commands_touch_updated_at
  BEFORE UPDATE ON commands
  FOR EACH ROW EXECUTE FUNCTION sensor_streaming_touch_updated_at();
