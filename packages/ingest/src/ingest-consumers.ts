import {
  backoffDelay,
  type BatchOutcome,
  type Bus,
  type Consumer,
  type Delivery,
  isReleaseError,
  type QueueSpec,
} from '@sensor-streaming/bus';
import type { Logger } from '@sensor-streaming/runtime';
import type { BatchPipeline } from './batch-pipeline.js';
import type { IngestConfig } from './ingest-config.js';

export interface IngestConsumersOptions {
  bus: Bus;
  /** The queues to consume: one, or the shards (see shardQueues). */
  queues: QueueSpec[];
  /**
   * Queues left over from another shard count (see retiredShardQueues): those that exist are unbound and
   * consumed too, so whatever they hold is written before they go quiet.
   */
  retired?: QueueSpec[];
  pipeline: BatchPipeline;
  config: IngestConfig;
  logger: Logger;
  /** What is consumed, for the log line (e.g. "sensor data"). */
  what: string;
  /** Counts each batch of deliveries as it arrives. */
  onReceived?(count: number): void;
  /**
   * True when the database answers (e.g. `SELECT 1`). Consuming starts only once it does, and after an
   * outage resumes only once it does again. Default: always true (consume at once).
   */
  probe?(): Promise<boolean>;
  /** Called when consuming pauses (false: database unavailable) and resumes (true). */
  onConsumingChange?(consuming: boolean): void;
}

export interface IngestConsumers {
  /**
   * Starts batch consumers on every queue (ceil(writeConcurrency / queues) each, one on each retired queue
   * that exists), paused until the database answers. At most `writeConcurrency` batches are written at once.
   */
  start(): Promise<void>;
  /** True while the consumers take deliveries (false before the database answered and during an outage). */
  isConsuming(): boolean;
  /**
   * Stops taking work, writes and acks what is in flight. A batch held for an
   * unavailable database is released to the queue after drainTimeoutMs.
   */
  stop(): Promise<void>;
}

/**
 * The consume side both ingesters share: competing batch consumers on one queue or on every shard, feeding
 * one pipeline. Every replica consumes every shard: replicas can come and go without any assignment to
 * hand over (a replica's unacked deliveries go back to their shard when it stops or dies, and the sink is
 * idempotent), and a shard never waits for a replica to be assigned. Per-sensor order is not kept across
 * a shard's competing consumers; the ingesters do not need it (rows are keyed by sample time).
 *
 * While the database is unavailable nothing is held: the pipeline releases its batch (a fresh copy goes back
 * to the queue, the delivery is acked), every consumer is paused (basic.cancel, prefetched messages released
 * the same way) and a probe polls the database with backoff; consuming resumes when it answers. So an outage
 * of any length, with any number of restarts or consumer timeouts, never adds to a message's delivery count.
 */
