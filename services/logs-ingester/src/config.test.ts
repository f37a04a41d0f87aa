import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has defaults suited to log traffic that work against the local services', () => {
    const c = loadConfig({});
    expect(c.serviceName).toBe('logs-ingester');
    expect(c.metricsPort).toBe(9103);
    expect(c.ingest).toEqual({
      queue: 'logs-ingester',
      shards: 1,
      maxBatchMessages: 100,
      maxBatchWaitMs: 200,
      prefetch: 200,
      writeConcurrency: 1,
      dbPoolMax: 3,
      retry: { initialDelayMs: 200, maxDelayMs: 5000 },
      drainTimeoutMs: 5000,
      maxMessageRows: 100_000,
      maxMessageBytes: 4 * 1024 * 1024,
      releaseAfterMs: 5_000,
      registration: { mode: 'open', positiveTtlMs: 30_000, negativeTtlMs: 2_000, maxEntries: 200_000 },
      sensorStateMax: 100_000,
    });
  });

  it('reads the ingest variables', () => {
    const c = loadConfig({ MAX_BATCH_MESSAGES: '10', MAX_BATCH_WAIT_MS: '1s', INGEST_QUEUE: 'logs-x' });
    expect(c.ingest).toMatchObject({
      queue: 'logs-x',
      maxBatchMessages: 10,
      maxBatchWaitMs: 1000,
      prefetch: 20,
    });
  });

  it('lists every bad variable in one error', () => {
    let err: unknown;
    try {
      loadConfig({
        MAX_BATCH_MESSAGES: 'many',
        WRITE_CONCURRENCY: '0',
        METRICS_PORT: '70000',
        INGEST_SHARDS: '0',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['MAX_BATCH_MESSAGES', 'WRITE_CONCURRENCY', 'METRICS_PORT', 'INGEST_SHARDS'])
      expect(problems).toContain(name);
  });
});
