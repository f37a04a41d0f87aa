import { Counter, Histogram, type Registry } from 'prom-client';

const KIND = 'data';
/** Distinct channel label values before the rest collapse into `other` (labels stay bounded). */
export const MAX_CHANNEL_LABELS = 32;

export interface MeasurementsIngestMetrics {
  messageReceived(n: number): void;
  messageRejected(reason: string): void;
  samplesReceived(channel: string, n: number): void;
  samplesWritten(channel: string, n: number): void;
  batchWritten(samples: number, seconds: number): void;
  lag(seconds: number): void;
  /** A write went through the duplicate-key fallback; `duplicates` rows were already stored. */
  deduplicated(duplicates: number): void;
}

/** The ingest metrics of docs/internal-api.md, on the service's registry. */
export function createMeasurementsIngestMetrics(registry: Registry): MeasurementsIngestMetrics {
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
  const samplesIn = new Counter({
    name: 'sensor_streaming_samples_received_total',
    help: 'Samples in valid MeasurementBatch messages consumed.',
    labelNames: ['channel'],
    registers,
  });
  const samplesOut = new Counter({
    name: 'sensor_streaming_samples_written_total',
    help: 'Samples committed to the measurements table (a redelivered sample counts again but is stored once).',
    labelNames: ['channel'],
    registers,
  });
  const batchSize = new Histogram({
    name: 'sensor_streaming_batch_size',
    help: 'Rows (samples) per database write.',
    labelNames: ['kind'],
    buckets: [10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000],
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
    help: 'Commit time minus the time of the newest sample of each message.',
    labelNames: ['kind'],
    buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 300],
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

  const channels = new Set<string>();
  const channelLabel = (c: string): string => {
    if (channels.has(c)) return c;
    if (channels.size >= MAX_CHANNEL_LABELS) return 'other';
    channels.add(c);
    return c;
  };

  return {
    messageReceived: (n) => received.inc({ kind: KIND }, n),
    messageRejected: (reason) => rejected.inc({ kind: KIND, reason }),
    samplesReceived: (channel, n) => samplesIn.inc({ channel: channelLabel(channel) }, n),
    samplesWritten: (channel, n) => samplesOut.inc({ channel: channelLabel(channel) }, n),
    batchWritten(samples, seconds) {
      batchSize.observe({ kind: KIND }, samples);
      writeDuration.observe({ kind: KIND }, seconds);
    },
    lag: (seconds) => lag.observe({ kind: KIND }, seconds),
    deduplicated(duplicates) {
      fallbacks.inc({ kind: KIND });
      duplicateRows.inc({ kind: KIND }, duplicates);
    },
  };
}
