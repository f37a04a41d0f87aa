import type { ChannelSeries } from '@sensor-streaming/control';
import { LruMap } from '@sensor-streaming/runtime';

/** Bucket width and count of the recent-values memory: 60 buckets of 5 s = the last five minutes. */
export const SERIES_BUCKET_MS = 5_000;
export const SERIES_BUCKETS = 60;
/** Sensor channels remembered at most (~0.7 kB each); beyond it the least recently fed sensors are forgotten. */
export const SERIES_MAX_KEYS = 50_000;

interface Ring {
  channel: string;
  sums: Float64Array;
  counts: Uint32Array;
  lastBucket: number;
}

/**
 * The last minutes of every sensor channel, averaged per bucket, kept in memory from the data the registry
 * reads for liveness anyway: `iotctl sensors show` draws its sparklines from it without a query over the
 * measurements hypertable (whose key starts with time: a per-sensor window would scan every sensor's rows).
 * Starts empty after a restart and fills within minutes.
 */
export class ChannelSeriesStore {
  private readonly bySerial: LruMap<string, Map<string, Ring>>;
  private keys = 0;
  private readonly maxKeys: number;

  constructor(opts: { maxSensors?: number; maxKeys?: number; onEvict?: () => void } = {}) {
    this.maxKeys = opts.maxKeys ?? SERIES_MAX_KEYS;
    this.bySerial = new LruMap({
      maxEntries: opts.maxSensors ?? 100_000,
      onEvict: (_serial, channels) => {
        this.keys -= channels.size;
        opts.onEvict?.();
      },
    });
  }

  get sensors(): number {
    return this.bySerial.size;
  }

  add(serial: string, channel: string, values: readonly number[], atMs: number): void {
    if (values.length === 0) return;
    let channels = this.bySerial.get(serial);
    let ring = channels?.get(channel);
    if (ring === undefined) {
      // full: forget the sensor fed least recently (its sparkline starts again if it comes back)
      for (const [oldest, rings] of this.bySerial) {
        if (this.keys < this.maxKeys || oldest === serial) break;
        this.bySerial.delete(oldest);
        this.keys -= rings.size;
      }
      if (this.keys >= this.maxKeys) return;
      ring = {
        channel,
        sums: new Float64Array(SERIES_BUCKETS),
        counts: new Uint32Array(SERIES_BUCKETS),
        lastBucket: Math.floor(atMs / SERIES_BUCKET_MS),
      };
      if (channels === undefined) {
        channels = new Map();
        this.bySerial.set(serial, channels);
      }
      channels.set(channel, ring);
      this.keys++;
    }
    const bucket = Math.floor(atMs / SERIES_BUCKET_MS);
    this.advance(ring, bucket);
    if (bucket <= ring.lastBucket - SERIES_BUCKETS) return; // older than the window
    const i = bucket % SERIES_BUCKETS;
    let sum = 0;
    for (const v of values) sum += v;
    ring.sums[i] = (ring.sums[i] ?? 0) + sum;
    ring.counts[i] = (ring.counts[i] ?? 0) + values.length;
  }

  /** The channels of `serial`, oldest bucket first, ending with the bucket of `nowMs`. */
  series(serial: string, nowMs: number): ChannelSeries[] {
    const channels = this.bySerial.peek(serial);
    if (channels === undefined) return [];
    const last = Math.floor(nowMs / SERIES_BUCKET_MS);
    const first = last - SERIES_BUCKETS + 1;
    const out: ChannelSeries[] = [];
    for (const ring of channels.values()) {
      this.advance(ring, last);
      const values: Array<number | null> = [];
      for (let b = first; b <= last; b++) {
        const i = b % SERIES_BUCKETS;
        const n = ring.counts[i] ?? 0;
        values.push(n === 0 ? null : (ring.sums[i] ?? 0) / n);
      }
      out.push({
        channel: ring.channel,
        bucketSeconds: SERIES_BUCKET_MS / 1000,
        values,
        from: new Date(first * SERIES_BUCKET_MS).toISOString(),
      });
    }
    return out.sort((a, b) => (a.channel < b.channel ? -1 : 1));
  }

  /** Clears the buckets that fell out of the window since the ring last moved. */
  private advance(ring: Ring, bucket: number): void {
    if (bucket <= ring.lastBucket) return;
    const steps = Math.min(SERIES_BUCKETS, bucket - ring.lastBucket);
    for (let k = 1; k <= steps; k++) {
      const i = (ring.lastBucket + k) % SERIES_BUCKETS;
      ring.sums[i] = 0;
      ring.counts[i] = 0;
    }
    ring.lastBucket = bucket;
  }
}
