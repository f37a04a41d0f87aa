import { type EnvReader, readEnv } from './env-reader.js';
import { isTlsUrl, readTlsConfig, type TlsFiles } from './tls-config.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/sensor_streaming';
/** RabbitMQ's MQTT plugin; Mosquitto owns 1883 on developer machines. */
export const DEFAULT_MQTT_URL = 'mqtt://127.0.0.1:1884';

/** Default METRICS_PORT per service, so a local stack does not collide (scripts/stack.sh uses the same). */
export const DEFAULT_METRICS_PORTS: Readonly<Record<string, number>> = {
  'sensor-registry': 9101,
  'measurements-ingester': 9102,
  'logs-ingester': 9103,
  'alarm-service': 9104,
  'sensor-simulator': 9105,
};

export interface CommonConfig {
  amqpUrl: string;
  databaseUrl: string;
  mqttUrl: string;
  /** 0 = ephemeral port. */
  metricsPort: number;
  /** Interface the /metrics /healthz /readyz server binds to (METRICS_HOST, default 0.0.0.0). */
  metricsHost: string;
  logLevel: LogLevelName;
  serviceName: string;
  /**
   * TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE, for every `amqps://` and `mqtts://` connection the service
   * makes. Absent when none is set (plain TCP, or TLS trusting the system's CAs).
   */
  tls?: TlsFiles;
}

export interface CommonConfigOptions {
  /** METRICS_PORT default; else DEFAULT_METRICS_PORTS[service]; else 0 (ephemeral). */
  metricsPort?: number;
}

/**
 * Reads the variables every service shares into an existing reader, so a
 * service's own loadConfig reports common and specific problems in one error.
 */
export function readCommonConfig(
  r: EnvReader,
  service?: string,
  opts: CommonConfigOptions = {},
): CommonConfig {
  const name = service ?? 'sensor-streaming';
  const metricsDefault = opts.metricsPort ?? DEFAULT_METRICS_PORTS[name] ?? 0;
  const amqpUrl = r.url('AMQP_URL', DEFAULT_AMQP_URL, { protocols: ['amqp', 'amqps'] });
  const databaseUrl = r.url('DATABASE_URL', DEFAULT_DATABASE_URL, { protocols: ['postgres', 'postgresql'] });
  const mqttUrl = r.url('MQTT_URL', DEFAULT_MQTT_URL, { protocols: ['mqtt', 'mqtts', 'ws', 'wss'] });
  for (const [variable, url] of [
    ['AMQP_URL', amqpUrl],
    ['MQTT_URL', mqttUrl],
  ] as const)
    if (hasPlaceholderPassword(url))
      r.problem(variable, 'the password is the placeholder CHANGE-ME: set a real one (deploy/README.md)');
  const tls = readTlsConfig(r);
  if (tls !== undefined && !isTlsUrl(amqpUrl) && !isTlsUrl(mqttUrl))
    r.problem(
      'AMQP_URL',
      'TLS_* files are set but neither AMQP_URL nor MQTT_URL uses TLS (amqps://, mqtts://): they would be ignored',
    );
  return {
    amqpUrl,
    databaseUrl,
    mqttUrl,
    metricsPort: r.int('METRICS_PORT', metricsDefault, { min: 0, max: 65535 }),
    metricsHost: r.string('METRICS_HOST', '0.0.0.0'),
    logLevel: r.enum('LOG_LEVEL', LOG_LEVELS, 'info'),
    serviceName: r.string('SERVICE_NAME', name, { pattern: /^[A-Za-z0-9_.-]{1,64}$/ }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function hasPlaceholderPassword(url: string): boolean {
  try {
    return decodeURIComponent(new URL(url).password) === 'CHANGE-ME';
  } catch {
    return false;
  }
}

/** Validates the common variables; throws one ConfigError listing every bad one. */
export function loadCommonConfig(
  env: NodeJS.ProcessEnv = process.env,
  service?: string,
  opts: CommonConfigOptions = {},
): CommonConfig {
  const r = readEnv(env);
  const config = readCommonConfig(r, service, opts);
  r.done();
  return config;
}
