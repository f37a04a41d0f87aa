import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { backoffDelay } from './backoff.js';
import { BatchAccumulator } from './batch-accumulator.js';
import { type Delivery, toDelivery } from './delivery.js';
import { errorReason, isPermanentError, isReleaseError } from './errors.js';
import type { BusLogger } from './logger.js';
import type { BusMetrics, DeadLetterCause } from './metrics.js';
import type { Publisher } from './publisher.js';
import { type Pending, type SettleQueue, Settler, settleQueue } from './settle.js';
import { declareQueueOn, type QueueSpec } from './topology.js';

export interface Consumer {
  /** Cancel, wait for the in-flight handler or batch and settle it, close the channel. */
  stop(): Promise<void>;
  /**
   * Stop taking deliveries (basic.cancel; survives reconnects) and give what was prefetched but not yet
   * handed to the handler back to the queue without counting a delivery. Resolves when that is done.
   */
  pause(): Promise<void>;
  /** Consume again after pause(). */
  resume(): Promise<void>;
  isPaused(): boolean;
}

export interface BatchOutcome {
  /** Indices (into the batch) to dead-letter with their reason; every other message is acked. */
  rejected?: Array<{ index: number; reason: string }>;
}

export type ConsumerMode =
  | { kind: 'single'; concurrency: number; handler(d: Delivery): Promise<void> }
  | { kind: 'batch'; maxBatch: number; maxWaitMs: number; handler(ds: Delivery[]): Promise<BatchOutcome> };

export interface ConsumerDeps {
  logger: BusLogger;
  metrics: BusMetrics;
  publisher: Publisher;
  /** The user_id the publisher stamps (this bus's own user): trusted on the copies it releases. */
  userId: string | undefined;
  onStopped(c: ManagedConsumer): void;
}

/**
 * One consumer on its own channel of the consume connection. Survives channel and connection loss: the
 * bus calls attach() after every (re)connect; a lost channel alone is re-opened here.
 */
export class ManagedConsumer implements Consumer {
  private readonly deps: ConsumerDeps;
  readonly queue: QueueSpec;
  private readonly prefetch: number;
  private readonly mode: ConsumerMode;
  private readonly log: BusLogger;
  private readonly label: string;
  private readonly settleAs: SettleQueue;
  private readonly settler: Settler;
  private model: ChannelModel | undefined;
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private stopping = false;
  private paused: boolean;
  private attachFailures = 0;
  private reattachTimer: NodeJS.Timeout | undefined;
  // single mode
  private readonly backlog: Pending[] = [];
  private active = 0;
  // batch mode
  private readonly accumulator: BatchAccumulator<Pending> | undefined;
  private batchChain: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  private readonly stopSignal = new AbortController();

  constructor(
    deps: ConsumerDeps,
    queue: QueueSpec,
    prefetch: number,
    mode: ConsumerMode,
    retryDelayMs = 250,
    startPaused = false,
  ) {
    this.deps = deps;
    this.paused = startPaused;
    this.queue = queue;
    this.prefetch = prefetch;
    this.mode = mode;
    this.settleAs = settleQueue(queue);
    this.label = this.settleAs.label;
    this.log = deps.logger.child({ component: 'consumer', queue: queue.name });
    this.settler = new Settler({
      logger: deps.logger.child({ component: 'consumer' }),
      metrics: deps.metrics,
      publisher: deps.publisher,
      isLive: (p) => p.ch === this.channel,
      retryDelayMs,
      signal: this.stopSignal.signal,
    });
    if (mode.kind === 'batch') {
      if (prefetch < mode.maxBatch) {
        this.log.warn({ prefetch, maxBatch: mode.maxBatch }, 'prefetch below maxBatch: batches cannot fill');
      }
      this.accumulator = new BatchAccumulator<Pending>({
        maxBatch: mode.maxBatch,
        maxWaitMs: mode.maxWaitMs,
        onBatch: (items) => {
          this.batchChain = this.batchChain
            .then(() => this.processBatch(items))
            .catch((err: unknown) => this.log.error({ err }, 'bug: batch processing failed'));
        },
      });
    }
  }

