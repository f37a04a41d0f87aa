import { randomUUID } from 'node:crypto';
import type { BatchOutcome, Delivery, QueueSpec } from '@sensor-streaming/bus';
import { type Pool, recordSensorTraffic, type SensorTrafficInput } from '@sensor-streaming/db';
import { bindingPatterns, measurementBatchCodec, parseRoutingKey } from '@sensor-streaming/protocol';
import { type Logger, LruMap } from '@sensor-streaming/runtime';
import type { ChannelSeriesStore } from './channel-series.js';
import type { RegistryMetrics } from './metrics.js';

/** Samples are counted over windows of at least this long before a rate is written. */
export const RATE_WINDOW_MS = 2_000;

/**
 * The registry's view of the data and logs traffic: a private, non-durable queue per registry process (in
 * memory on the broker: persistent messages are not written to disk for it), whose messages expire after
 * 10 s and are never dead-lettered. Liveness is best effort; the ingesters own the data itself.
 */
export function trafficQueue(registryQueue: string): QueueSpec {
  return {
    name: `${registryQueue}.traffic.${randomUUID().slice(0, 8)}`,
    type: 'classic',
    bindings: [bindingPatterns.data, bindingPatterns.logs],
    exclusive: true,
    autoDelete: true,
    messageTtlMs: 10_000,
    deadLetter: false,
  };
}

export interface TrafficHandlerOptions {
  pool: Pool;
  logger: Logger;
  metrics: RegistryMetrics;
  /** Recent values per channel, for the sparklines of sensors.show. */
  series?: ChannelSeriesStore;
  now?: () => number;
  /** Sensors whose rate window is kept at most (least recently seen evicted: its rate restarts). Default 100000. */
  maxSensors?: number;
  onEvict?(): void;
  /** Closed registration: the serials whose traffic is ignored (not provisioned or revoked). */
  refused?(serials: readonly string[]): Promise<ReadonlySet<string>>;
}

interface RateWindow {
  startMs: number;
  samples: number;
  lastMs: number;
}

/**
 * Liveness from data and logs (issue 12): per batch, one UPDATE moves `last_seen_at` / `last_data_at` to the
 * receive time and writes the samples per second counted over each sensor's recent batches. A message that
 * cannot be read is skipped here (the ingesters dead-letter it); a failed write is logged and the batch
 * dropped: the next one, a moment later, says the same.
 */
export function createTrafficHandler(opts: TrafficHandlerOptions): (ds: Delivery[]) => Promise<BatchOutcome> {
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const windows = new LruMap<string, RateWindow>({
    maxEntries: opts.maxSensors ?? 100_000,
    ...(opts.onEvict === undefined ? {} : { onEvict: () => opts.onEvict?.() }),
  });
  const none: ReadonlySet<string> = new Set();

  function countSamples(serial: string, samples: number, t: number): number | undefined {
    const w = windows.get(serial);
    // the first batch opens the window: its samples were taken before it started
    if (w === undefined || t - w.lastMs > 10 * RATE_WINDOW_MS) {
      windows.set(serial, { startMs: t, samples: 0, lastMs: t });
      return undefined;
    }
    w.samples += samples;
    w.lastMs = t;
    const elapsed = t - w.startMs;
    if (elapsed < RATE_WINDOW_MS) return undefined;
    const rate = (w.samples * 1000) / elapsed;
    w.startMs = t;
    w.samples = 0;
    return rate;
  }

  return async (ds) => {
    const t = now();
    const tUs = t * 1000;
    const traffic: SensorTrafficInput[] = [];
    let data = 0;
    let logs = 0;
    let refusedNow = none;
    if (opts.refused !== undefined) {
      const serials = new Set<string>();
      for (const d of ds) {
        try {
          serials.add(parseRoutingKey(d.routingKey).serial);
        } catch {}
      }
      try {
        refusedNow = await opts.refused([...serials]);
      } catch (err) {
        log.warn({ err, messages: ds.length }, 'cannot check registration; dropping this liveness batch');
        return {};
      }
    }
    for (const d of ds) {
      let key: ReturnType<typeof parseRoutingKey>;
      try {
        key = parseRoutingKey(d.routingKey);
      } catch {
        continue;
      }
      if (refusedNow.has(key.serial)) continue;
      if (key.kind === 'logs') {
        logs++;
        traffic.push({ serial: key.serial, seenAtUs: tUs });
      } else if (key.kind === 'data') {
        data++;
        let samples: number;
        try {
          const batch = measurementBatchCodec.decode(d.body, d.contentType);
          samples = batch.values.length;
          opts.series?.add(key.serial, batch.channel, batch.values, t);
        } catch {
          continue;
        }
        const rate = countSamples(key.serial, samples, t);
        traffic.push({
          serial: key.serial,
          seenAtUs: tUs,
          dataAtUs: tUs,
          ...(rate === undefined ? {} : { samplesPerSecond: rate }),
        });
      }
    }
    if (data > 0) opts.metrics.received('data', data);
    if (logs > 0) opts.metrics.received('logs', logs);
    try {
      const back = await recordSensorTraffic(opts.pool, traffic);
      if (back.length > 0) {
        log.info({ count: back.length, serials: back.slice(0, 20) }, 'sensors back online (data or logs)');
      }
    } catch (err) {
      log.warn({ err, messages: ds.length }, 'cannot record liveness from data/logs; dropping this batch');
    }
    return {};
  };
}
