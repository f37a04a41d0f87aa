import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from './cli-error.js';
import {
  parseAmqpUrl,
  parseHz,
  parseMs,
  parseSerials,
  parseState,
  parseTargets,
  parseTls,
} from './options.js';

describe('parseTls', () => {
  it('is undefined without TLS variables, and names the variable of a bad file in one line', () => {
    expect(parseTls({}, 'amqps://h')).toBeUndefined();
    expect(() => parseTls({ TLS_CA_FILE: '/nonexistent/ca.pem' }, 'amqps://h')).toThrow(
      new UsageError('TLS_CA_FILE: cannot read "/nonexistent/ca.pem": no such file'),
    );
  });
  it('refuses TLS files with a plain amqp:// URL, which would ignore them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'iotctl-tls-'));
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    try {
      expect(parseTls({ TLS_CA_FILE: ca }, 'amqps://h')).toEqual({ caFile: ca });
      expect(() => parseTls({ TLS_CA_FILE: ca }, 'amqp://h')).toThrow(/use amqps:\/\//);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseTargets', () => {
  it('merges positional serials and repeated -s, dropping duplicates', () => {
    expect(parseTargets({ positional: ['a', 'b'], sensor: ['b', 'c'] })).toEqual({
      kind: 'serials',
      serials: ['a', 'b', 'c'],
    });
  });

  it('takes --all and --selector alone', () => {
    expect(parseTargets({ positional: [], all: true })).toEqual({ kind: 'all' });
    expect(parseTargets({ positional: [], selector: 'kind=vibration,site=north' })).toEqual({
      kind: 'selector',
      selector: { kind: 'vibration', site: 'north' },
    });
  });

  it.each([
    [{ positional: [] }, 'name the sensors'],
    [{ positional: ['a'], all: true }, 'not several'],
    [{ positional: [], all: true, selector: 'a=b' }, 'not several'],
    [{ positional: [], selector: 'kind' }, '--selector: selector part "kind" is not key=value'],
    [{ positional: ['ok', 'bad.serial'] }, 'invalid serial "bad.serial"'],
  ])('rejects %j as a usage error', (input, fragment) => {
    expect(() => parseTargets(input)).toThrow(UsageError);
    expect(() => parseTargets(input)).toThrow(fragment);
  });
});

describe('flag parsers', () => {
  it('accepts good values', () => {
    expect(parseSerials(['sim-0-1', 'A_b'])).toEqual(['sim-0-1', 'A_b']);
    expect(parseMs('--timeout', '250')).toBe(250);
    expect(parseHz('50')).toBe(50);
    expect(parseState('asleep')).toBe('ASLEEP');
  });

  it.each([
    [() => parseMs('--timeout', '1.5'), '--timeout must be a whole number'],
    [() => parseMs('--timeout', '0'), '--timeout must be a whole number'],
    [() => parseHz(undefined), 'needs --hz'],
    [() => parseHz('0'), 'not a positive number'],
    [() => parseHz('20000'), 'out of range'],
    [() => parseState('dancing'), '--state must be one of awake, asleep, offline'],
    [() => parseSerials(['x'.repeat(65)]), 'invalid serial'],
  ])('rejects bad input %# with a usage error', (fn, fragment) => {
    expect(fn).toThrow(UsageError);
    expect(fn).toThrow(fragment);
  });

  it('reads the broker URL from the flag, then AMQP_URL, and checks the scheme', () => {
    expect(parseAmqpUrl('amqp://h:1/v', { AMQP_URL: 'amqp://other' })).toBe('amqp://h:1/v');
    expect(parseAmqpUrl(undefined, { AMQP_URL: 'amqps://x' })).toBe('amqps://x');
    expect(parseAmqpUrl(undefined, {})).toMatch(/^amqp:\/\//);
    expect(() => parseAmqpUrl(undefined, { AMQP_URL: 'http://x' })).toThrow(
      'AMQP_URL must start with amqp://',
    );
    expect(() => parseAmqpUrl('nope', {})).toThrow('--amqp-url is not a URL');
  });
});
