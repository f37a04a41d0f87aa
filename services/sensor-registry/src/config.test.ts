import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has defaults that work against the local services (metrics on 9101, 30 s offline, 10 s reconcile)', () => {
    const c = loadConfig({});
    expect(c.serviceName).toBe('sensor-registry');
    expect(c.metricsPort).toBe(9101);
    expect(c.registry).toEqual({
      queue: 'sensor-registry',
      expiredCommandsQueue: 'sensor-registry.expired-commands',
      offlineAfterMs: 30_000,
      sweepIntervalMs: 5_000,
      reconcileEnabled: true,
      reconcileMinIntervalMs: 10_000,
      reconcileCommandTtlMs: 60_000,
      commandTimeoutGraceMs: 60_000,
      maxBatchMessages: 500,
      maxBatchWaitMs: 50,
      prefetch: 1000,
      livenessFromTraffic: true,
      dbPoolMax: 5,
      retry: { initialDelayMs: 200, maxDelayMs: 5_000 },
    });
  });

  it('reads every registry variable, durations with units', () => {
    const c = loadConfig({
      REGISTRY_QUEUE: 'reg-a',
      SENSOR_OFFLINE_AFTER_MS: '45s',
      SWEEP_INTERVAL_MS: '250',
      RECONCILE_ENABLED: 'false',
      RECONCILE_MIN_INTERVAL_MS: '2m',
      RECONCILE_COMMAND_TTL_MS: '30s',
      COMMAND_TIMEOUT_GRACE_MS: '5s',
      MAX_BATCH_MESSAGES: '100',
      MAX_BATCH_WAIT_MS: '20ms',
      PREFETCH: '300',
      DB_POOL_MAX: '3',
      LIVENESS_FROM_TRAFFIC: 'false',
      METRICS_PORT: '0',
    });
    expect(c.metricsPort).toBe(0);
    expect(c.registry).toMatchObject({
      queue: 'reg-a',
      expiredCommandsQueue: 'reg-a.expired-commands',
      offlineAfterMs: 45_000,
      sweepIntervalMs: 250,
      reconcileEnabled: false,
      reconcileMinIntervalMs: 120_000,
      reconcileCommandTtlMs: 30_000,
      commandTimeoutGraceMs: 5_000,
      maxBatchMessages: 100,
      maxBatchWaitMs: 20,
      prefetch: 300,
      livenessFromTraffic: false,
      dbPoolMax: 3,
    });
  });

  it('lists every bad variable in one ConfigError', () => {
    let err: unknown;
    try {
      loadConfig({
        SENSOR_OFFLINE_AFTER_MS: 'soon',
        RECONCILE_ENABLED: 'maybe',
        MAX_BATCH_MESSAGES: '100',
        PREFETCH: '10',
        REGISTRY_QUEUE: 'q',
        EXPIRED_COMMANDS_QUEUE: 'q',
        AMQP_URL: 'http://x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of [
      'SENSOR_OFFLINE_AFTER_MS',
      'RECONCILE_ENABLED',
      'PREFETCH',
      'EXPIRED_COMMANDS_QUEUE',
      'AMQP_URL',
    ]) {
      expect(problems).toContain(name);
    }
  });
});
