import { expect } from 'vitest';
import { CONTENT_TYPE_JSON } from './constants.js';
import { ProtocolError } from './protocol-error.js';

/** Asserts that `fn` throws a permanent ProtocolError on `field` (and, optionally, a matching reason). */
export function expectProtocolError(fn: () => unknown, field: string, reason?: RegExp): ProtocolError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a ProtocolError').toBeInstanceOf(ProtocolError);
  const err = thrown as ProtocolError;
  expect(err.field).toBe(field);
  expect(err.permanent).toBe(true);
  expect(err.code).toBe('PROTOCOL_INVALID');
  if (reason !== undefined) expect(err.reason).toMatch(reason);
  return err;
}

/** UTF-8 JSON body for a hand-made proto3 JSON message. */
export function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export { CONTENT_TYPE_JSON as JSON_TYPE };
