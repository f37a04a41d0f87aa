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
  queue: QueueSpec;
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
  /** Starts `writeConcurrency` batch consumers on the queue (paused until the database answers). */
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
 * The consume side both ingesters share: N competing batch consumers feeding one pipeline.
 *
 * While the database is unavailable nothing is held: the pipeline releases its batch (a fresh copy goes back
 * to the queue, the delivery is acked), every consumer is paused (basic.cancel, prefetched messages released
 * the same way) and a probe polls the database with backoff; consuming resumes when it answers. So an outage
 * of any length, with any number of restarts or consumer timeouts, never adds to a message's delivery count.
 */
export function createIngestConsumers(opts: IngestConsumersOptions): IngestConsumers {
  const { bus, queue, pipeline, config: cfg, logger } = opts;
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
    try {
      return await pipeline.handle(ds);
    } catch (err) {
      if (isReleaseError(err)) unavailable(err instanceof Error ? err.message : String(err));
      throw err; // the bus releases (or requeues) the batch
    }
  };

  return {
    async start() {
      for (let i = 0; i < cfg.writeConcurrency; i++) {
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
      logger.info(
        {
          queue: cfg.queue,
          consumers: cfg.writeConcurrency,
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
