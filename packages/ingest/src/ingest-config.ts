// Settings of the consume -> write loop, the same for both ingesters.
import {
  type EnvReader,
  type RegistrationConfig,
  readRegistrationConfig,
  readSensorStateMax,
} from '@sensor-streaming/runtime';
import { MAX_SHARDS } from './shard-topology.js';

/** Settings of the consume -> write loop. */
export interface IngestConfig {
  /** Quorum queue bound to the routing pattern (INGEST_QUEUE); with shards, the prefix of the shard names. */
  queue: string;
  /**
   * Queues the routing pattern is spread over (INGEST_SHARDS, 1..64): 1 is the single queue `<queue>`; N > 1
   * a consistent-hash exchange `<queue>.shards` on the routing key and queues `<queue>.shard-0..N-1`.
   * Every replica consumes every shard (see shard-topology.ts).
   */
  shards: number;
  /** Messages per database write at most (MAX_BATCH_MESSAGES). */
  maxBatchMessages: number;
  /** A batch is written at most this long after its first message arrived (MAX_BATCH_WAIT_MS). */
  maxBatchWaitMs: number;
  /** Unacked messages per consumer (PREFETCH, default 2 * MAX_BATCH_MESSAGES). */
  prefetch: number;
  /** Consumers (and so batches being written at once) in this process (WRITE_CONCURRENCY). */
  writeConcurrency: number;
  /** PostgreSQL connections (DB_POOL_MAX, default WRITE_CONCURRENCY + 2). */
  dbPoolMax: number;
  /** Backoff while the database is unavailable (RETRY_INITIAL_DELAY_MS, RETRY_MAX_DELAY_MS). */
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** On shutdown, how long to wait for a batch held by an unavailable database before requeueing it (SHUTDOWN_DRAIN_MS). */
  drainTimeoutMs: number;
  /** Largest accepted batch in one message (MAX_MESSAGE_ROWS). */
  maxMessageRows: number;
  /** Largest accepted message body in bytes, checked before decoding (MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /**
   * How long a batch is held and retried while the database fails before it is released to the queue
   * and consuming pauses (RELEASE_AFTER_MS). Keep it far below the broker's consumer_timeout.
   */
  releaseAfterMs: number;
  /** REGISTRATION and its cache (see docs/identity.md, "Registration modes"). */
  registration: RegistrationConfig;
  /** Serial -> sensor id entries kept at most (SENSOR_STATE_MAX). */
  sensorStateMax: number;
}

export interface IngestDefaults {
  queue: string;
  /** Default 1. */
  shards?: number;
  maxBatchMessages: number;
  maxBatchWaitMs: number;
  writeConcurrency: number;
}

/** Reads the ingest variables into `r` (problems are collected, not thrown). */
export function readIngestConfig(r: EnvReader, d: IngestDefaults): IngestConfig {
  const queue = r.string('INGEST_QUEUE', d.queue, { pattern: /^[A-Za-z0-9_.:-]{1,200}$/ });
  const shards = r.int('INGEST_SHARDS', d.shards ?? 1, { min: 1, max: MAX_SHARDS });
  const maxBatchMessages = r.int('MAX_BATCH_MESSAGES', d.maxBatchMessages, { min: 1, max: 10_000 });
  const maxBatchWaitMs = r.duration('MAX_BATCH_WAIT_MS', d.maxBatchWaitMs, { min: 0, max: 60_000 });
  const prefetch = r.int('PREFETCH', Math.min(65_535, 2 * maxBatchMessages), { min: 1, max: 65_535 });
  if (prefetch < maxBatchMessages) {
    r.problem(
      'PREFETCH',
      `must be >= MAX_BATCH_MESSAGES (${maxBatchMessages}) or batches can never fill, got ${prefetch}`,
    );
  }
  const writeConcurrency = r.int('WRITE_CONCURRENCY', d.writeConcurrency, { min: 1, max: 32 });
  const dbPoolMax = r.int('DB_POOL_MAX', writeConcurrency + 2, { min: 1, max: 200 });
  if (dbPoolMax < writeConcurrency) {
    r.problem('DB_POOL_MAX', `must be >= WRITE_CONCURRENCY (${writeConcurrency}), got ${dbPoolMax}`);
  }
  const initialDelayMs = r.duration('RETRY_INITIAL_DELAY_MS', 200, { min: 1, max: 60_000 });
  const maxDelayMs = r.duration('RETRY_MAX_DELAY_MS', 5_000, { min: 1, max: 300_000 });
  if (maxDelayMs < initialDelayMs) {
    r.problem(
      'RETRY_MAX_DELAY_MS',
      `must be >= RETRY_INITIAL_DELAY_MS (${initialDelayMs}), got ${maxDelayMs}`,
    );
  }
  return {
    queue,
    shards,
    maxBatchMessages,
    maxBatchWaitMs,
    prefetch,
    writeConcurrency,
    dbPoolMax,
    retry: { initialDelayMs, maxDelayMs },
    drainTimeoutMs: r.duration('SHUTDOWN_DRAIN_MS', 5_000, { min: 0, max: 600_000 }),
    maxMessageRows: r.int('MAX_MESSAGE_ROWS', 100_000, { min: 1, max: 1_000_000 }),
    // 100,000 packed doubles plus envelope: ~800 kB; JSON is bigger per value
    maxMessageBytes: r.int('MAX_MESSAGE_BYTES', 4 * 1024 * 1024, { min: 1024, max: 128 * 1024 * 1024 }),
    releaseAfterMs: r.duration('RELEASE_AFTER_MS', 5_000, { min: 0, max: 600_000 }),
    registration: readRegistrationConfig(r),
    sensorStateMax: readSensorStateMax(r),
  };
}
