/** A delivery that retrying cannot fix (e.g. HTTP 400): dropped at once. */
export class PermanentDeliveryError extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

export type DeliveryStatus = 'sent' | 'retried' | 'failed' | 'dropped';

export interface RetryQueueOptions<T> {
  name: string;
  send(item: T): Promise<void>;
  /** Items waiting; when full the oldest is dropped (status `dropped`). */
  limit: number;
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  onStatus?(status: DeliveryStatus, item: T, err?: unknown): void;
  /** Tests: deterministic jitter. Default Math.random. */
  random?: () => number;
}

interface Entry<T> {
  item: T;
  attempt: number;
  dueAt: number;
}

/**
 * A bounded, in-memory delivery queue with exponential backoff and jitter
 * (delay = min(max, initial * 2^(attempt-1)) * [0.5, 1)). `enqueue` never
 * waits, so rule evaluation is never blocked by a slow or dead receiver. One
 * delivery at a time, in order of due time; a failing item waits for its retry
 * while the others go ahead.
 */
export class RetryQueue<T> {
  private readonly entries: Entry<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly opts: RetryQueueOptions<T>) {
    this.random = opts.random ?? Math.random;
  }

  get size(): number {
    return this.entries.length;
  }

  enqueue(item: T): void {
    if (this.stopped) {
      this.opts.onStatus?.('dropped', item);
      return;
    }
    if (this.entries.length >= this.opts.limit) {
      const dropped = this.entries.shift() as Entry<T>;
      this.opts.onStatus?.('dropped', dropped.item);
    }
    this.entries.push({ item, attempt: 0, dueAt: Date.now() });
    this.schedule();
  }

  /** Stops retrying; gives in-flight and due deliveries until `deadlineMs` to finish. */
  async stop(deadlineMs = 5_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (!this.stopped && Date.now() < deadline) {
      const due = this.entries.some((e) => e.attempt === 0);
      if (!due && this.running === undefined) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    for (const e of this.entries.splice(0)) this.opts.onStatus?.('dropped', e.item);
  }

  private schedule(): void {
    if (this.stopped || this.running !== undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.entries.length === 0) return;
    const next = this.nextIndex();
    const wait = Math.max(0, (this.entries[next] as Entry<T>).dueAt - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOne().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, wait);
    this.timer.unref?.();
  }

  private nextIndex(): number {
    let best = 0;
    for (let i = 1; i < this.entries.length; i++) {
      if ((this.entries[i] as Entry<T>).dueAt < (this.entries[best] as Entry<T>).dueAt) best = i;
    }
    return best;
  }

  private async runOne(): Promise<void> {
    if (this.entries.length === 0) return;
    const idx = this.nextIndex();
    const entry = this.entries[idx] as Entry<T>;
    if (entry.dueAt > Date.now()) return;
    this.entries.splice(idx, 1);
    entry.attempt++;
    try {
      await this.opts.send(entry.item);
      this.opts.onStatus?.('sent', entry.item);
    } catch (err) {
      const permanent = (err as { permanent?: unknown })?.permanent === true;
      if (permanent || entry.attempt >= this.opts.maxAttempts || this.stopped) {
        this.opts.onStatus?.('failed', entry.item, err);
        return;
      }
      const base = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** (entry.attempt - 1));
      entry.dueAt = Date.now() + base * (0.5 + this.random() / 2);
      this.entries.push(entry);
      this.opts.onStatus?.('retried', entry.item, err);
    }
  }
}
