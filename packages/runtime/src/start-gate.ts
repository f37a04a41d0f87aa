import type { HealthCheck } from './http-server.js';
import type { Logger } from './logger.js';

/**
 * A precondition of start(): the service does not take work until every gate
 * passes, and /readyz lists a closed gate as failing. The database schema
 * level (`createSchemaGate` in @sensor-streaming/db) is the one in use: new
 * code must not consume messages against an old schema. A gate logs its own
 * reason (what is missing, what to run); it should be cheap once open.
 */
export type StartGate = HealthCheck;

export interface WaitForGatesOptions {
  logger: Logger;
  /** Pause between evaluations. Default 2000 ms. */
  intervalMs?: number;
  /** Aborting ends the wait early (shutdown during the wait); resolves false. */
  signal?: AbortSignal;
}

/**
 * Resolves true once every gate passes (evaluated together, a throwing gate
 * counts as closed), false when `signal` aborts first. Logs one line when it
 * starts waiting and one when the gates open.
 */
export async function waitForGates(gates: StartGate[], opts: WaitForGatesOptions): Promise<boolean> {
  const intervalMs = opts.intervalMs ?? 2_000;
  const started = Date.now();
  let announced = false;
  for (;;) {
    if (opts.signal?.aborted) return false;
    const results = await Promise.all(
      gates.map(async (g) => {
        try {
          return (await g.check()) === true;
        } catch {
          return false;
        }
      }),
    );
    const closed = gates.filter((_, i) => !results[i]).map((g) => g.name);
    if (closed.length === 0) {
      if (announced) opts.logger.info({ waitedMs: Date.now() - started }, 'start gates open; starting');
      return true;
    }
    if (!announced) {
      opts.logger.warn(
        { gates: closed },
        `not starting until ${closed.join(', ')} allow it (/readyz is 503)`,
      );
      announced = true;
    }
    if (opts.signal?.aborted) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, intervalMs);
      function done() {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
}
