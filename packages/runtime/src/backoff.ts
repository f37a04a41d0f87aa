export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Multiplier per attempt, default 2. */
  factor?: number;
  /** Fraction of the delay that is randomised (0..1), default 0.5: the delay lies in [base*(1-jitter), base]. */
  jitter?: number;
}

/**
 * Exponential backoff with jitter for reconnect attempt `attempt` (1-based).
 * The base grows `initial * factor^(attempt-1)` up to `maxDelayMs`; the jitter only ever
 * shortens it, so the result never exceeds `maxDelayMs` and never drops below
 * `base * (1 - jitter)`.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const n = Math.max(1, Math.floor(attempt));
  // cap the exponent so huge attempt numbers do not overflow to Infinity * 0 = NaN
  const exp = Math.min(n - 1, 64);
  const base = Math.min(opts.maxDelayMs, opts.initialDelayMs * factor ** exp);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - jitter + jitter * r));
}

/** A sleep that `abort()` ends early (resolving, not rejecting). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
