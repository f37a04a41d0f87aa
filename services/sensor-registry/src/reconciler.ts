import type { CommandRequest, Commander } from '@sensor-streaming/control';
import type { ReconcileCandidate } from '@sensor-streaming/db';
import type { Logger } from '@sensor-streaming/runtime';
import type { RegistryMetrics } from './metrics.js';

export const RECONCILE_ISSUER = 'registry:reconcile';

function sameFrequency(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * The commands that bring a sensor from its reported to its desired state, in
 * the order to send them: the frequency first (it does not wake a sleeping
 * sensor), then sleep/awake. A desired frequency outside the sensor's
 * advertised range is not re-sent (the sensor would only reject it again).
 */
export function reconcileRequests(c: ReconcileCandidate): CommandRequest[] {
  const out: CommandRequest[] = [];
  const hz = c.desiredFrequencyHz;
  if (hz !== null && (c.reportedFrequencyHz === null || !sameFrequency(hz, c.reportedFrequencyHz))) {
    const belowMin = c.minFrequencyHz !== null && c.minFrequencyHz > 0 && hz < c.minFrequencyHz;
    const aboveMax = c.maxFrequencyHz !== null && c.maxFrequencyHz > 0 && hz > c.maxFrequencyHz;
    if (!belowMin && !aboveMax) out.push({ type: 'changesamplefrequency', sampleFrequencyHz: hz });
  }
  if (c.desiredState !== null && c.desiredState !== c.reportedState && c.reportedState !== 'OFFLINE') {
    out.push({ type: c.desiredState === 'ASLEEP' ? 'sleep' : 'awake' });
  }
  return out;
}

export interface ReconcilerOptions {
  commander: Pick<Commander, 'issue'>;
  minIntervalMs: number;
  ttlMs: number;
  logger: Logger;
  metrics: RegistryMetrics;
  now?: () => number;
}

export interface Reconciler {
  /** Sends what each candidate needs, unless that sensor was reconciled less than minIntervalMs ago. */
  consider(candidates: readonly ReconcileCandidate[]): void;
  /** Forgets rate-limit entries older than the interval (bounded memory). */
  prune(): void;
  /** Waits for the publishes in flight. */
  drain(): Promise<void>;
  /** Sensors currently rate-limited (tests, debugging). */
  readonly limited: number;
}

/**
 * Re-sends the commands that reconcile sensors, through the one command path
 * (createCommander, issuedBy `registry:reconcile`, no waiting for acks: the
 * registry sees the acks on its own queue). Rate-limited per sensor so a
 * sensor that keeps disagreeing cannot make it loop.
 */
export function createReconciler(opts: ReconcilerOptions): Reconciler {
  const now = opts.now ?? Date.now;
  const last = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const log = opts.logger;

  function send(serials: string[], request: CommandRequest): void {
    const p = opts.commander
      .issue(serials, request, { issuedBy: RECONCILE_ISSUER, ttlMs: opts.ttlMs, wait: false })
      .then((outcomes) => {
        for (const o of outcomes) {
          const ok = o.status === 'PUBLISHED';
          opts.metrics.reconcile(request.type, ok ? 'published' : 'failed');
          if (!ok)
            log.warn(
              { serial: o.serial, type: o.type, status: o.status, reason: o.reason },
              'reconcile command not sent',
            );
        }
      })
      .catch((err: unknown) => {
        for (const _ of serials) opts.metrics.reconcile(request.type, 'failed');
        log.warn({ err, type: request.type, sensors: serials.length }, 'reconcile commands not sent');
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  return {
    consider(candidates) {
      const t = now();
      const groups = new Map<string, { request: CommandRequest; serials: string[] }>();
      for (const c of candidates) {
        const requests = reconcileRequests(c);
        if (requests.length === 0) continue;
        const prev = last.get(c.serial);
        if (prev !== undefined && t - prev < opts.minIntervalMs) continue;
        last.set(c.serial, t);
        log.info(
          {
            serial: c.serial,
            desired: { state: c.desiredState, frequencyHz: c.desiredFrequencyHz },
            reported: { state: c.reportedState, frequencyHz: c.reportedFrequencyHz },
            commands: requests.map((r) => r.type),
          },
          'reconciling sensor',
        );
        for (const request of requests) {
          const key = `${request.type}:${request.sampleFrequencyHz ?? ''}`;
          let g = groups.get(key);
          if (g === undefined) {
            g = { request, serials: [] };
            groups.set(key, g);
          }
          g.serials.push(c.serial);
        }
      }
      // frequency changes first: per sensor they are published before its sleep/awake
      const ordered = [...groups.values()].sort(
        (a, b) =>
          Number(b.request.type === 'changesamplefrequency') -
          Number(a.request.type === 'changesamplefrequency'),
      );
      for (const g of ordered) send(g.serials, g.request);
    },
    prune() {
      const t = now();
      for (const [serial, at] of last) if (t - at >= opts.minIntervalMs) last.delete(serial);
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    get limited() {
      return last.size;
    },
  };
}
