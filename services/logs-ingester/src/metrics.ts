import { Counter, Histogram, type Registry } from 'prom-client';

const KIND = 'logs';

export interface LogsIngestMetrics {
  messageReceived(n: number): void;
  messageRejected(reason: string): void;
  entriesWritten(level: string, n: number): void;
  batchWritten(entries: number, seconds: number): void;
  lag(seconds: number): void;
  /** A write went through the duplicate-key fallback; `duplicates` rows were already stored. */
  deduplicated(duplicates: number): void;
}

/** The ingest metrics of docs/internal-api.md, on the service's registry. */
export function createLogsIngestMetrics(registry: Registry): LogsIngestMetrics {
  const registers = [registry];
  const received = new Counter({
    name: 'sensor_streaming_messages_received_total',
    help: 'Messages consumed from RabbitMQ, valid or not.',
    labelNames: ['kind'],
    registers,
  });
  const rejected = new Counter({
    name: 'sensor_streaming_messages_rejected_total',
    help: 'Messages dead-lettered instead of stored, by reason (invalid, routing_key_mismatch, db_rejected).',
    labelNames: ['kind', 'reason'],
    registers,
  });
  const written = new Counter({
    name: 'sensor_streaming_log_entries_written_total',
    help: 'Log entries committed to sensor_logs (a redelivered entry counts again but is stored once).',
    labelNames: ['level'],
    registers,
  });
  const batchSize = new Histogram({
    name: 'sensor_streaming_batch_size',
    help: 'Rows (log entries) per database write.',
    labelNames: ['kind'],
    buckets: [1, 10, 100, 1_000, 5_000, 10_000, 50_000],
    registers,
  });
  const writeDuration = new Histogram({
    name: 'sensor_streaming_write_duration_seconds',
    help: 'Time to write one batch (sensor ids, COPY, commit).',
    labelNames: ['kind'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const lag = new Histogram({
    name: 'sensor_streaming_e2e_lag_seconds',
    help: 'Commit time minus the time of the newest entry of each message.',
    labelNames: ['kind'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const fallbacks = new Counter({
    name: 'sensor_streaming_dedup_fallbacks_total',
    help: 'Batch writes whose COPY hit already stored rows and went through staging + ON CONFLICT DO NOTHING.',
    labelNames: ['kind'],
    registers,
  });
  const duplicateRows = new Counter({
    name: 'sensor_streaming_duplicate_rows_total',
    help: 'Rows skipped because they were already stored (redeliveries), found by the duplicate-key fallback.',
    labelNames: ['kind'],
    registers,
  });
  return {
    deduplicated(duplicates) {
      fallbacks.inc({ kind: KIND });
      duplicateRows.inc({ kind: KIND }, duplicates);
    },
    messageReceived: (n) => received.inc({ kind: KIND }, n),
    messageRejected: (reason) => rejected.inc({ kind: KIND, reason }),
    entriesWritten: (level, n) => written.inc({ level }, n),
    batchWritten(entries, seconds) {
      batchSize.observe({ kind: KIND }, entries);
      writeDuration.observe({ kind: KIND }, seconds);
    },
    lag: (seconds) => lag.observe({ kind: KIND }, seconds),
  };
}
