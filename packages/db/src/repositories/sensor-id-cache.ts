import { LruMap } from '@sensor-streaming/runtime';
import type { Queryable } from '../pool.js';
import { type SensorId, upsertSensorsBySerial } from './sensors.js';

export interface SensorIdCache {
  /** Ids for every serial: cached ones from memory, the rest in one upsertSensorsBySerial call. */
  resolve(serials: readonly string[]): Promise<Map<string, SensorId>>;
  /** Forget everything (e.g. after a sensor was deleted). */
  clear(): void;
  readonly size: number;
}

/**
 * Serial -> id cache in front of upsertSensorsBySerial for ingesters: ids never
 * change once assigned, so entries never go stale; the least recently used are
 * evicted past `maxEntries` (default 100 000; an evicted serial is looked up
 * again on its next message), each eviction reported to `onEvict`.
 */
export function createSensorIdCache(
  db: Queryable,
  opts: { maxEntries?: number; onEvict?: () => void } = {},
): SensorIdCache {
  const ids = new LruMap<string, SensorId>({
    maxEntries: opts.maxEntries ?? 100_000,
    ...(opts.onEvict === undefined ? {} : { onEvict: () => opts.onEvict?.() }),
  });

  return {
    async resolve(serials) {
      const result = new Map<string, SensorId>();
      const missing: string[] = [];
      for (const serial of serials) {
        const id = ids.get(serial);
        if (id === undefined) missing.push(serial);
        else result.set(serial, id);
      }
      if (missing.length > 0) {
        for (const [serial, id] of await upsertSensorsBySerial(db, missing)) {
          result.set(serial, id);
          ids.set(serial, id);
        }
      }
      return result;
    },
    clear() {
      ids.clear();
    },
    get size() {
      return ids.size;
    },
  };
}
