import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { backoffDelay } from './backoff.js';
import type { Consumer } from './consumer.js';
import { type Delivery, toDelivery } from './delivery.js';
import type { BusLogger } from './logger.js';
import type { BusMetrics } from './metrics.js';
import type { Publisher } from './publisher.js';
import { type Pending, type SettleQueue, Settler, settleQueue } from './settle.js';
import { declareQueueOn, type QueueSpec, validateQueueSpec } from './topology.js';

/** A consumer of many queues (e.g. one per sensor); queues can be added and removed while it runs. */
export interface MultiConsumer extends Consumer {
  /** Declare and consume these queues too (already consumed ones are skipped). */
  add(queues: readonly QueueSpec[]): Promise<void>;
  /**
   * Stop consuming these queues (the queues stay). Messages taken from them but not yet handed to the handler
   * go back to their queue; a handler already running finishes and acks.
   */
  remove(names: readonly string[]): Promise<void>;
  /** Queues it consumes (or will, once connected). */
  size(): number;
  /** True while connected and every queue has its consumer on the broker. */
  isConsuming(): boolean;
}

export interface MultiConsumerOptions {
  /** Consumers per channel. */
  queuesPerChannel: number;
  /** At most this many channels (a connection has at most channel_max, 2047 by default). */
  maxChannels: number;
  /** Unacked messages per queue (basic.qos per consumer). */
  prefetch: number;
  /** Unacked messages per channel, shared by its consumers (basic.qos global); classic queues only. */
  channelPrefetch?: number;
  /** Handler calls running at once, over all queues; the messages of one queue are handled in order. */
  concurrency: number;
  retryDelayMs: number;
  /** Channels used at once to declare queues (amqplib runs one RPC at a time per channel). */
  declareChannels: number;
  /** Extra declarations on every (re)connect, before consuming. */
  setup?: (ch: Channel) => Promise<void>;
  handler(d: Delivery): Promise<void>;
}

export interface MultiConsumerDeps {
  logger: BusLogger;
  metrics: BusMetrics;
  publisher: Publisher;
  /** The user_id the publisher stamps (this bus's own user): trusted on the copies it releases. */
  userId: string | undefined;
  onStopped(c: MultiQueueConsumer): void;
}

interface QueueState {
  spec: QueueSpec;
  settle: SettleQueue;
  slot: Slot;
  /** Consumer tag while subscribed; 'subscribing' while basic.consume is in flight. */
  tag: string | undefined;
  subscribing: boolean;
  removed: boolean;
  /** Taken from the broker, not yet handed to the handler. */
  backlog: Pending[];
  running: boolean;
  /** In the runnable list. */
  queued: boolean;
  retryTimer: NodeJS.Timeout | undefined;
  failures: number;
}

interface Slot {
  index: number;
  queues: Set<QueueState>;
  ch: Channel | undefined;
  opening: Promise<void> | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Consumes many queues over few channels of the bus's consume connection: each channel carries up to
 * `queuesPerChannel` consumers, channels are added up to `maxChannels`. One channel per queue would cap a
 * process at the broker's channel_max (2047) and cost memory on both sides. After a reconnect every queue is
 * declared again (in parallel over `declareChannels` channels) and consumed again; a channel lost alone is
 * re-opened with backoff; a consumer the broker cancels (queue deleted) is re-declared and consumed again.
 * Failed messages are settled as by the single-queue consumer (requeue, release, dead-letter).
 */
export class MultiQueueConsumer implements MultiConsumer {
  private readonly deps: MultiConsumerDeps;
  private readonly opts: MultiConsumerOptions;
  private readonly log: BusLogger;
  private readonly settler: Settler;
  private readonly queues = new Map<string, QueueState>();
  private readonly slots: Slot[] = [];
  private readonly live = new Set<Channel>();
  private readonly runnable: QueueState[] = [];
  private readonly stopSignal = new AbortController();
  private model: ChannelModel | undefined;
  private attached = false;
  private attachFailures = 0;
  private reattachTimer: NodeJS.Timeout | undefined;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private stopping = false;
  private paused = false;

