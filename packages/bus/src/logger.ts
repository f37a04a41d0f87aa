type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/**
 * The part of a pino `Logger` the bus uses (pass the service's pino logger, e.g. from
 * `@sensor-streaming/runtime` createLogger). Always called with a fields object first; errors go under `err`.
 */
export interface BusLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): BusLogger;
}
