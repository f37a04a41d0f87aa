import { Counter, Gauge, type Registry } from 'prom-client';

/** Metrics of bounded per-serial state (LruMap) and of closed registration, the same in every service. */
export interface SerialStateMetrics {
  /** An entry of the named per-serial map was evicted to keep it within its bound. */
  evicted(map: string): void;
  /** Tracks a map's size (read at scrape time). */
  trackSize(map: string, size: () => number): void;
  /** Serials asked of PostgreSQL by the registration check. */
  registrationLookups(n: number): void;
  /** A message refused because its serial is not provisioned (closed registration). */
  unprovisioned(kind: string): void;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** `map` label values are fixed names in code (e.g. `rule_engine.sensors`), never serials. */
export function createSerialStateMetrics(registry: Registry): SerialStateMetrics {
  const evictions = counter(
    registry,
    'sensor_streaming_serial_state_evictions_total',
    'Entries evicted from a per-serial map to keep it within its bound (SENSOR_STATE_MAX), by map.',
    ['map'],
  );
  const lookups = counter(
    registry,
    'sensor_streaming_registration_lookups_total',
    'Serials whose provisioning was asked of PostgreSQL (closed registration; cache misses and expiries).',
    [],
  );
  const refused = counter(
    registry,
    'sensor_streaming_unprovisioned_messages_total',
    'Messages refused because their serial is not provisioned or was revoked (REGISTRATION=closed), by kind.',
    ['kind'],
  );
  const sizes = new Map<string, () => number>();
  if (!registry.getSingleMetric('sensor_streaming_serial_state_entries')) {
    new Gauge({
      name: 'sensor_streaming_serial_state_entries',
      help: 'Entries in a per-serial map (bounded by SENSOR_STATE_MAX), by map.',
      labelNames: ['map'],
      registers: [registry],
      collect() {
        for (const [map, size] of sizes) this.set({ map }, size());
      },
    });
  }
  return {
    evicted: (map) => evictions.inc({ map }),
    trackSize: (map, size) => sizes.set(map, size),
    registrationLookups: (n) => lookups.inc(n),
    unprovisioned: (kind) => refused.inc({ kind }),
  };
}
