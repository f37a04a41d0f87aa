import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SimulatorMetrics {
  samplesPublished: Counter<'channel'>;
  messagesPublished: Counter<'kind'>;
  publishFailures: Counter<'kind'>;
  sensors: Gauge<'state'>;
  commands: Counter<'type' | 'status'>;
  commandsRejected: Counter<'kind' | 'reason'>;
  flushDuration: Histogram;
  ticksSkipped: Counter;
}

/** Metric names from docs/internal-api.md; no serial is ever a label. */
export function createSimulatorMetrics(registry: Registry): SimulatorMetrics {
  const registers = [registry];
  return {
    samplesPublished: new Counter({
      name: 'sensor_streaming_samples_published_total',
      help: 'Samples published in MeasurementBatches (confirmed by the broker), by channel',
      labelNames: ['channel'],
      registers,
    }),
    messagesPublished: new Counter({
      name: 'sensor_streaming_simulator_messages_published_total',
      help: 'Messages published by simulated sensors and confirmed by the broker, by kind (data/logs/state/acks)',
      labelNames: ['kind'],
      registers,
    }),
    publishFailures: new Counter({
      name: 'sensor_streaming_simulator_publish_failures_total',
      help: 'Publishes that failed (not confirmed, buffer full, disconnected); their content is lost',
      labelNames: ['kind'],
      registers,
    }),
    sensors: new Gauge({
      name: 'sensor_streaming_sensors',
      help: 'Simulated sensors of this process by state',
      labelNames: ['state'],
      registers,
    }),
    commands: new Counter({
      name: 'sensor_streaming_commands_total',
      help: 'Commands handled by simulated sensors, by type and ack status (duplicates included)',
      labelNames: ['type', 'status'],
      registers,
    }),
    commandsRejected: new Counter({
      name: 'sensor_streaming_messages_rejected_total',
      help: 'Messages consumed by the simulator (commands) that could not be handled and were dead-lettered',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    flushDuration: new Histogram({
      name: 'sensor_streaming_simulator_flush_duration_seconds',
      help: 'Time from the start of a flush tick (sampling, encoding) until all its publishes are confirmed',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    ticksSkipped: new Counter({
      name: 'sensor_streaming_simulator_flush_ticks_skipped_total',
      help: 'Flush ticks skipped because earlier ticks were still publishing (their samples go out on the next tick)',
      registers,
    }),
  };
}