  constructor(deps: MultiConsumerDeps, opts: MultiConsumerOptions) {
    this.deps = deps;
    this.opts = opts;
    this.log = deps.logger.child({ component: 'multi-consumer' });
    this.settler = new Settler({
      logger: this.log,
      metrics: deps.metrics,
      publisher: deps.publisher,
      isLive: (p) => this.live.has(p.ch),
      retryDelayMs: opts.retryDelayMs,
      signal: this.stopSignal.signal,
    });
  }

  size(): number {
    return this.queues.size;
  }

  isPaused(): boolean {
    return this.paused;
  }

  isConsuming(): boolean {
    if (!this.attached || this.model === undefined) return false;
    if (this.paused) return true;
    for (const q of this.queues.values()) if (q.tag === undefined) return false;
    return true;
  }

  /** Registers queues (validated, capacity checked); declares and consumes them when connected. */
  async add(specs: readonly QueueSpec[]): Promise<void> {
    if (this.stopping) throw new Error('the consumer is stopped');
    const fresh: QueueState[] = [];
    const seen = new Set<string>();
    for (const spec of specs) {
      validateQueueSpec(spec);
      if (this.opts.channelPrefetch !== undefined && spec.type !== 'classic') {
        throw new RangeError(
          `queue spec '${spec.name}': channelPrefetch (global QoS) works with classic queues only`,
        );
      }
      if (this.queues.has(spec.name) || seen.has(spec.name)) continue;
      seen.add(spec.name);
      fresh.push({
        spec,
        settle: settleQueue(spec),
        slot: undefined as unknown as Slot,
        tag: undefined,
        subscribing: false,
        removed: false,
        backlog: [],
        running: false,
        queued: false,
        retryTimer: undefined,
        failures: 0,
      });
    }
    const capacity = this.opts.queuesPerChannel * this.opts.maxChannels;
    if (this.queues.size + fresh.length > capacity) {
      throw new RangeError(
        `cannot consume ${this.queues.size + fresh.length} queues: at most ${capacity} ` +
          `(${this.opts.maxChannels} channels of ${this.opts.queuesPerChannel} consumers)`,
      );
    }
    // Open the channels the queues need up front and deal the queues out over them in turn: a burst to
    // neighbouring queues (a wave of commands to sensors 0..99) spreads over every channel and its prefetch
    // instead of queueing behind one channel's.
    const needed = Math.min(
      this.opts.maxChannels,
      Math.ceil((this.queues.size + fresh.length) / this.opts.queuesPerChannel),
    );
    while (this.slots.length < needed) this.newSlot();
    const touched = new Set<Slot>();
    for (const q of fresh) {
      q.slot = this.slotWithRoom();
      q.slot.queues.add(q);
      this.queues.set(q.spec.name, q);
      touched.add(q.slot);
    }
    const model = this.model;
    if (!this.attached || model === undefined || fresh.length === 0) return;
    try {
      await declareAll(
        model,
        fresh.map((q) => q.spec),
        this.opts.declareChannels,
        this.log,
      );
    } catch (err) {
      // not consumed: forget them, so that the caller may fix the spec and add again
      for (const q of fresh) this.forget(q);
      throw err;
    }
    await Promise.all([...touched].map((slot) => this.openSlot(slot, model)));
  }

  async remove(names: readonly string[]): Promise<void> {
    const cancels: Array<Promise<void>> = [];
    for (const name of names) {
      const q = this.queues.get(name);
      if (q === undefined) continue;
      q.removed = true;
      this.forget(q);
      const ch = q.slot.ch;
      const tag = q.tag;
      q.tag = undefined;
      if (tag !== undefined) this.deps.metrics.subscribedQueues.dec();
      // taken but not handed to the handler: back to the queue
      for (const p of q.backlog.splice(0)) this.settler.nack(p, true);
      if (ch && tag) {
        cancels.push(
          ch.cancel(tag).then(
            () => undefined,
            (err: unknown) => this.log.debug({ err, queue: name }, 'cancel failed (channel closed)'),
          ),
        );
      }
    }
    await Promise.all(cancels);
    this.notifyIdle();
  }

