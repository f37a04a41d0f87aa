import { LruMap, type RegistrationConfig, type SerialStateMetrics } from '@sensor-streaming/runtime';
import type { Queryable } from '../pool.js';
import { provisionedSerials } from './registration.js';
import { createSensorIdCache, type SensorIdCache } from './sensor-id-cache.js';

export interface RegistrationGate {
  readonly mode: RegistrationConfig['mode'];
  /**
   * The serials of the list that must be refused: none in open mode; in closed mode those not provisioned
   * (or revoked). Answers from memory; serials not known (or whose answer expired) are asked of PostgreSQL
   * in one query. Throws when the database cannot answer (the caller retries the batch).
   */
  refused(serials: readonly string[]): Promise<Set<string>>;
  /** Forget a serial's answer (e.g. right after provisioning or revoking it in this process). */
  forget(serial: string): void;
  readonly size: number;
}

export interface RegistrationGateOptions {
  config: RegistrationConfig;
  db: Queryable;
  /** A cached answer was evicted to keep the cache within config.maxEntries. */
  onEvict?(): void;
  /** A database lookup was made for `n` serials. */
  onLookup?(n: number): void;
  now?: () => number;
}

/**
 * The check closed registration makes for every message: a bounded LRU of serial -> provisioned, each answer
 * trusted for a TTL (provisioned: config.positiveTtlMs, unprovisioned: config.negativeTtlMs). A flood of
 * distinct unprovisioned serials costs one indexed query per batch and never grows memory past maxEntries.
 * A revoke takes effect within positiveTtlMs (the broker has already closed the device's connections); a
 * device just provisioned is admitted within negativeTtlMs.
 */
export function createRegistrationGate(opts: RegistrationGateOptions): RegistrationGate {
  const { config, db } = opts;
  const now = opts.now ?? Date.now;
  const cache = new LruMap<string, { ok: boolean; until: number }>({
    maxEntries: config.maxEntries,
    ...(opts.onEvict === undefined ? {} : { onEvict: () => opts.onEvict?.() }),
  });
  const none = new Set<string>();
  return {
    mode: config.mode,
    async refused(serials) {
      if (config.mode === 'open' || serials.length === 0) return none;
      const t = now();
      const out = new Set<string>();
      const ask: string[] = [];
      for (const s of serials) {
        const hit = cache.get(s);
        if (hit === undefined || hit.until <= t) ask.push(s);
        else if (!hit.ok) out.add(s);
      }
      if (ask.length > 0) {
        opts.onLookup?.(ask.length);
        const ok = await provisionedSerials(db, ask);
        const answeredAt = now();
        for (const s of ask) {
          const provisioned = ok.has(s);
          cache.set(s, {
            ok: provisioned,
            until: answeredAt + (provisioned ? config.positiveTtlMs : config.negativeTtlMs),
          });
          if (!provisioned) out.add(s);
        }
      }
      return out;
    },
    forget(serial) {
      cache.delete(serial);
    },
    get size() {
      return cache.size;
    },
  };
}

/** The dead-letter reason for a message of an unprovisioned serial. */
export function unprovisionedReason(serial: string): string {
  return `UNPROVISIONED: unprovisioned serial ${serial} (REGISTRATION=closed: provision it with iotctl sensors provision)`;
}

/**
 * What an ingester keeps per serial, bounded and measured (`sensor_streaming_serial_state_*`): the serial ->
 * sensor id cache (at most `sensorStateMax`), and in closed registration the gate its batch pipeline asks
 * which serials to refuse (dead-lettered with unprovisionedReason before any row exists); `registration` is
 * undefined in open mode (every serial admitted). Shared by the measurements and logs ingesters.
 */
export function createIngesterSerialState(opts: {
  db: Queryable;
  registration: RegistrationConfig;
  sensorStateMax: number;
  metrics: SerialStateMetrics;
}): {
  sensorIds: SensorIdCache;
  registration:
    | { refused(serials: readonly string[]): Promise<Set<string>>; reason(serial: string): string }
    | undefined;
} {
  const { metrics } = opts;
  const sensorIds = createSensorIdCache(opts.db, {
    maxEntries: opts.sensorStateMax,
    onEvict: () => metrics.evicted('ingester.sensor_ids'),
  });
  metrics.trackSize('ingester.sensor_ids', () => sensorIds.size);
  const gate = createRegistrationGate({
    config: opts.registration,
    db: opts.db,
    onEvict: () => metrics.evicted('ingester.registration'),
    onLookup: (n) => metrics.registrationLookups(n),
  });
  metrics.trackSize('ingester.registration', () => gate.size);
  return {
    sensorIds,
    registration:
      opts.registration.mode === 'closed'
        ? { refused: (serials) => gate.refused(serials), reason: unprovisionedReason }
        : undefined,
  };
}