export function createIngestConsumers(opts: IngestConsumersOptions): IngestConsumers {
  const { bus, queues, pipeline, config: cfg, logger } = opts;
  if (queues.length === 0) throw new RangeError('ingest consumers: no queue to consume');
  const writeSlots = createSlots(cfg.writeConcurrency);
  const probe = opts.probe ?? (async () => true);
  const aborter = new AbortController();
  let consumers: Consumer[] = [];
  let consuming = false;
  let probing: Promise<void> | undefined;

  function setConsuming(c: boolean): void {
    if (c === consuming) return;
    consuming = c;
    opts.onConsumingChange?.(c);
  }

  async function safeProbe(): Promise<boolean> {
    try {
      return await probe();
    } catch (err) {
      logger.debug({ err }, 'database probe failed');
      return false;
    }
  }

  async function sleep(ms: number): Promise<void> {
    if (aborter.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        aborter.signal.removeEventListener('abort', done);
        resolve();
      }
      aborter.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Pause every consumer, then probe with backoff until the database answers, then resume. Runs once at a time. */
  function unavailable(reason: string): void {
    if (probing || aborter.signal.aborted) return;
    setConsuming(false);
    logger.warn({ reason }, `database unavailable; not consuming ${opts.what} until it answers`);
    probing = (async () => {
      await Promise.all(consumers.map((c) => c.pause()));
      for (let attempt = 1; !aborter.signal.aborted; attempt++) {
        if (await safeProbe()) break;
        await sleep(backoffDelay(attempt, cfg.retry));
      }
      if (aborter.signal.aborted) return;
      pipeline.recovered();
      await Promise.all(consumers.map((c) => c.resume()));
      setConsuming(true);
      logger.info({}, `database answers again; consuming ${opts.what}`);
    })()
      .catch((err: unknown) => logger.error({ err }, 'bug: pause/resume of the ingest consumers failed'))
      .finally(() => {
        probing = undefined;
      });
  }

  const handler = async (ds: Delivery[]): Promise<BatchOutcome> => {
    opts.onReceived?.(ds.length);
    await writeSlots.acquire();
    try {
      return await pipeline.handle(ds);
    } catch (err) {
      if (isReleaseError(err)) unavailable(err instanceof Error ? err.message : String(err));
      throw err; // the bus releases (or requeues) the batch
    } finally {
      writeSlots.release();
    }
  };

  /** Best effort: when the broker cannot say, nothing is drained now (the queues wait for the next start). */
  async function existingOf(candidates: QueueSpec[]): Promise<QueueSpec[]> {
    try {
      const found = await bus.existingQueues(candidates.map((q) => q.name));
      return candidates.filter((q) => found.has(q.name));
    } catch (err) {
      logger.warn(
        { err },
        'cannot look for queues left over from another shard count; not draining them now',
      );
      return [];
    }
  }

  async function consumeOn(queue: QueueSpec, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      consumers.push(
        await bus.consumeBatch({
          queue,
          prefetch: cfg.prefetch,
          maxBatch: cfg.maxBatchMessages,
          maxWaitMs: cfg.maxBatchWaitMs,
          startPaused: true,
          handler,
        }),
      );
    }
  }

  return {
    async start() {
      const perQueue = Math.ceil(cfg.writeConcurrency / queues.length);
      for (const q of queues) await consumeOn(q, perQueue);
      const candidates = opts.retired ?? [];
      const draining = candidates.length > 0 ? await existingOf(candidates) : [];
      for (const q of draining) await consumeOn(q, 1);
      if (draining.length > 0) {
        logger.warn(
          { retired: draining.map((q) => q.name) },
          `queues left over from another shard count: unbound, consuming ${opts.what} from them until empty`,
        );
      }
      logger.info(
        {
          queue: cfg.queue,
          shards: queues.length,
          consumers: consumers.length,
          writeConcurrency: cfg.writeConcurrency,
          maxBatchMessages: cfg.maxBatchMessages,
          maxBatchWaitMs: cfg.maxBatchWaitMs,
          prefetch: cfg.prefetch,
          releaseAfterMs: cfg.releaseAfterMs,
        },
        `ready to consume ${opts.what}`,
      );
      if (await safeProbe()) {
        await Promise.all(consumers.map((c) => c.resume()));
        setConsuming(true);
        logger.info({}, `consuming ${opts.what}`);
      } else {
        unavailable('database probe failed at start');
      }
    },
    isConsuming: () => consuming,
    async stop() {
      aborter.abort();
      if (!pipeline.isHealthy()) pipeline.stop();
      const giveUp = setTimeout(() => pipeline.stop(), cfg.drainTimeoutMs);
      try {
        await probing;
        await Promise.all(consumers.map((c) => c.stop()));
      } finally {
        clearTimeout(giveUp);
        pipeline.stop();
        consumers = [];
        setConsuming(false);
      }
    },
  };
}

/** A counting semaphore: at most `n` holders at once, waiters served in order. */
function createSlots(n: number): { acquire(): Promise<void>; release(): void } {
  let free = n;
  const waiting: Array<() => void> = [];
  return {
    async acquire() {
      if (free > 0) {
        free--;
        return;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}
