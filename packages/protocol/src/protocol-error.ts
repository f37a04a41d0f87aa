/**
 * Bad input on the wire (payload, routing key, content type). Retrying cannot
 * help, so `permanent` is true: the bus dead-letters such a message at once.
 */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL_INVALID';
  readonly permanent = true;
  /** Dotted path of the offending field, e.g. `entries[3].level`; `body` for the whole payload. */
  readonly field: string;
  /** What is wrong with it, without the field name. */
  readonly reason: string;

  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`${field}: ${reason}`, options);
    this.name = 'ProtocolError';
    this.field = field;
    this.reason = reason;
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