  /** Declare every queue and consume them on fresh channels of `model` (after each (re)connect). */
  async attach(model: ChannelModel): Promise<void> {
    this.model = model;
    if (this.stopping) return;
    const t0 = Date.now();
    if (this.opts.setup) {
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => this.log.warn({ err }, 'setup channel error'));
      try {
        await this.opts.setup(ch);
      } finally {
        await ch.close().catch(() => undefined);
      }
    }
    await declareAll(
      model,
      [...this.queues.values()].map((q) => q.spec),
      this.opts.declareChannels,
      this.log,
    );
    if (this.model !== model) return;
    this.attached = true;
    await Promise.all(this.slots.map((slot) => this.openSlot(slot, model)));
    this.attachFailures = 0;
    this.log.info(
      {
        queues: this.queues.size,
        channels: this.slots.filter((s) => s.ch).length,
        ms: Date.now() - t0,
      },
      'consuming queues',
    );
  }

  /** Retry attach() later (after it failed on a reconnect). */
  retryLater(model: ChannelModel): void {
    if (this.model !== model || this.stopping || this.reattachTimer) return;
    this.attachFailures++;
    const delay = backoffDelay(this.attachFailures, { initialDelayMs: 200, maxDelayMs: 10_000 });
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = undefined;
      if (this.model !== model || this.stopping) return;
      this.attach(model).catch((err: unknown) => {
        this.log.warn({ err }, 'cannot resume consuming, retrying');
        this.retryLater(model);
      });
    }, delay);
  }

  /** The consume connection is gone: forget what was prefetched on it (the broker redelivers it). */
  detach(): void {
    this.model = undefined;
    this.attached = false;
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    for (const slot of this.slots) this.slotLost(slot, undefined);
  }

  /** The first attach failed and the caller gave up on this consumer. */
  abandon(): void {
    this.stopping = true;
    this.detach();
  }

  async pause(): Promise<void> {
    if (this.paused || this.stopping) return;
    this.paused = true;
    const cancels: Array<Promise<unknown>> = [];
    for (const q of this.queues.values()) {
      const ch = q.slot.ch;
      if (ch && q.tag) {
        cancels.push(ch.cancel(q.tag).catch(() => undefined));
        this.deps.metrics.subscribedQueues.dec();
      }
      q.tag = undefined;
    }
    await Promise.all(cancels);
    const held: Pending[] = [];
    for (const q of this.queues.values()) held.push(...q.backlog.splice(0));
    this.notifyIdle();
    if (held.length > 0) await this.settler.release(held, 'consumer paused');
    this.log.info({ released: held.length }, 'consumer paused');
  }

  async resume(): Promise<void> {
    if (!this.paused || this.stopping) return;
    this.paused = false;
    const model = this.model;
    if (model && this.attached) await Promise.all(this.slots.map((s) => this.openSlot(s, model)));
  }

  /**
   * Stop taking deliveries, wait for the handlers running to finish and ack, then close the channels (what
   * was taken but not handled goes back to its queue: one close instead of a basic.cancel per queue).
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.waitIdle();
    this.stopping = true;
    this.stopSignal.abort();
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    for (const q of this.queues.values()) {
      q.backlog.length = 0;
      if (q.retryTimer) clearTimeout(q.retryTimer);
    }
    this.runnable.length = 0;
    this.notifyIdle();
    await this.waitIdle();
    const channels = this.slots.map((s) => s.ch).filter((ch): ch is Channel => ch !== undefined);
    for (const slot of this.slots) this.slotLost(slot, undefined);
    await Promise.all(channels.map((ch) => withDeadline(ch.close(), 5_000)));
    this.deps.onStopped(this);
    this.log.info({ queues: this.queues.size }, 'multi-queue consumer stopped');
  }

  /** The channel with the fewest queues (the first of those: dealt in turn), a new one if all are full. */
  private slotWithRoom(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (
        s.queues.size < this.opts.queuesPerChannel &&
        (best === undefined || s.queues.size < best.queues.size)
      )
        best = s;
    }
    return best ?? this.newSlot();
  }

  private newSlot(): Slot {
    const slot: Slot = {
      index: this.slots.length,
      queues: new Set(),
      ch: undefined,
      opening: undefined,
      failures: 0,
      timer: undefined,
    };
    this.slots.push(slot);
    return slot;
  }

  private forget(q: QueueState): void {
    if (q.retryTimer) clearTimeout(q.retryTimer);
    q.retryTimer = undefined;
    q.slot.queues.delete(q);
    this.queues.delete(q.spec.name);
  }

  /** Opens the slot's channel if needed and subscribes every queue of the slot not yet subscribed. */
  private openSlot(slot: Slot, model: ChannelModel): Promise<void> {
    const run = async (): Promise<void> => {
      if (slot.opening) await slot.opening.catch(() => undefined);
      if (this.model !== model || this.stopping) return;
      if (slot.ch === undefined && slot.queues.size === 0) return;
      const p = this.subscribeSlot(slot, model);
      slot.opening = p;
      try {
        await p;
      } finally {
        if (slot.opening === p) slot.opening = undefined;
      }
    };
    return run();
  }

  private async subscribeSlot(slot: Slot, model: ChannelModel): Promise<void> {
    let ch = slot.ch;
    if (ch === undefined) {
      const fresh = await model.createChannel();
      ch = fresh;
      fresh.on('error', (err: Error) =>
        this.log.warn({ err, channel: slot.index }, 'consumer channel error'),
      );
      fresh.on('handler-error', (err: Error, event: string) =>
        this.log.error({ err, event }, 'bug: a consumer channel event handler threw'),
      );
      fresh.on('close', () => this.slotLost(slot, fresh));
      await fresh.prefetch(this.opts.prefetch, false);
      if (this.opts.channelPrefetch !== undefined) await fresh.prefetch(this.opts.channelPrefetch, true);
      if (this.model !== model || this.stopping) {
        await fresh.close().catch(() => undefined);
        return;
      }
      slot.ch = fresh;
      this.live.add(fresh);
    }
    if (this.paused) return;
    for (const q of [...slot.queues]) {
      if (slot.ch !== ch) return; // lost meanwhile: slotLost schedules a new attempt
      await this.subscribe(q, ch);
    }
    slot.failures = 0;
  }

  private async subscribe(q: QueueState, ch: Channel): Promise<void> {
    if (q.tag !== undefined || q.subscribing || q.removed || this.paused || this.stopping) return;
    q.subscribing = true;
    try {
      const { consumerTag } = await ch.consume(q.spec.name, (msg) => this.onMessage(q, ch, msg), {
        noAck: false,
      });
      if (q.slot.ch !== ch || q.removed || this.paused) {
        // lost, removed or paused while subscribing
        if (q.slot.ch === ch) await ch.cancel(consumerTag).catch(() => undefined);
        return;
      }
      q.tag = consumerTag;
      q.failures = 0;
      this.deps.metrics.subscribedQueues.inc();
    } finally {
      q.subscribing = false;
    }
  }

  /** A channel (or, with `ch` undefined, every channel of a lost connection) is gone. */
  private slotLost(slot: Slot, ch: Channel | undefined): void {
    if (ch !== undefined && slot.ch !== ch) return;
    const gone = slot.ch;
    if (gone) this.live.delete(gone);
    slot.ch = undefined;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    let dropped = 0;
    for (const q of slot.queues) {
      if (q.tag !== undefined) this.deps.metrics.subscribedQueues.dec();
      q.tag = undefined;
      dropped += q.backlog.length;
      q.backlog.length = 0;
      if (q.retryTimer) clearTimeout(q.retryTimer);
      q.retryTimer = undefined;
    }
    this.notifyIdle();
    if (ch === undefined || this.stopping) return;
    // this channel alone: re-open it (re-declaring its queues) with backoff
    this.log.warn(
      { channel: slot.index, queues: slot.queues.size, dropped },
      'consumer channel lost; unacked messages will be redelivered',
    );
    const model = this.model;
    if (model === undefined) return;
    slot.failures++;
    const delay = backoffDelay(slot.failures, { initialDelayMs: 200, maxDelayMs: 10_000 });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.model !== model || this.stopping || slot.ch) return;
      declareAll(
        model,
        [...slot.queues].map((q) => q.spec),
        1,
        this.log,
      )
        .then(() => this.openSlot(slot, model))
        .catch((err: unknown) => {
          this.log.warn({ err, channel: slot.index }, 'cannot re-open consumer channel, retrying');
          if (slot.ch) return;
          slot.failures++;
          this.slotLost(slot, undefined);
          this.retrySlot(slot, model);
        });
    }, delay);
  }

  private retrySlot(slot: Slot, model: ChannelModel): void {
    if (this.stopping || this.model !== model) return;
    const delay = backoffDelay(slot.failures, { initialDelayMs: 200, maxDelayMs: 10_000 });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      declareAll(
        model,
        [...slot.queues].map((q) => q.spec),
        1,
        this.log,
      )
        .then(() => this.openSlot(slot, model))
        .catch(() => {
          slot.failures++;
          this.retrySlot(slot, model);
        });
    }, delay);
  }

  private onMessage(q: QueueState, ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // cancelled by the broker (queue deleted): declare it again and consume again
      if (q.tag !== undefined) this.deps.metrics.subscribedQueues.dec();
      q.tag = undefined;
      if (q.removed || this.stopping) return;
      this.log.warn({ queue: q.spec.name }, 'consumer cancelled by the broker; declaring the queue again');
      this.retryQueue(q, ch);
      return;
    }
    if (!this.live.has(ch) || this.stopping) return; // left unacked: back to the queue with the channel
    const p: Pending = { msg, ch, delivery: toDelivery(msg, q.spec.name, this.deps.userId), queue: q.settle };
    if (q.removed || this.paused) {
      this.settler.nack(p, true);
      return;
    }
    q.backlog.push(p);
    if (!q.running && !q.queued) {
      q.queued = true;
      this.runnable.push(q);
    }
    this.runWorkers();
  }

  private retryQueue(q: QueueState, ch: Channel): void {
    q.failures++;
    const delay = backoffDelay(q.failures, { initialDelayMs: 100, maxDelayMs: 10_000 });
    q.retryTimer = setTimeout(() => {
      q.retryTimer = undefined;
      if (q.removed || this.stopping || q.slot.ch !== ch) return;
      declareQueueOn(ch, q.spec)
        .then(() => this.subscribe(q, ch))
        .catch((err: unknown) => {
          // a failed declaration closes the channel: the slot is re-opened as a whole
          this.log.warn({ err, queue: q.spec.name }, 'cannot declare the cancelled queue again');
        });
    }, delay);
  }

  private runWorkers(): void {
    while (this.active < this.opts.concurrency && this.runnable.length > 0) {
      const q = this.runnable.shift()!;
      q.queued = false;
      const p = q.backlog.shift();
      if (p === undefined) continue;
      q.running = true;
      this.active++;
      void this.processOne(p).finally(() => {
        this.active--;
        q.running = false;
        if (q.backlog.length > 0 && !q.queued) {
          q.queued = true;
          this.runnable.push(q);
        }
        this.runWorkers();
        this.notifyIdle();
      });
    }
  }

  private async processOne(p: Pending): Promise<void> {
    if (!this.live.has(p.ch)) return;
    this.deps.metrics.consumed.inc({ queue: p.queue.label });
    try {
      await this.opts.handler(p.delivery);
    } catch (err) {
      await this.settler.fail(p, err);
      return;
    }
    this.settler.ack(p, false);
  }

  private waitIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.active > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Declares `specs` over `parallel` channels at once (amqplib runs one RPC at a time per channel; the broker
 * handles different channels' declarations in parallel). The first failure rejects (its channel is closed by
 * the broker).
 */
export async function declareAll(
  model: ChannelModel,
  specs: readonly QueueSpec[],
  parallel: number,
  log: BusLogger,
): Promise<void> {
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(parallel, specs.length) }, async () => {
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => log.warn({ err }, 'queue declaration failed'));
      try {
        while (next < specs.length && !failed) {
          const spec = specs[next++]!;
          try {
            await declareQueueOn(ch, spec);
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      } finally {
        await ch.close().catch(() => undefined);
      }
    }),
  );
}

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
