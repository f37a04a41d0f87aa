import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortableSleep, backoffDelay } from './backoff.js';

const opts = { initialDelayMs: 100, maxDelayMs: 5000 };

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay when the random draw is 1 (no shortening)', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, opts, () => 1))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('never exceeds maxDelayMs, even for huge attempt numbers', () => {
    for (const attempt of [7, 10, 50, 1000, Number.MAX_SAFE_INTEGER]) {
      const d = backoffDelay(attempt, opts, () => 1);
      expect(d).toBe(5000);
      expect(Number.isFinite(d)).toBe(true);
    }
  });

  it('keeps jittered delays within [base*(1-jitter), base]', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let attempt = 1; attempt <= 12; attempt++) {
      const base = Math.min(5000, 100 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, { ...opts, jitter: 0.3 }, random);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.7));
        expect(d).toBeLessThanOrEqual(base);
      }
    }
  });

  it('spreads delays (jitter is actually applied) with the default jitter of 0.5', () => {
    expect(backoffDelay(3, opts, () => 0)).toBe(200);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(300);
    expect(backoffDelay(3, opts, () => 1)).toBe(400);
  });

  it('treats attempt < 1 as the first attempt and clamps out-of-range random values', () => {
    expect(backoffDelay(0, opts, () => 1)).toBe(100);
    expect(backoffDelay(-3, opts, () => 2)).toBe(100);
    expect(backoffDelay(2, opts, () => -1)).toBe(100);
  });
});

describe('abortableSleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the delay', async () => {
    vi.useFakeTimers();
    let done = false;
    void abortableSleep(1000, new AbortController().signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('resolves early when aborted', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    let done = false;
    void abortableSleep(60_000, ac.signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