  /** Declare the queue and start consuming on a fresh channel of `model`. Throws if that fails. */
  async attach(model: ChannelModel): Promise<void> {
    this.model = model;
    if (this.stopping) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.log.warn({ err }, 'consumer channel error'));
    ch.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event }, 'bug: a consumer channel event handler threw'),
    );
    ch.on('close', () => this.channelLost(ch));
    try {
      await declareQueueOn(ch, this.queue);
      await ch.prefetch(this.prefetch);
      this.channel = ch;
      if (!this.paused) await this.startConsuming(ch);
      this.attachFailures = 0;
    } catch (err) {
      if (this.channel === ch) this.channel = undefined;
      await ch.close().catch(() => undefined);
      throw err;
    }
  }

  private async startConsuming(ch: Channel): Promise<void> {
    const opts: Options.Consume = { noAck: false };
    const { consumerTag } = await ch.consume(this.queue.name, (msg) => this.onMessage(ch, msg), opts);
    if (this.channel === ch) this.consumerTag = consumerTag;
    this.log.info({ prefetch: this.prefetch, mode: this.mode.kind }, 'consuming');
  }

  isPaused(): boolean {
    return this.paused;
  }

  async pause(): Promise<void> {
    if (this.paused || this.stopping) return;
    this.paused = true;
    const ch = this.channel;
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (ch && tag) {
      try {
        await ch.cancel(tag); // after cancel-ok nothing more arrives on this consumer
      } catch (err) {
        this.log.debug({ err }, 'cancel failed (channel already closed)');
      }
    }
    // prefetched, not yet handed to the handler: back to the queue, uncounted
    const held = [...(this.accumulator?.clear() ?? []), ...this.backlog.splice(0)];
    this.notifyIdle();
    if (held.length > 0) await this.release(held, 'consumer paused');
    this.log.info({ released: held.length }, 'consumer paused');
  }

  async resume(): Promise<void> {
    if (!this.paused || this.stopping) return;
    this.paused = false;
    const ch = this.channel;
    if (ch && !this.consumerTag) {
      try {
        await this.startConsuming(ch);
      } catch (err) {
        // the channel is broken: it closes, and attach() on the next channel consumes (not paused)
        this.log.warn({ err }, 'cannot resume consuming on this channel; waiting for the next one');
      }
    }
  }

  /** The consume connection is gone: forget what was prefetched on it (the broker redelivers it). */
  detach(): void {
    this.model = undefined;
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    if (this.channel) this.channelLost(this.channel);
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.waitIdle();
    this.stopping = true;
    this.stopSignal.abort();
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    const ch = this.channel;
    const tag = this.consumerTag;
    if (ch && tag) {
      try {
        await ch.cancel(tag);
      } catch (err) {
        this.log.debug({ err }, 'cancel failed (channel already closed)');
      }
    }
    // a batch already collected is handled and acked; single messages not yet handed to the handler are
    // left unacked and return to the queue when the channel closes
    this.accumulator?.flush();
    this.backlog.length = 0;
    await this.waitIdle();
    this.channel = undefined;
    // bounded: a channel whose connection the broker is closing at this very moment may never see its
    // close-ok (seen when a broker-side close raced a stop); the connection's own end settles it
    if (ch) await withDeadline(ch.close(), CHANNEL_CLOSE_TIMEOUT_MS);
    this.deps.onStopped(this);
    this.log.info({}, 'consumer stopped');
  }

  private async waitIdle(): Promise<void> {
    for (;;) {
      const chain = this.batchChain;
      await chain;
      if (chain === this.batchChain) break;
    }
    if (this.active === 0 && this.backlog.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private channelLost(ch: Channel): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    const dropped = this.backlog.length + (this.accumulator?.size ?? 0);
    this.backlog.length = 0;
    this.accumulator?.clear();
    this.notifyIdle();
    this.log.warn({ dropped }, 'consumer channel lost; unacked messages will be redelivered');
    if (this.model && !this.stopping) this.scheduleReattach(this.model);
  }

  /** The first attach failed and the caller gave up on this consumer: never retry. */
  abandon(): void {
    this.stopping = true;
    this.model = undefined;
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
  }

  /** Try attach() again later (after a failed attach on reconnect). */
  retryLater(model: ChannelModel): void {
    if (this.model !== model) return; // a newer connection took over
    this.scheduleReattach(model);
  }

  private scheduleReattach(model: ChannelModel): void {
    if (this.reattachTimer) return;
    this.attachFailures++;
    const delay = backoffDelay(this.attachFailures, { initialDelayMs: 200, maxDelayMs: 10_000 });
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = undefined;
      if (this.model !== model || this.stopping || this.channel) return;
      this.attach(model).catch((err: unknown) => {
        this.log.warn({ err }, 'cannot resume consumer, retrying');
        this.scheduleReattach(model);
      });
    }, delay);
  }

  private onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // cancelled by the broker (queue deleted, ...): re-declare and consume again
      this.log.warn({}, 'consumer cancelled by the broker');
      ch.close().catch(() => undefined);
      this.channelLost(ch);
      return;
    }
    if (this.channel !== ch) return;
    const p: Pending = {
      msg,
      ch,
      delivery: toDelivery(msg, this.queue.name, this.deps.userId),
      queue: this.settleAs,
    };
    if (this.accumulator) {
      this.accumulator.add(p);
    } else {
      this.backlog.push(p);
      this.runWorkers();
    }
  }

  private runWorkers(): void {
    if (this.mode.kind !== 'single') return;
    const { handler, concurrency } = this.mode;
    while (this.active < concurrency && this.backlog.length > 0) {
      const p = this.backlog.shift()!;
      if (p.ch !== this.channel) continue;
      this.active++;
      void this.processOne(p, handler).finally(() => {
        this.active--;
        this.runWorkers();
        this.notifyIdle();
      });
    }
  }

  private notifyIdle(): void {
    if (this.active > 0 || this.backlog.length > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async processOne(p: Pending, handler: (d: Delivery) => Promise<void>): Promise<void> {
    this.deps.metrics.consumed.inc({ queue: this.label });
    try {
      await handler(p.delivery);
    } catch (err) {
      await this.fail(p, err);
      return;
    }
    this.ack(p, false);
  }

  private async processBatch(items: Pending[]): Promise<void> {
    if (this.mode.kind !== 'batch') return;
    const live = items.filter((p) => p.ch === this.channel);
    if (live.length === 0) return;
    this.deps.metrics.consumed.inc({ queue: this.label }, live.length);
    let outcome: BatchOutcome | undefined;
    try {
      outcome = await this.mode.handler(live.map((p) => p.delivery));
    } catch (err) {
      if (isReleaseError(err)) {
        // a dependency is down: give the batch back uncounted (never towards the delivery limit)
        this.log.warn({ err, size: live.length }, 'dependency unavailable; releasing the batch to the queue');
        await this.release(live, errorReason(err));
        return;
      }
      // the whole batch failed: log once, then each message is requeued or dead-lettered on its own count
      this.log.warn(
        { err, size: live.length, permanent: isPermanentError(err) },
        'batch handler failed for the whole batch',
      );
      await Promise.all(live.map((p) => this.fail(p, err, true)));
      return;
    }
    const rejected = new Map<number, string>();
    for (const r of outcome?.rejected ?? []) {
      if (!Number.isInteger(r?.index) || r.index < 0 || r.index >= live.length) {
        this.log.error(
          { index: r?.index, size: live.length },
          'bug: batch handler rejected an invalid index',
        );
        continue;
      }
      rejected.set(r.index, typeof r.reason === 'string' && r.reason !== '' ? r.reason : 'rejected');
    }
    // dead-letter the rejected ones first (copy to the DLX, confirmed) ...
    const requeue = new Set<number>();
    await Promise.all(
      [...rejected].map(async ([index, reason]) => {
        const p = live[index]!;
        if (!(await this.publishDeadLetter(p, reason, 'rejected'))) requeue.add(index);
      }),
    );
    // ... settle the ones whose copy failed, then one multiple ack covers the rest of the batch
    for (const index of requeue) this.nack(live[index]!, true);
    let last = -1;
    for (let i = live.length - 1; i >= 0; i--) {
      if (!requeue.has(i)) {
        last = i;
        break;
      }
    }
    if (last >= 0) this.ack(live[last]!, true, live.length - rejected.size);
  }

  private fail(p: Pending, err: unknown, quiet = false): Promise<void> {
    return this.settler.fail(p, err, quiet);
  }

  private release(items: Pending[], reason: string): Promise<void> {
    return this.settler.release(items, reason);
  }

  private publishDeadLetter(p: Pending, reason: string, cause: DeadLetterCause): Promise<boolean> {
    return this.settler.publishDeadLetter(p, reason, cause);
  }

  private ack(p: Pending, multiple: boolean, count = 1): void {
    this.settler.ack(p, multiple, count);
  }

  private nack(p: Pending, requeue: boolean): void {
    this.settler.nack(p, requeue);
  }
}

const CHANNEL_CLOSE_TIMEOUT_MS = 5_000;

/** Waits for `p` (ignoring its failure) at most `ms`. */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
