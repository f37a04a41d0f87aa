import type { ControlError } from '@sensor-streaming/control';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The operator typed something invalid (bad serial, bad frequency, conflicting flags): exit 2. */
export class UsageError extends Error {
  readonly code = 'IOTCTL_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure (broker unreachable, registry not answering, unknown sensor): exit 1, one line. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** ControlError codes that mean "the input was wrong", not "the system failed". */
const USAGE_CONTROL_CODES = new Set([
  'CONTROL_BAD_FREQUENCY',
  'CONTROL_BAD_SELECTOR',
  'CONTROL_BAD_TTL',
  'CONTROL_BAD_COMMAND',
  'CONTROL_BAD_REQUEST',
]);

export interface ErrorReport {
  exitCode: number;
  /** What to write on stderr (one line for expected errors, the stack for bugs). */
  text: string;
}

/*
 * ControlError and ProtocolError are recognised by name and stable code rather than `instanceof`: importing
 * their classes here would load the bus and protobufjs for every run, `--version` included.
 */
function isControlError(err: unknown): err is ControlError {
  return (
    err instanceof Error &&
    err.name === 'ControlError' &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

function isProtocolError(err: unknown): err is Error {
  return (
    err instanceof Error &&
    err.name === 'ProtocolError' &&
    (err as { code?: unknown }).code === 'PROTOCOL_INVALID'
  );
}

/**
 * The broker's words when it refused what this user tried (an expected failure: the user's role does not
 * allow it): a refused publish (PublishRefusedError, by code) or an amqplib operation closed with 403
 * ACCESS_REFUSED (e.g. declaring a queue) or 406 for a user_id that is not the connection's user.
 */
function brokerRefusal(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as { code?: unknown; brokerMessage?: unknown };
  if (e.code === 'BUS_PUBLISH_REFUSED' && typeof e.brokerMessage === 'string') return e.brokerMessage;
  const quoted = /with message "(.*)"/.exec(err.message)?.[1];
  if (e.code === 403 && quoted?.startsWith('ACCESS_REFUSED')) return quoted;
  if (e.code === 406 && quoted !== undefined && /user_id property/.test(quoted)) return quoted;
  return undefined;
}

/** How an error thrown by a command is shown and what the process exits with. */
export function reportError(err: unknown): ErrorReport {
  if (err instanceof UsageError) return { exitCode: EXIT_USAGE, text: `iotctl: ${err.message}\n` };
  const refusal = brokerRefusal(err);
  if (refusal !== undefined) {
    return {
      exitCode: EXIT_FAILURE,
      text: `iotctl: refused by the broker (this user's role does not allow it): ${refusal}\n`,
    };
  }
  if (isControlError(err)) {
    return {
      exitCode: USAGE_CONTROL_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE,
      text: `iotctl: ${err.message}\n`,
    };
  }
  if (isProtocolError(err)) return { exitCode: EXIT_USAGE, text: `iotctl: ${err.message}\n` };
  if (err instanceof CliError) return { exitCode: EXIT_FAILURE, text: `iotctl: ${err.message}\n` };
  const stack = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  return { exitCode: EXIT_FAILURE, text: `iotctl: bug: ${stack}\n` };
}
