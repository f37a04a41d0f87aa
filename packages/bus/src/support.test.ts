import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorReason, isPermanentError } from './errors.js';
import { Fifo } from './fifo.js';
import { amqpSocketOptions, connectUrl } from './connection.js';
import { maskUrl } from './url.js';

describe('maskUrl', () => {
  it('masks the password and keeps the rest', () => {
    expect(maskUrl('amqp://svc:s3cret@rabbit:5672/prod')).toBe('amqp://svc:***@rabbit:5672/prod');
    expect(maskUrl('amqp://rabbit:5672')).toBe('amqp://rabbit:5672');
  });
  it('masks even a URL that does not parse', () => {
    expect(maskUrl('amqp://svc:s3cret@bad host/')).not.toContain('s3cret');
  });
});

describe('connectUrl', () => {
  it('sets the heartbeat explicitly, overriding one in the URL', () => {
    expect(connectUrl('amqp://u:p@h:5672/v?heartbeat=60', 15)).toBe('amqp://u:p@h:5672/v?heartbeat=15');
  });
  it('refuses a non-AMQP URL', () => {
    expect(() => connectUrl('http://h', 15)).toThrow(/amqp/);
  });
});

describe('amqpSocketOptions', () => {
  const base = { clientProperties: { connection_name: 'x' }, timeout: 1000 };
  it('adds nothing for amqp://, even with TLS files (readCommonConfig refuses that combination)', () => {
    expect(amqpSocketOptions('amqp://u:p@h', base, { caFile: '/nonexistent' })).toBe(base);
  });
  it('reads the files on each call for amqps://, verification left on; a client cert without a user is EXTERNAL', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bus-tls-'));
    try {
      const ca = path.join(dir, 'ca.pem');
      writeFileSync(ca, 'CA1');
      const first = amqpSocketOptions('amqps://u:p@h', base, { caFile: ca });
      expect(first.ca?.toString()).toBe('CA1');
      expect(first).not.toHaveProperty('rejectUnauthorized');
      expect(first.credentials).toBeUndefined();
      writeFileSync(ca, 'CA2'); // rotated
      expect(amqpSocketOptions('amqps://u:p@h', base, { caFile: ca }).ca?.toString()).toBe('CA2');
      const cert = path.join(dir, 'c.pem');
      writeFileSync(cert, 'C');
      const withCert = amqpSocketOptions('amqps://h', base, { caFile: ca, certFile: cert, keyFile: cert });
      expect(withCert.credentials?.mechanism).toBe('EXTERNAL');
      expect(
        amqpSocketOptions('amqps://u:p@h', base, { certFile: cert, keyFile: cert }).credentials,
      ).toBeUndefined();
      expect(() => amqpSocketOptions('amqps://h', base, { caFile: path.join(dir, 'gone') })).toThrow(
        /^TLS_CA_FILE: cannot read/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors', () => {
  it('recognises permanent errors by the permanent flag only', () => {
    expect(isPermanentError(Object.assign(new Error('x'), { permanent: true }))).toBe(true);
    expect(isPermanentError(new Error('x'))).toBe(false);
    expect(isPermanentError({ permanent: 'yes' })).toBe(false);
    expect(isPermanentError(undefined)).toBe(false);
  });
  it('builds a one-line reason with the code, bounded in length', () => {
    const e = Object.assign(new Error('bad\nfield  values'), { code: 'PROTOCOL_INVALID' });
    expect(errorReason(e)).toBe('PROTOCOL_INVALID: bad field values');
    expect(errorReason('plain')).toBe('plain');
    expect(errorReason(new Error('x'.repeat(5000))).length).toBe(1000);
  });
});

describe('Fifo', () => {
  it('is first-in first-out, and unshiftAll puts items back in front in order', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 3000; i++) q.push(i);
    for (let i = 0; i < 2000; i++) expect(q.shift()).toBe(i);
    q.unshiftAll([-2, -1]);
    expect(q.length).toBe(1002);
    expect(q.shift()).toBe(-2);
    expect(q.shift()).toBe(-1);
    expect(q.peek()).toBe(2000);
    expect(q.drain()).toHaveLength(1000);
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
  });
});
