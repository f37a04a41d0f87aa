import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type MessageKind = 'state' | 'acks' | 'commands' | 'expired_commands' | 'data' | 'logs' | 'unknown';
export type CommandTypeLabel = 'sleep' | 'awake' | 'changesamplefrequency';
export type CommandStatusLabel = 'ISSUED' | 'APPLIED' | 'REJECTED' | 'EXPIRED' | 'TIMED_OUT';

export interface RegistryMetrics {
  received(kind: MessageKind, n?: number): void;
  /** `reason` is a bounded code: invalid, routing_key_mismatch, unexpected_routing_key, db_rejected. */
  rejected(kind: MessageKind, reason: string): void;
  fleet(counts: { awake: number; asleep: number; offline: number; unknown: number }): void;
  command(type: CommandTypeLabel, status: CommandStatusLabel, n?: number): void;
  rtt(type: CommandTypeLabel, seconds: number): void;
  reconcile(type: CommandTypeLabel, outcome: 'published' | 'failed'): void;
  batch(seconds: number): void;
}

/** The registry's metrics (docs/internal-api.md), on the service's registry. No serial is ever a label. */
export function createRegistryMetrics(registry: Registry): RegistryMetrics {
  const registers = [registry];
  const received = new Counter({
    name: 'sensor_streaming_messages_received_total',
    help: 'Messages consumed from RabbitMQ (valid or not), by kind.',
    labelNames: ['kind'],
    registers,
  });
  const rejected = new Counter({
    name: 'sensor_streaming_messages_rejected_total',
    help: 'Messages dead-lettered instead of processed, by kind and reason.',
    labelNames: ['kind', 'reason'],
    registers,
  });
  const sensors = new Gauge({
    name: 'sensor_streaming_sensors',
    help: 'Registered sensors by state (awake/asleep while online, offline, unknown = never reported state).',
    labelNames: ['state'],
    registers,
  });
  const commands = new Counter({
    name: 'sensor_streaming_commands_total',
    help: 'Commands seen by the registry (ISSUED) and their recorded outcomes, by type and status.',
    labelNames: ['type', 'status'],
    registers,
  });
  const rtt = new Histogram({
    name: 'sensor_streaming_command_rtt_seconds',
    help: 'Command round trip as recorded: ack time minus issued time.',
    labelNames: ['type'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const reconciles = new Counter({
    name: 'sensor_streaming_registry_reconcile_commands_total',
    help: 'Commands the registry sent to bring a sensor back to its desired state, by type and outcome.',
    labelNames: ['type', 'outcome'],
    registers,
  });
  const batchDuration = new Histogram({
    name: 'sensor_streaming_write_duration_seconds',
    help: 'Time to process one batch of registry messages (database writes included).',
    labelNames: ['kind'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  for (const state of ['awake', 'asleep', 'offline', 'unknown']) sensors.set({ state }, 0);

  return {
    received: (kind, n = 1) => received.inc({ kind }, n),
    rejected: (kind, reason) => rejected.inc({ kind, reason }),
    fleet(counts) {
      for (const [state, n] of Object.entries(counts)) sensors.set({ state }, n);
    },
    command: (type, status, n = 1) => commands.inc({ type, status }, n),
    rtt: (type, seconds) => rtt.observe({ type }, seconds),
    reconcile: (type, outcome) => reconciles.inc({ type, outcome }),
    batch: (seconds) => batchDuration.observe({ kind: 'registry' }, seconds),
  };
}
