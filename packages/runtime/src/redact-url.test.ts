import { describe, expect, it } from 'vitest';
import { redactUrl, redactUrlsInText } from './redact-url.js';

describe('redactUrl', () => {
  it('masks the password and keeps the rest', () => {
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672/vh')).toBe('amqp://guest:***@127.0.0.1:5672/vh');
    expect(redactUrl('postgres://app:s3cr%40t@db:5432/x?sslmode=require')).toBe(
      'postgres://app:***@db:5432/x?sslmode=require',
    );
  });

  it('leaves URLs without a password untouched', () => {
    expect(redactUrl('postgres://postgres@127.0.0.1:5432/db')).toBe('postgres://postgres@127.0.0.1:5432/db');
    expect(redactUrl('mqtt://127.0.0.1:1884')).toBe('mqtt://127.0.0.1:1884');
  });

  it('masks credentials even in strings that do not parse as URLs', () => {
    expect(redactUrl('amqp://user:pa ss@host')).not.toContain('pa ss@');
    expect(redactUrlsInText('connect to amqp://a:b@h and postgres://c:d@e/f failed')).toBe(
      'connect to amqp://a:***@h and postgres://c:***@e/f failed',
    );
  });
});
