/**
 * A Map with a size bound: reading or writing an entry makes it the most recent; past `maxEntries` the least
 * recently used entries are evicted (`onEvict` is told of each). For per-serial state, where the keys come from
 * the wire and an attacker (or a bug) can send any number of distinct serials.
 *
 * `canEvict` may pin an entry (e.g. a sensor with an open alarm): pinned entries are skipped, at most
 * `maxScan` of them per eviction, so the map may then exceed its bound by the number of pinned entries rather
 * than evict state that must not be lost.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  readonly maxEntries: number;
  private readonly onEvict: ((key: K, value: V) => void) | undefined;
  private readonly canEvict: ((key: K, value: V) => boolean) | undefined;
  private readonly maxScan: number;

  constructor(opts: {
    maxEntries: number;
    onEvict?: (key: K, value: V) => void;
    canEvict?: (key: K, value: V) => boolean;
    maxScan?: number;
  }) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1)
      throw new RangeError(`maxEntries must be a positive integer, got ${opts.maxEntries}`);
    this.maxEntries = opts.maxEntries;
    this.onEvict = opts.onEvict;
    this.canEvict = opts.canEvict;
    this.maxScan = opts.maxScan ?? 64;
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, made the most recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** The value without changing its recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): this {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.maxEntries) this.evict();
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  private evict(): void {
    let scanned = 0;
    for (const [k, v] of this.map) {
      if (this.map.size <= this.maxEntries || scanned >= this.maxScan) return;
      scanned++;
      if (this.canEvict !== undefined && !this.canEvict(k, v)) continue;
      this.map.delete(k);
      this.onEvict?.(k, v);
    }
  }
}
