import {
  type CommonConfig,
  type RegistrationConfig,
  readCommonConfig,
  readEnv,
  readRegistrationConfig,
  readSensorStateMax,
} from '@sensor-streaming/runtime';

export const SERVICE_NAME = 'sensor-registry';

const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,200}$/;

export interface RegistrySettings {
  /** Quorum queue bound to sensor.*.state, sensor.*.acks, sensor.*.commands.* (REGISTRY_QUEUE). */
  queue: string;
  /** Quorum queue bound on the dead-letter exchange to sensor.*.commands.* (EXPIRED_COMMANDS_QUEUE). */
  expiredCommandsQueue: string;
  /** A sensor silent this long is marked OFFLINE (SENSOR_OFFLINE_AFTER_MS, default 3 heartbeats = 30 s). */
  offlineAfterMs: number;
  /** Period of the offline / timed-out sweeps and the fleet gauge refresh (SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  /** Re-send reconciling commands (RECONCILE_ENABLED). */
  reconcileEnabled: boolean;
  /** At most one reconciliation per sensor per this interval (RECONCILE_MIN_INTERVAL_MS). */
  reconcileMinIntervalMs: number;
  /** TTL of the commands the registry sends to reconcile (RECONCILE_COMMAND_TTL_MS). */
  reconcileCommandTtlMs: number;
  /** An ISSUED command this long past its expires_at becomes TIMED_OUT (COMMAND_TIMEOUT_GRACE_MS). */
  commandTimeoutGraceMs: number;
  /** Messages per batch at most (MAX_BATCH_MESSAGES). */
  maxBatchMessages: number;
  /** A batch is processed at most this long after its first message (MAX_BATCH_WAIT_MS). */
  maxBatchWaitMs: number;
  /** Unacked messages on the main queue (PREFETCH, default 2 * MAX_BATCH_MESSAGES). */
  prefetch: number;
  /** Data and logs count as signs of life, read from a private in-memory queue (LIVENESS_FROM_TRAFFIC). */
  livenessFromTraffic: boolean;
  /** PostgreSQL connections (DB_POOL_MAX). */
  dbPoolMax: number;
  /** Backoff while the database is unavailable (RETRY_INITIAL_DELAY_MS, RETRY_MAX_DELAY_MS). */
  retry: { initialDelayMs: number; maxDelayMs: number };
}

export interface SensorRegistryConfig extends CommonConfig {
  registry: RegistrySettings;
  /** REGISTRATION=open|closed and its cache (docs/identity.md, "Registration modes"). */
  registration: RegistrationConfig;
  /** Sensors whose in-memory state (rate windows, recent values) is kept at most (SENSOR_STATE_MAX). */
  sensorStateMax: number;
}

/** Validates every variable at once; throws one ConfigError listing each bad one. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SensorRegistryConfig {
  const r = readEnv(env);
  const common = readCommonConfig(r, SERVICE_NAME);
  const queue = r.string('REGISTRY_QUEUE', SERVICE_NAME, { pattern: QUEUE_NAME });
  const expiredCommandsQueue = r.string('EXPIRED_COMMANDS_QUEUE', `${queue}.expired-commands`, {
    pattern: QUEUE_NAME,
  });
  if (expiredCommandsQueue === queue) {
    r.problem('EXPIRED_COMMANDS_QUEUE', `must differ from REGISTRY_QUEUE (${queue})`);
  }
  const maxBatchMessages = r.int('MAX_BATCH_MESSAGES', 500, { min: 1, max: 10_000 });
  const prefetch = r.int('PREFETCH', Math.min(65_535, 2 * maxBatchMessages), { min: 1, max: 65_535 });
  if (prefetch < maxBatchMessages) {
    r.problem('PREFETCH', `must be >= MAX_BATCH_MESSAGES (${maxBatchMessages}), got ${prefetch}`);
  }
  const initialDelayMs = r.duration('RETRY_INITIAL_DELAY_MS', 200, { min: 1, max: 60_000 });
  const maxDelayMs = r.duration('RETRY_MAX_DELAY_MS', 5_000, { min: 1, max: 300_000 });
  if (maxDelayMs < initialDelayMs) {
    r.problem(
      'RETRY_MAX_DELAY_MS',
      `must be >= RETRY_INITIAL_DELAY_MS (${initialDelayMs}), got ${maxDelayMs}`,
    );
  }
  const registry: RegistrySettings = {
    queue,
    expiredCommandsQueue,
    offlineAfterMs: r.duration('SENSOR_OFFLINE_AFTER_MS', 30_000, { min: 100, max: 86_400_000 }),
    sweepIntervalMs: r.duration('SWEEP_INTERVAL_MS', 5_000, { min: 50, max: 3_600_000 }),
    reconcileEnabled: r.bool('RECONCILE_ENABLED', true),
    reconcileMinIntervalMs: r.duration('RECONCILE_MIN_INTERVAL_MS', 10_000, { min: 0, max: 86_400_000 }),
    reconcileCommandTtlMs: r.duration('RECONCILE_COMMAND_TTL_MS', 60_000, {
      min: 1_000,
      max: 7 * 86_400_000,
    }),
    commandTimeoutGraceMs: r.duration('COMMAND_TIMEOUT_GRACE_MS', 60_000, { min: 0, max: 86_400_000 }),
    maxBatchMessages,
    maxBatchWaitMs: r.duration('MAX_BATCH_WAIT_MS', 50, { min: 0, max: 60_000 }),
    prefetch,
    livenessFromTraffic: r.bool('LIVENESS_FROM_TRAFFIC', true),
    dbPoolMax: r.int('DB_POOL_MAX', 5, { min: 2, max: 200 }),
    retry: { initialDelayMs, maxDelayMs },
  };
  const registration = readRegistrationConfig(r);
  const sensorStateMax = readSensorStateMax(r);
  r.done();
  return { ...common, registry, registration, sensorStateMax };
}
