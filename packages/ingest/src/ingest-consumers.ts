import type { BatchOutcome, Bus, Consumer, Delivery, QueueSpec } from '@sensor-streaming/bus';
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
}

export interface IngestConsumers {
  /** Starts `writeConcurrency` batch consumers on the queue. */
  start(): Promise<void>;
  /**
   * Stops taking work, writes and acks what is in flight. A batch held for an
   * unavailable database is given back to the broker after drainTimeoutMs.
   */
  stop(): Promise<void>;
}

/** The consume side both ingesters share: N competing batch consumers feeding one pipeline. */
export function createIngestConsumers(opts: IngestConsumersOptions): IngestConsumers {
  const { bus, queue, pipeline, config: cfg, logger } = opts;
  const handler = (ds: Delivery[]): Promise<BatchOutcome> => {
    opts.onReceived?.(ds.length);
    return pipeline.handle(ds);
  };
  let consumers: Consumer[] = [];
  return {
    async start() {
      for (let i = 0; i < cfg.writeConcurrency; i++) {
        consumers.push(
          await bus.consumeBatch({
            queue,
            prefetch: cfg.prefetch,
            maxBatch: cfg.maxBatchMessages,
            maxWaitMs: cfg.maxBatchWaitMs,
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
        },
        `consuming ${opts.what}`,
      );
    },
    async stop() {
      if (!pipeline.isHealthy()) pipeline.stop();
      const giveUp = setTimeout(() => pipeline.stop(), cfg.drainTimeoutMs);
      try {
        await Promise.all(consumers.map((c) => c.stop()));
      } finally {
        clearTimeout(giveUp);
        pipeline.stop();
        consumers = [];
      }
    },
  };
}
