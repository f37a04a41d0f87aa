export interface BatchAccumulatorOptions<T> {
  /** Emit as soon as this many items are collected. */
  maxBatch: number;
  /** Emit at most this long after the first item of a batch arrived. */
  maxWaitMs: number;
  /** Receives each batch (never empty), oldest item first. */
  onBatch(items: T[]): void;
}

/** Collects items into batches of `maxBatch` items or `maxWaitMs` milliseconds, whichever comes first. */
export class BatchAccumulator<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: BatchAccumulatorOptions<T>;

  constructor(opts: BatchAccumulatorOptions<T>) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    }
    if (!Number.isFinite(opts.maxWaitMs) || opts.maxWaitMs < 0) {
      throw new RangeError(`maxWaitMs must be a non-negative number, got ${opts.maxWaitMs}`);
    }
    this.opts = opts;
  }

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.opts.maxBatch) {
      this.flush();
    } else if (this.items.length === 1) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.opts.maxWaitMs);
    }
  }

  /** Emit whatever is collected now (nothing if empty). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.opts.onBatch(batch);
  }

  /** Drop the collected items without emitting them; returns them. */
  clear(): T[] {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const dropped = this.items;
    this.items = [];
    return dropped;
  }
}
