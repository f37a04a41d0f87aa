import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import { readEnv } from './env-reader.js';

function problemsOf(fn: () => void): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('readEnv', () => {
  it('returns defaults when variables are unset or empty', () => {
    const r = readEnv({ EMPTY: '   ' });
    expect(r.string('S', 'dflt')).toBe('dflt');
    expect(r.string('EMPTY', 'e')).toBe('e');
    expect(r.int('I', 7)).toBe(7);
    expect(r.number('N', 1.5)).toBe(1.5);
    expect(r.bool('B', true)).toBe(true);
    expect(r.url('U', 'amqp://localhost')).toBe('amqp://localhost');
    expect(r.enum('E', ['a', 'b'] as const, 'b')).toBe('b');
    expect(r.list('L', ['x'])).toEqual(['x']);
    expect(r.duration('D', 250)).toBe(250);
    expect(() => r.done()).not.toThrow();
  });

  it('parses set values of every type', () => {
    const r = readEnv({
      S: ' hello ',
      I: '-42',
      N: '3.25',
      B1: 'yes',
      B0: 'OFF',
      U: 'amqps://u:p@h:5671/v',
      E: 'debug',
      L: 'a, b,,c ',
      D1: '500ms',
      D2: '5s',
      D3: '2m',
      D4: '1500',
      D5: '1.5s',
      D6: '1h',
    });
    expect(r.string('S')).toBe('hello');
    expect(r.int('I')).toBe(-42);
    expect(r.number('N')).toBe(3.25);
    expect(r.bool('B1')).toBe(true);
    expect(r.bool('B0')).toBe(false);
    expect(r.url('U', undefined, { protocols: ['amqp', 'amqps:'] })).toBe('amqps://u:p@h:5671/v');
    expect(r.enum('E', ['info', 'debug'] as const)).toBe('debug');
    expect(r.list('L')).toEqual(['a', 'b', 'c']);
    expect([r.duration('D1'), r.duration('D2'), r.duration('D3'), r.duration('D4')]).toEqual([
      500, 5000, 120_000, 1500,
    ]);
    expect(r.duration('D5')).toBe(1500);
    expect(r.duration('D6')).toBe(3_600_000);
    r.done();
  });

  it('lists every bad variable by name in one ConfigError', () => {
    const r = readEnv({
      PORT: '80x',
      RATE: 'fast',
      FLAG: 'maybe',
      URL: 'not a url',
      MODE: 'turbo',
      WAIT: '5 parsecs',
      LIST: ' , ',
    });
    r.int('PORT', 1);
    r.number('RATE', 1);
    r.bool('FLAG', false);
    r.url('URL', 'amqp://x');
    r.enum('MODE', ['slow', 'normal'] as const, 'slow');
    r.duration('WAIT', 1);
    r.list('LIST', ['a'], { minItems: 1 });
    r.string('REQUIRED');
    const problems = problemsOf(() => r.done());
    expect(problems).toEqual([
      'PORT: must be an integer, got "80x"',
      'RATE: must be a finite number, got "fast"',
      'FLAG: must be a boolean (true/false, 1/0, yes/no, on/off), got "maybe"',
      'URL: is not a valid URL',
      'MODE: must be one of slow, normal, got "turbo"',
      'WAIT: must be a duration like 500ms, 5s, 2m, 1h or plain milliseconds, got "5 parsecs"',
      'LIST: must list at least 1 item(s), got 0',
      'REQUIRED: is required but not set',
    ]);
  });

  it('enforces min and max bounds, inclusive', () => {
    const r = readEnv({ LOW: '0', HIGH: '65536', EDGE_LO: '1', EDGE_HI: '65535', D: '100ms', F: '0.5' });
    expect(r.int('EDGE_LO', 5, { min: 1, max: 65535 })).toBe(1);
    expect(r.int('EDGE_HI', 5, { min: 1, max: 65535 })).toBe(65535);
    r.int('LOW', 5, { min: 1 });
    r.int('HIGH', 5, { max: 65535 });
    r.duration('D', 1000, { min: 1000 });
    r.number('F', 1, { min: 1 });
    expect(r.problems).toEqual([
      'LOW: must be >= 1, got 0',
      'HIGH: must be <= 65535, got 65536',
      'D: must be >= 1000, got 100',
      'F: must be >= 1, got 0.5',
    ]);
  });

  it('rejects integers that are not safe or not whole', () => {
    const r = readEnv({ BIG: '9007199254740993', FRAC: '1.5' });
    r.int('BIG', 0);
    r.int('FRAC', 0);
    expect(r.problems).toHaveLength(2);
  });

  it('rejects a URL with a protocol outside the allowed list without echoing its password', () => {
    const r = readEnv({ AMQP_URL: 'http://user:hunter2@host/' });
    r.url('AMQP_URL', 'amqp://x', { protocols: ['amqp', 'amqps'] });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toContain('AMQP_URL: protocol must be one of amqp:, amqps:, got http:');
    expect(r.problems[0]).not.toContain('hunter2');
  });

  it('never echoes values of secret-looking variables', () => {
    const r = readEnv({ DB_PASSWORD: 'hunter2' });
    r.string('DB_PASSWORD', undefined, { pattern: /^\d+$/ });
    expect(r.problems).toEqual(['DB_PASSWORD: must match /^\\d+$/']);
  });

  it('accepts problems of its own and reports presence', () => {
    const r = readEnv({ A: '1' });
    expect(r.has('A')).toBe(true);
    expect(r.has('B')).toBe(false);
    r.problem('A', 'must be greater than B');
    expect(problemsOf(() => r.done())).toEqual(['A: must be greater than B']);
  });

  it('formats the error message with one line per problem', () => {
    const err = new ConfigError(['A: bad', 'B: worse']);
    expect(err.message).toBe('Invalid configuration (2 problems):\n  - A: bad\n  - B: worse');
    expect(err.code).toBe('CONFIG_INVALID');
  });
});
