import { fileURLToPath } from 'node:url';
import {
  type CommonConfig,
  type RegistrationConfig,
  readCommonConfig,
  readEnv,
  readRegistrationConfig,
  readSensorStateMax,
} from '@sensor-streaming/runtime';
import { type AlarmGrants, DEFAULT_ALARM_RPC_GRANTS, parseAlarmGrants } from './grants.js';

export interface SmtpConfig {
  /** smtp://[user:pass@]host[:port] (STARTTLS required) or smtps://... (TLS from the start). */
  url: string;
  from: string;
  to: string[];
  /** SMTP_REQUIRE_TLS (default true): smtp:// without STARTTLS fails instead of sending in clear. */
  requireTls: boolean;
  /** SMTP_TIMEOUT_MS: connection, greeting and socket timeout. */
  timeoutMs: number;
  /** Tests only: TLS options (e.g. a self-signed CA). */
  tls?: { ca?: string; rejectUnauthorized?: boolean };
}

export interface AlarmServiceConfig extends CommonConfig {
  /** The service's quorum queue (ALARM_QUEUE, default alarm-service). */
  queueName: string;
  /** RULES_FILE: YAML (.yaml/.yml) or JSON (.json). */
  rulesFile: string;
  /** RULES_WATCH: reload on file change events (fs.watch); default true. */
  rulesWatch: boolean;
  /** RULES_CHECK_INTERVAL_MS: periodic re-read besides fs.watch and SIGHUP. */
  rulesCheckIntervalMs: number;
  /** MODEL_PERSIST_INTERVAL_MS: how often changed anomaly models are saved. */
  modelPersistIntervalMs: number;
  /** TICK_INTERVAL_MS: silence checks and closing windows of quiet sensors. */
  tickIntervalMs: number;
  consume: { maxBatch: number; maxWaitMs: number; prefetch: number };
  /** LEADER_RETRY_MS: how often a standby replica tries to become the active evaluator. */
  leaderRetryMs: number;
  /** WEBHOOK_URL, WEBHOOK_TIMEOUT_MS, WEBHOOK_SECRET (HMAC-SHA256 key; required with the URL). */
  webhook?: { url: string; timeoutMs: number; secret: string };
  smtp?: SmtpConfig;
  /** The durable notification queue: retries with backoff, polled every NOTIFY_POLL_MS. */
  notify: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number; pollMs: number };
  /** OUTBOX_RETRY_MS: a stored transition not confirmed this long after storing is published by the relay. */
  outboxRetryMs: number;
  /**
   * ALARM_RPC_GRANTS: which broker users may ack, shelve, and put sensors in maintenance (see grants.ts);
   * default `op.operator` and `guest` (local development: production sets it without guest).
   */
  rpcGrants: AlarmGrants;
  /** REGISTRATION=open|closed: in closed mode messages of unprovisioned serials are ignored (not evaluated). */
  registration: RegistrationConfig;
  /** Sensors whose rule state is kept at most (SENSOR_STATE_MAX; least recently active evicted). */
  sensorStateMax: number;
}

const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;

/** The rules shipped with the service. */
export function defaultRulesFile(): string {
  return fileURLToPath(new URL('../rules/default.yaml', import.meta.url));
}

/** Reads and validates every variable; throws one ConfigError listing all bad ones. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AlarmServiceConfig {
  const r = readEnv(env);
  const common = readCommonConfig(r, 'alarm-service');
  const rulesFile = r.string('RULES_FILE', defaultRulesFile());
  if (!/\.(ya?ml|json)$/i.test(rulesFile)) r.problem('RULES_FILE', 'must end in .yaml, .yml or .json');
  const config: AlarmServiceConfig = {
    ...common,
    registration: readRegistrationConfig(r),
    sensorStateMax: readSensorStateMax(r),
    queueName: r.string('ALARM_QUEUE', 'alarm-service', { pattern: /^[A-Za-z0-9_.-]{1,200}$/ }),
    rulesFile,
    rulesWatch: r.bool('RULES_WATCH', true),
    rulesCheckIntervalMs: r.duration('RULES_CHECK_INTERVAL_MS', 5_000, { min: 100 }),
    modelPersistIntervalMs: r.duration('MODEL_PERSIST_INTERVAL_MS', 30_000, { min: 100 }),
    tickIntervalMs: r.duration('TICK_INTERVAL_MS', 1_000, { min: 10, max: 60_000 }),
    // Batches close at maxWaitMs when traffic is light, so a large maxBatch costs no latency; under
    // load it amortises the alarm writes (two statements per batch) over many messages.
    consume: {
      maxBatch: r.int('CONSUME_BATCH', 5_000, { min: 1, max: 20_000 }),
      maxWaitMs: r.duration('CONSUME_WAIT_MS', 20, { min: 0, max: 5_000 }),
      prefetch: r.int('CONSUME_PREFETCH', 12_000, { min: 1, max: 65_535 }),
    },
    leaderRetryMs: r.duration('LEADER_RETRY_MS', 2_000, { min: 50 }),
    notify: {
      maxAttempts: r.int('NOTIFY_MAX_ATTEMPTS', 6, { min: 1, max: 100 }),
      initialDelayMs: r.duration('NOTIFY_RETRY_INITIAL_MS', 500, { min: 1 }),
      maxDelayMs: r.duration('NOTIFY_RETRY_MAX_MS', 60_000, { min: 1 }),
      pollMs: r.duration('NOTIFY_POLL_MS', 1_000, { min: 10, max: 60_000 }),
    },
    outboxRetryMs: r.duration('OUTBOX_RETRY_MS', 5_000, { min: 100, max: 3_600_000 }),
    rpcGrants: parseAlarmGrants(''),
  };
  try {
    config.rpcGrants = parseAlarmGrants(r.string('ALARM_RPC_GRANTS', DEFAULT_ALARM_RPC_GRANTS));
  } catch (err) {
    r.problem('ALARM_RPC_GRANTS', err instanceof Error ? err.message : String(err));
  }
  if (r.has('WEBHOOK_URL')) {
    const secret = r.string('WEBHOOK_SECRET', '');
    if (secret.length < 16)
      r.problem('WEBHOOK_SECRET', 'must be set with WEBHOOK_URL: at least 16 characters (the HMAC key)');
    config.webhook = {
      url: r.url('WEBHOOK_URL', undefined, { protocols: ['http', 'https'] }),
      timeoutMs: r.duration('WEBHOOK_TIMEOUT_MS', 5_000, { min: 1 }),
      secret,
    };
  }
  if (r.has('SMTP_URL')) {
    const to = r.list('SMTP_TO', undefined, { minItems: 1 });
    for (const a of to)
      if (!EMAIL.test(a)) r.problem('SMTP_TO', `${JSON.stringify(a)} is not an e-mail address`);
    const from = r.string('SMTP_FROM', 'alarm-service@localhost', { pattern: EMAIL });
    config.smtp = {
      url: r.url('SMTP_URL', undefined, { protocols: ['smtp', 'smtps'] }),
      from,
      to,
      requireTls: r.bool('SMTP_REQUIRE_TLS', true),
      timeoutMs: r.duration('SMTP_TIMEOUT_MS', 10_000, { min: 100 }),
    };
  } else if (r.has('SMTP_TO')) {
    r.problem('SMTP_TO', 'is set but SMTP_URL is not');
  }
  if (config.notify.maxDelayMs < config.notify.initialDelayMs) {
    r.problem('NOTIFY_RETRY_MAX_MS', 'must be >= NOTIFY_RETRY_INITIAL_MS');
  }
  r.done();
  return config;
}
