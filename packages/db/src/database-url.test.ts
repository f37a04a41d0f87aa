import { describe, expect, it } from 'vitest';
import { isTransientConnectionError, retryConnect } from './database-url.js';

const err = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('retryConnect', () => {
  it('retries refused and starting-up connections, then returns what the attempt returns', async () => {
    const failures = [err('ECONNREFUSED'), err('57P03', 'the database system is starting up')];
    let calls = 0;
    const result = await retryConnect(
      async () => {
        calls++;
        const f = failures.shift();
        if (f) throw f;
        return 'connected';
      },
      { timeoutMs: 5_000, what: 'test', backoff: { initialDelayMs: 1, maxDelayMs: 2 } },
    );
    expect(result).toBe('connected');
    expect(calls).toBe(3);
  });

  it('throws a bad password or SQL error at once, and the last transient error after the timeout', async () => {
    let calls = 0;
    await expect(
      retryConnect(
        async () => {
          calls++;
          throw err('28P01', 'password authentication failed');
        },
        { timeoutMs: 5_000, what: 'test' },
      ),
    ).rejects.toThrow(/password authentication failed/);
    expect(calls).toBe(1);
    await expect(
      retryConnect(
        async () => {
          throw err('ECONNREFUSED');
        },
        { timeoutMs: 50, what: 'test', backoff: { initialDelayMs: 5, maxDelayMs: 10 } },
      ),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('classifies connection errors', () => {
    expect(isTransientConnectionError(err('ENOTFOUND'))).toBe(true);
    expect(isTransientConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientConnectionError(err('42P01'))).toBe(false);
    expect(isTransientConnectionError(undefined)).toBe(false);
  });
});
