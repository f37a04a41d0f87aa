import { describe, expect, it } from 'vitest';
import { loadCommonConfig, readCommonConfig } from './common-config.js';
import { ConfigError } from './config-error.js';
import { readEnv } from './env-reader.js';

describe('loadCommonConfig', () => {
  it('defaults to the local services', () => {
    expect(loadCommonConfig({}, 'measurements-ingester')).toEqual({
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/sensor_streaming',
      mqttUrl: 'mqtt://127.0.0.1:1884',
      metricsPort: 9102,
      metricsHost: '0.0.0.0',
      logLevel: 'info',
      serviceName: 'measurements-ingester',
    });
  });

  it('uses the metrics port passed in, and 0 (ephemeral) for an unknown service', () => {
    expect(loadCommonConfig({}, 'x', { metricsPort: 9999 }).metricsPort).toBe(9999);
    expect(loadCommonConfig({}, 'something-else').metricsPort).toBe(0);
    expect(loadCommonConfig({ METRICS_PORT: '0' }, 'alarm-service').metricsPort).toBe(0);
  });

  it('reads every variable from the environment', () => {
    const cfg = loadCommonConfig(
      {
        AMQP_URL: 'amqps://u:p@broker:5671/prod',
        DATABASE_URL: 'postgresql://db/x',
        MQTT_URL: 'mqtts://broker:8883',
        METRICS_PORT: '9200',
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
      },
      'logs-ingester',
    );
    expect(cfg).toMatchObject({
      amqpUrl: 'amqps://u:p@broker:5671/prod',
      databaseUrl: 'postgresql://db/x',
      mqttUrl: 'mqtts://broker:8883',
      metricsPort: 9200,
      metricsHost: '127.0.0.1',
      logLevel: 'debug',
    });
  });

  it('reports every bad variable at once', () => {
    let error: unknown;
    try {
      loadCommonConfig({
        AMQP_URL: 'http://x',
        DATABASE_URL: 'mysql://y',
        MQTT_URL: '::',
        METRICS_PORT: '65536',
        LOG_LEVEL: 'chatty',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(['AMQP_URL', 'DATABASE_URL', 'MQTT_URL', 'METRICS_PORT', 'LOG_LEVEL']);
    expect((error as ConfigError).message).toContain('5 problems');
  });

  it('lets a service collect its own problems together with the common ones', () => {
    const r = readEnv({ METRICS_PORT: '-1', BATCH_SIZE: '0' });
    readCommonConfig(r, 'measurements-ingester');
    r.int('BATCH_SIZE', 500, { min: 1 });
    expect(() => r.done()).toThrow(/METRICS_PORT: must be >= 0[\s\S]*BATCH_SIZE: must be >= 1/);
  });
});
