import { describe, expect, it } from 'vitest';
import { buildCommand, FREQUENCY_MAX_HZ, parseFrequency } from './commands.js';

describe('parseFrequency', () => {
  it('accepts positive numbers in range, from strings too', () => {
    expect(parseFrequency('50')).toBe(50);
    expect(parseFrequency(' 0.5 ')).toBe(0.5);
    expect(parseFrequency(FREQUENCY_MAX_HZ)).toBe(FREQUENCY_MAX_HZ);
  });

  it.each([
    ['', 'empty'],
    ['abc', 'not a positive number'],
    ['-5', 'not a positive number'],
    ['0', 'not a positive number'],
    ['Infinity', 'not a positive number'],
    ['0.01', 'out of range'],
    ['20000', 'out of range'],
  ])('rejects %j with a clear message', (input, fragment) => {
    expect(() => parseFrequency(input)).toThrow(fragment);
  });
});

describe('buildCommand', () => {
  const nowUs = 1_780_000_000_000_000;

  it('sets issue and expiry times from the TTL and a fresh uuid', () => {
    const a = buildCommand('pump-1', { type: 'sleep' }, { issuedBy: 'iotctl:test', ttlMs: 2000, nowUs });
    const b = buildCommand('pump-1', { type: 'sleep' }, { issuedBy: 'iotctl:test', ttlMs: 2000, nowUs });
    expect(a).toMatchObject({
      serial: 'pump-1',
      type: 'sleep',
      issuedAtUs: nowUs,
      expiresAtUs: nowUs + 2_000_000,
    });
    expect(a.commandId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.commandId).not.toBe(b.commandId);
    expect(a.sampleFrequencyHz).toBeUndefined();
  });

  it('carries the frequency only for changesamplefrequency, validated', () => {
    const c = buildCommand(
      'pump-1',
      { type: 'changesamplefrequency', sampleFrequencyHz: 50 },
      { issuedBy: 'x', nowUs },
    );
    expect(c.sampleFrequencyHz).toBe(50);
    expect(() => buildCommand('pump-1', { type: 'changesamplefrequency' }, { issuedBy: 'x', nowUs })).toThrow(
      'not a positive number',
    );
  });

  it('rejects bad serials, TTLs and issuers', () => {
    expect(() => buildCommand('a.b', { type: 'sleep' }, { issuedBy: 'x' })).toThrow();
    expect(() => buildCommand('a', { type: 'sleep' }, { issuedBy: 'x', ttlMs: 0 })).toThrow('TTL');
    expect(() => buildCommand('a', { type: 'sleep' }, { issuedBy: ' ' })).toThrow('issuedBy');
  });
});
