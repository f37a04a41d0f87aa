import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has defaults that work against the local services', () => {
    const c = loadConfig({});
    expect(c.serviceName).toBe('measurements-ingester');
    expect(c.metricsPort).toBe(9102);
    expect(c.ingest).toEqual({
      queue: 'measurements-ingester',
      shards: 1,
      maxBatchMessages: 20,
      maxBatchWaitMs: 100,
      prefetch: 40,
      writeConcurrency: 2,
      dbPoolMax: 4,
      retry: { initialDelayMs: 200, maxDelayMs: 5000 },
      drainTimeoutMs: 5000,
      maxMessageRows: 100_000,
      maxMessageBytes: 4 * 1024 * 1024,
      releaseAfterMs: 5_000,
      registration: { mode: 'open', positiveTtlMs: 30_000, negativeTtlMs: 2_000, maxEntries: 200_000 },
      sensorStateMax: 100_000,
    });
    expect(c.storageMaintenanceMs).toBe(60_000);
  });

  it('reads the storage maintenance interval (0 turns the maintainer off)', () => {
    expect(loadConfig({ STORAGE_MAINTENANCE_INTERVAL: '0' }).storageMaintenanceMs).toBe(0);
    expect(loadConfig({ STORAGE_MAINTENANCE_INTERVAL: '30s' }).storageMaintenanceMs).toBe(30_000);
    expect(() => loadConfig({ STORAGE_MAINTENANCE_INTERVAL: 'often' })).toThrow(
      /STORAGE_MAINTENANCE_INTERVAL/,
    );
  });

  it('reads every ingest variable', () => {
    const c = loadConfig({
      INGEST_QUEUE: 'mi-test',
      INGEST_SHARDS: '4',
      MAX_BATCH_MESSAGES: '20',
      MAX_BATCH_WAIT_MS: '2s',
      PREFETCH: '500',
      WRITE_CONCURRENCY: '3',
      DB_POOL_MAX: '8',
      RETRY_INITIAL_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '1s',
      SHUTDOWN_DRAIN_MS: '3000',
      MAX_MESSAGE_ROWS: '5000',
      MAX_MESSAGE_BYTES: '2000000',
      RELEASE_AFTER_MS: '2000',
      DATABASE_URL: 'postgres://u@db:5432/x',
    });
    expect(c.databaseUrl).toBe('postgres://u@db:5432/x');
    expect(c.ingest).toEqual({
      queue: 'mi-test',
      shards: 4,
      maxBatchMessages: 20,
      maxBatchWaitMs: 2000,
      prefetch: 500,
      writeConcurrency: 3,
      dbPoolMax: 8,
      retry: { initialDelayMs: 50, maxDelayMs: 1000 },
      drainTimeoutMs: 3000,
      maxMessageRows: 5000,
      maxMessageBytes: 2_000_000,
      releaseAfterMs: 2000,
      registration: { mode: 'open', positiveTtlMs: 30_000, negativeTtlMs: 2_000, maxEntries: 200_000 },
      sensorStateMax: 100_000,
    });
  });

  it('derives the prefetch from the batch size', () => {
    expect(loadConfig({ MAX_BATCH_MESSAGES: '300' }).ingest.prefetch).toBe(600);
  });

  it('lists every bad variable in one error', () => {
    let err: unknown;
    try {
      loadConfig({
        MAX_BATCH_MESSAGES: '0',
        INGEST_SHARDS: '65',
        MAX_BATCH_WAIT_MS: 'soon',
        WRITE_CONCURRENCY: '4',
        DB_POOL_MAX: '2',
        PREFETCH: '10',
        RETRY_INITIAL_DELAY_MS: '500',
        RETRY_MAX_DELAY_MS: '100',
        DATABASE_URL: 'mysql://x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of [
      'MAX_BATCH_MESSAGES',
      'INGEST_SHARDS',
      'MAX_BATCH_WAIT_MS',
      'DB_POOL_MAX',
      'RETRY_MAX_DELAY_MS',
      'DATABASE_URL',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it('rejects a prefetch below the batch size', () => {
    expect(() => loadConfig({ MAX_BATCH_MESSAGES: '100', PREFETCH: '50' })).toThrow(
      /PREFETCH: must be >= MAX_BATCH_MESSAGES/,
    );
  });
});

describe('loadConfig: registration', () => {
  it('reads REGISTRATION=closed and refuses a mode it does not know, naming the variable', () => {
    expect(loadConfig({ REGISTRATION: 'closed', SENSOR_STATE_MAX: '500' }).ingest).toMatchObject({
      registration: { mode: 'closed' },
      sensorStateMax: 500,
    });
    expect(() => loadConfig({ REGISTRATION: 'shut' })).toThrow(/REGISTRATION/);
  });
});
