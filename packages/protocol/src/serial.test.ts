import { describe, expect, it } from 'vitest';
import { ProtocolError } from './protocol-error.js';
import { assertSerial, isValidSerial, SERIAL_PATTERN } from './serial.js';

describe('serials', () => {
  it.each(['a', 'A-1', 'crane_07', 'x'.repeat(64), '0'])('accepts %j', (s) => {
    expect(isValidSerial(s)).toBe(true);
    expect(assertSerial(s)).toBe(s);
  });

  it.each(['', 'a.b', 'a#b', 'a*', 'a b', 'é', 'x'.repeat(65), 'a\n', 'a/b', 'a+b'])('rejects %j', (s) => {
    expect(isValidSerial(s)).toBe(false);
    expect(() => assertSerial(s)).toThrow(ProtocolError);
  });

  it.each([undefined, null, 42, {}, ['a']])('rejects the non-string %j', (s) => {
    expect(isValidSerial(s)).toBe(false);
    expect(() => assertSerial(s, 'entries[0].serial')).toThrow(/entries\[0\]\.serial: must be a string/);
  });

  it('exposes the pattern of the design', () => {
    expect(SERIAL_PATTERN.source).toBe('^[A-Za-z0-9_-]{1,64}$');
  });
});
