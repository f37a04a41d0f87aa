import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadMigrateConfig } from './migrate-command.js';

describe('loadMigrateConfig', () => {
  it('defaults to the local database and maps MIGRATE_SETTING_* to sensor_streaming.* settings', () => {
    const config = loadMigrateConfig({
      MIGRATE_SETTING_MEASUREMENTS_RETENTION: '90 days',
      MIGRATE_SETTING_TIMESCALEDB: 'off',
      MIGRATE_LOCK_TIMEOUT: '30s',
    });
    expect(config).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/sensor_streaming',
      logLevel: 'info',
      createDatabase: true,
      lockTimeoutMs: 30_000,
      connectTimeoutMs: 120_000,
      settings: {
        'sensor_streaming.measurements_retention': '90 days',
        'sensor_streaming.timescaledb': 'off',
      },
    });
  });

  it('lists every bad variable in one ConfigError', () => {
    let error: unknown;
    try {
      loadMigrateConfig({
        DATABASE_URL: 'mysql://db/x',
        LOG_LEVEL: 'loud',
        MIGRATE_CREATE_DATABASE: 'perhaps',
        MIGRATE_SETTING_RETENTION_DAYS: '3',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'DATABASE_URL',
      'LOG_LEVEL',
      'MIGRATE_CREATE_DATABASE',
      'MIGRATE_SETTING_RETENTION_DAYS',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it('requires a database name in DATABASE_URL', () => {
    expect(() => loadMigrateConfig({ DATABASE_URL: 'postgres://127.0.0.1:5432' })).toThrow(
      /must name a database/,
    );
  });

  it('refuses the placeholder credentials of the deployment manifests', () => {
    expect(() =>
      loadMigrateConfig({
        DATABASE_URL: 'postgres://app:CHANGE-ME@timescaledb-rw:5432/sensor_streaming',
        AMQP_PASSWORD: 'CHANGE-ME',
      }),
    ).toThrow(
      /DATABASE_URL: the password is the placeholder CHANGE-ME[\s\S]*AMQP_PASSWORD: is the placeholder/,
    );
    expect(() =>
      loadMigrateConfig({ DATABASE_URL: 'postgres://app:s3cret@db/sensor_streaming', AMQP_PASSWORD: 'x' }),
    ).not.toThrow();
  });
});
