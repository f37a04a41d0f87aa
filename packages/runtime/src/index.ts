export { abortableSleep, type BackoffOptions, backoffDelay } from './backoff.js';
export {
  type CommonConfig,
  type CommonConfigOptions,
  DEFAULT_AMQP_URL,
  DEFAULT_DATABASE_URL,
  DEFAULT_METRICS_PORTS,
  DEFAULT_MQTT_URL,
  LOG_LEVELS,
  type LogLevelName,
  loadCommonConfig,
  readCommonConfig,
} from './common-config.js';
export { ConfigError } from './config-error.js';
export {
  type EnvReader,
  type ListOptions,
  type RangeOptions,
  readEnv,
  type StringOptions,
  type UrlOptions,
} from './env-reader.js';
export {
  createHttpServer,
  evaluateReadiness,
  type HealthCheck,
  type HttpServer,
  type HttpServerOptions,
  type ReadinessResult,
} from './http-server.js';
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { createMetrics, type Metrics } from './metrics.js';
export { redactUrl, redactUrlsInText } from './redact-url.js';
export {
  type RunnableService,
  type RunningService,
  type RunServiceConfig,
  type RunServiceOptions,
  runService,
  type ServiceContext,
} from './run-service.js';
export { type StartGate, type WaitForGatesOptions, waitForGates } from './start-gate.js';
export {
  isTlsUrl,
  loadTlsMaterial,
  readTlsConfig,
  TLS_ENV,
  type TlsFiles,
  type TlsMaterial,
} from './tls-config.js';
export {
  installShutdown,
  type ProcessLike,
  type ShutdownHandle,
  type ShutdownOptions,
  type ShutdownSignal,
  signalExitCode,
} from './shutdown.js';
export { LruMap } from './lru-map.js';
export {
  type RegistrationConfig,
  type RegistrationMode,
  REGISTRATION_MODES,
  readRegistrationConfig,
  readSensorStateMax,
} from './registration-config.js';
export { createSerialStateMetrics, type SerialStateMetrics } from './serial-state-metrics.js';
