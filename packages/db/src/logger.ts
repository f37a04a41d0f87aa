/**
 * The slice of a pino logger this package uses. A pino `Logger` (what
 * `@sensor-streaming/runtime` creates) satisfies it structurally.
 */
export interface DbLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: DbLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
