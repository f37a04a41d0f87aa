import type { BatchConsumeSpec, BatchOutcome, Bus, Consumer, Delivery } from '@sensor-streaming/bus';
import { bindingPatterns } from '@sensor-streaming/protocol';
import { createLogger, readEnv } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import type { BatchPipeline } from './batch-pipeline.js';
import { readIngestConfig } from './ingest-config.js';
import { createIngestConsumers } from './ingest-consumers.js';
import { retiredShardQueues, shardQueues } from './shard-topology.js';

const logger = createLogger({ service: 'test', level: 'silent' });

/** A bus that records the consumers asked of it; `existing` answers existingQueues. */
function fakeBus(existing: string[]) {
  const consumers: Array<{ queue: string; handler: (ds: Delivery[]) => Promise<BatchOutcome> }> = [];
  const bus = {
    async consumeBatch(spec: BatchConsumeSpec): Promise<Consumer> {
      consumers.push({ queue: spec.queue.name, handler: spec.handler });
      return { stop: async () => {}, pause: async () => {}, resume: async () => {}, isPaused: () => false };
    },
    async existingQueues(names: readonly string[]) {
      return new Set(names.filter((n) => existing.includes(n)));
    },
  } as unknown as Bus;
  return { bus, consumers };
}

function config(writeConcurrency: number, shards: number) {
  const r = readEnv({ WRITE_CONCURRENCY: String(writeConcurrency), INGEST_SHARDS: String(shards) });
  const c = readIngestConfig(r, {
    queue: 'mi',
    maxBatchMessages: 10,
    maxBatchWaitMs: 10,
    writeConcurrency: 1,
  });
  r.done();
  return c;
}

describe('ingest consumers over shards', () => {
  it('consumes every shard, ceil(WRITE_CONCURRENCY / shards) consumers each, and each retired queue that exists once', async () => {
    const { bus, consumers } = fakeBus(['mi', 'mi.shard-5']);
    const pipeline = {
      handle: async () => ({ rejected: [] }),
      isHealthy: () => true,
      recovered() {},
      stop() {},
    };
    const c = createIngestConsumers({
      bus,
      queues: shardQueues('mi', bindingPatterns.data, 3),
      retired: retiredShardQueues('mi', bindingPatterns.data, 3),
      pipeline,
      config: config(4, 3),
      logger,
      what: 'test data',
    });
    await c.start();
    expect(consumers.map((x) => x.queue).sort()).toEqual(
      [
        'mi',
        'mi.shard-0',
        'mi.shard-0',
        'mi.shard-1',
        'mi.shard-1',
        'mi.shard-2',
        'mi.shard-2',
        'mi.shard-5',
      ].sort(),
    );
    await c.stop();
  });

  it('writes at most WRITE_CONCURRENCY batches at once, however many consumers deliver', async () => {
    const { bus, consumers } = fakeBus([]);
    let running = 0;
    let most = 0;
    const releases: Array<() => void> = [];
    const pipeline: BatchPipeline = {
      async handle() {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => releases.push(r));
        running--;
        return { rejected: [] };
      },
      isHealthy: () => true,
      recovered() {},
      stop() {},
    };
    const c = createIngestConsumers({
      bus,
      queues: shardQueues('mi', bindingPatterns.data, 4),
      pipeline,
      config: config(2, 4),
      logger,
      what: 'test data',
    });
    await c.start();
    expect(consumers).toHaveLength(4); // one per shard
    const batches = consumers.map((x) => x.handler([]));
    await new Promise((r) => setTimeout(r, 10));
    expect(running).toBe(2);
    while (releases.length > 0 || running > 0) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(batches);
    expect(most).toBe(2);
    await c.stop();
  });
});
