import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface AlarmMetrics {
  received: Counter<'kind'>;
  rejected: Counter<'kind' | 'reason'>;
  samples: Counter<'channel'>;
  alarms: Counter<'transition' | 'severity' | 'rule_type'>;
  active: Gauge<'severity'>;
  notifications: Counter<'channel' | 'status'>;
  late: Counter<'rule_type'>;
  lag: Histogram<'kind'>;
  commands: Counter<'type' | 'status'>;
  modelsPersisted: Counter;
  leader: Gauge;
  outboxPending: Gauge;
  outboxRepublished: Counter;
}

const KNOWN_CHANNELS = new Set(['vibration', 'temperature', 'pressure', 'humidity']);

/** A bounded label value for a channel name chosen by a sensor. */
export function channelLabel(channel: string): string {
  return KNOWN_CHANNELS.has(channel) ? channel : 'other';
}

/** The alarm-service metrics (names from docs/internal-api.md), on the service's registry. */
export function createAlarmMetrics(registry: Registry): AlarmMetrics {
  const registers = [registry];
  return {
    received: new Counter({
      name: 'sensor_streaming_messages_received_total',
      help: 'Messages taken from the alarm-service queue, by kind (data, logs, state).',
      labelNames: ['kind'],
      registers,
    }),
    rejected: new Counter({
      name: 'sensor_streaming_messages_rejected_total',
      help: 'Messages dead-lettered because they could not be decoded or validated.',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    samples: new Counter({
      name: 'sensor_streaming_samples_received_total',
      help: 'Samples evaluated by the rule engine, by channel (unknown channels as "other").',
      labelNames: ['channel'],
      registers,
    }),
    alarms: new Counter({
      name: 'sensor_streaming_alarms_total',
      help: 'Alarm transitions stored and published by this replica.',
      labelNames: ['transition', 'severity', 'rule_type'],
      registers,
    }),
    active: new Gauge({
      name: 'sensor_streaming_alarms_active',
      help: 'Open alarm episodes known to the active replica, by severity.',
      labelNames: ['severity'],
      registers,
    }),
    notifications: new Counter({
      name: 'sensor_streaming_notifications_total',
      help: 'Notification deliveries by channel (webhook, email) and status (sent, retried, failed, suppressed).',
      labelNames: ['channel', 'status'],
      registers,
    }),
    late: new Counter({
      name: 'sensor_streaming_late_events_total',
      help: 'Samples or log entries that arrived after their window closed (not counted in any window).',
      labelNames: ['rule_type'],
      registers,
    }),
    lag: new Histogram({
      name: 'sensor_streaming_e2e_lag_seconds',
      help: 'From the event time of an alarm transition (sample time) to its publish being confirmed.',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    commands: new Counter({
      name: 'sensor_streaming_commands_total',
      help: 'Automatic commands issued by alarm rules, by type and publish status.',
      labelNames: ['type', 'status'],
      registers,
    }),
    modelsPersisted: new Counter({
      name: 'sensor_streaming_alarm_models_persisted_total',
      help: 'Anomaly model states written to alarm_model_state.',
      registers,
    }),
    leader: new Gauge({
      name: 'sensor_streaming_alarm_leader',
      help: '1 when this replica is the active rule evaluator, 0 on standby.',
      registers,
    }),
    outboxPending: new Gauge({
      name: 'sensor_streaming_alarm_outbox_pending',
      help: 'Stored alarm transitions older than OUTBOX_RETRY_MS and not yet published (at the last relay round).',
      registers,
    }),
    outboxRepublished: new Counter({
      name: 'sensor_streaming_alarm_outbox_republished_total',
      help: 'Stored alarm transitions published by the outbox relay (their first publish had failed or never happened).',
      registers,
    }),
  };
}
