import { ProtocolError } from './protocol-error.js';

/** A sensor serial: 1..64 of `[A-Za-z0-9_-]` (no dots: dots separate routing-key words). */
export const SERIAL_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidSerial(s: unknown): s is string {
  return typeof s === 'string' && SERIAL_PATTERN.test(s);
}

/** Returns `s` if it is a valid serial, else throws a {@link ProtocolError} naming `field`. */
export function assertSerial(s: unknown, field = 'serial'): string {
  if (typeof s !== 'string') throw new ProtocolError(field, `must be a string, got ${typeof s}`);
  if (!SERIAL_PATTERN.test(s)) {
    throw new ProtocolError(
      field,
      `must match ${SERIAL_PATTERN.source}, got ${JSON.stringify(s.slice(0, 80))}`,
    );
  }
  return s;
}
