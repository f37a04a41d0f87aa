import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DeliveryStatus, PermanentDeliveryError, RetryQueue } from './retry-queue.js';

describe('RetryQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries with exponential backoff, then gives up after maxAttempts', async () => {
    const attempts: number[] = [];
    const statuses: DeliveryStatus[] = [];
    const q = new RetryQueue<string>({
      name: 't',
      send: async () => {
        attempts.push(Date.now());
        throw new Error('down');
      },
      limit: 10,
      maxAttempts: 4,
      initialDelayMs: 100,
      maxDelayMs: 250,
      random: () => 1, // jitter factor 0.5 + 1/2 = 1
      onStatus: (s) => statuses.push(s),
    });
    const t0 = Date.now();
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(2_000);
    // delays: 100, 200, min(400, 250) = 250
    expect(attempts.map((t) => t - t0)).toEqual([0, 100, 300, 550]);
    expect(statuses).toEqual(['retried', 'retried', 'retried', 'failed']);
    expect(q.size).toBe(0);
  });

  it('never blocks the caller, drops the oldest when full, and lets others pass a failing item', async () => {
    const sent: string[] = [];
    const statuses: Array<[DeliveryStatus, string]> = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const q = new RetryQueue<string>({
      name: 't',
      send: async (s) => {
        if (s === 'slow') await gate;
        if (s === 'bad') throw new Error('temporary');
        if (s === 'rejected') throw new PermanentDeliveryError('400');
        sent.push(s);
      },
      limit: 3,
      maxAttempts: 3,
      initialDelayMs: 1000,
      maxDelayMs: 1000,
      random: () => 1,
      onStatus: (s, item) => statuses.push([s, item]),
    });
    q.enqueue('slow');
    await vi.advanceTimersByTimeAsync(0); // 'slow' in flight
    for (const s of ['bad', 'rejected', 'x', 'y']) q.enqueue(s); // returns at once; 'bad' is dropped (limit 3)
    expect(statuses).toEqual([['dropped', 'bad']]);
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect(sent).toEqual(['slow', 'x', 'y']);
    expect(statuses).toContainEqual(['failed', 'rejected']); // permanent: no retry
  });

  it('stop() gives due items a chance, then drops what is left', async () => {
    const statuses: Array<[DeliveryStatus, string]> = [];
    const q = new RetryQueue<string>({
      name: 't',
      send: async (s) => {
        if (s === 'bad') throw new Error('x');
      },
      limit: 10,
      maxAttempts: 5,
      initialDelayMs: 60_000,
      maxDelayMs: 60_000,
      onStatus: (s, item) => statuses.push([s, item]),
    });
    q.enqueue('bad');
    q.enqueue('ok');
    const stopped = q.stop(1000);
    await vi.advanceTimersByTimeAsync(1100);
    await stopped;
    expect(statuses).toEqual([
      ['retried', 'bad'],
      ['sent', 'ok'],
      ['dropped', 'bad'],
    ]);
  });
});
