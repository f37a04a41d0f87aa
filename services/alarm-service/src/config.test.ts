import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { defaultRulesFile, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has defaults that work against local services', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      metricsPort: 9104,
      queueName: 'alarm-service',
      rulesFile: defaultRulesFile(),
      modelPersistIntervalMs: 30_000,
      consume: { maxBatch: 5000, maxWaitMs: 20, prefetch: 12000 },
      notify: { maxAttempts: 6, pollMs: 1000 },
      outboxRetryMs: 5000,
    });
    expect(c.rulesFile).toMatch(/alarm-service\/rules\/default\.yaml$/);
    expect(c.webhook).toBeUndefined();
    expect(c.smtp).toBeUndefined();
  });

  it('reads ALARM_RPC_GRANTS (default: op.operator and guest) and names a bad one', () => {
    expect(loadConfig({}).rpcGrants.allows('guest', 'alarms.ack')).toBe(true);
    const prod = loadConfig({ ALARM_RPC_GRANTS: 'alarms.ack=op.operator' }).rpcGrants;
    expect(prod.allows('guest', 'alarms.ack')).toBe(false);
    expect(prod.allows('op.operator', 'alarms.ack')).toBe(true);
    expect(() => loadConfig({ ALARM_RPC_GRANTS: 'alarms.ack=op.operator;alarms.delete=x' })).toThrow(
      /ALARM_RPC_GRANTS.*unknown permission "alarms.delete"/,
    );
  });

  it('reads notifications and intervals', () => {
    const c = loadConfig({
      WEBHOOK_URL: 'https://hooks.example/alarms',
      WEBHOOK_SECRET: 'a-long-enough-secret',
      SMTP_URL: 'smtps://bot:secret@mail.example:465',
      SMTP_TO: 'ops@example.com, oncall@example.com',
      RULES_FILE: '/etc/alarms/rules.json',
      MODEL_PERSIST_INTERVAL_MS: '10s',
      METRICS_PORT: '0',
    });
    expect(c.webhook).toEqual({
      url: 'https://hooks.example/alarms',
      timeoutMs: 5000,
      secret: 'a-long-enough-secret',
    });
    expect(c.smtp).toEqual({
      url: 'smtps://bot:secret@mail.example:465',
      from: 'alarm-service@localhost',
      to: ['ops@example.com', 'oncall@example.com'],
      requireTls: true,
      timeoutMs: 10_000,
    });
    expect(c.rulesFile).toBe('/etc/alarms/rules.json');
    expect(c.modelPersistIntervalMs).toBe(10_000);
    expect(c.metricsPort).toBe(0);
  });

  it('lists every bad variable in one error, without echoing the SMTP password', () => {
    let err: unknown;
    try {
      loadConfig({
        WEBHOOK_URL: 'ftp://x',
        SMTP_URL: 'smtp://u:hunter2@mail',
        SMTP_TO: 'not-an-address',
        RULES_FILE: 'rules.txt',
        MODEL_PERSIST_INTERVAL_MS: 'often',
        METRICS_PORT: '70000',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of [
      'WEBHOOK_URL',
      'SMTP_TO',
      'RULES_FILE',
      'MODEL_PERSIST_INTERVAL_MS',
      'METRICS_PORT',
    ]) {
      expect(problems).toContain(name);
    }
    expect(problems).not.toContain('hunter2');
  });

  it('wants a webhook secret (signing) with the webhook URL, and never echoes it', () => {
    expect(() => loadConfig({ WEBHOOK_URL: 'https://h.example/x' })).toThrow(/WEBHOOK_SECRET: must be set/);
    expect(() => loadConfig({ WEBHOOK_URL: 'https://h.example/x', WEBHOOK_SECRET: 'short-s3cret' })).toThrow(
      /WEBHOOK_SECRET/,
    );
  });

  it('wants SMTP_URL when SMTP_TO is set', () => {
    expect(() => loadConfig({ SMTP_TO: 'a@b.c' })).toThrow(/SMTP_TO: is set but SMTP_URL is not/);
  });
});
