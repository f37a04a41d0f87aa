import {
  type ChannelModel,
  type ConfirmChannel,
  IllegalOperationError,
  type Message,
  type Options,
} from 'amqplib';
import { backoffDelay } from './backoff.js';
import {
  BusClosedError,
  PublishBufferFullError,
  type ChannelRefusal,
  PublishNackedError,
  PublishRefusedError,
  PublishTimeoutError,
  refusalOf,
  UnroutableError,
} from './errors.js';
import { Fifo } from './fifo.js';
import type { BusLogger } from './logger.js';
import type { BusMetrics } from './metrics.js';

/** Internal header that lets a basic.return be matched to its publish. */
const PUBLISH_ID_HEADER = 'x-sensor-streaming-publish-id';

export interface PublisherOptions {
  /** Max unconfirmed publishes on the channel. */
  window: number;
  /** Max publishes waiting + in flight; beyond it publish() rejects with PublishBufferFullError. */
  bufferLimit: number;
  /** A publish not confirmed within this time (e.g. broker down) rejects with PublishTimeoutError. */
  publishTimeoutMs: number;
  logger: BusLogger;
  metrics: BusMetrics;
  /**
   * Stamped as the AMQP `user_id` of every publish (commands, RPC replies, copies the consumers make): the
   * broker checks it against the connection's user, so a consumer can trust it as the author.
   */
  userId?: string;
}

interface Entry {
  seq: number;
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
  mandatory: boolean;
  enqueuedAt: number;
  channel: ConfirmChannel | undefined;
  sends: number;
  returned: { replyCode: number; replyText: string } | undefined;
  settled: boolean;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Publishes on one confirm channel with a bounded in-flight window. Each publish resolves on its own
 * confirm (confirms may come out of order; amqplib matches them per delivery tag). On channel or
 * connection loss, every unconfirmed publish goes back to the front of the queue and is re-sent on the
 * next channel (duplicates are possible and fine: sinks are idempotent).
 */
export class Publisher {
  private readonly opts: PublisherOptions;
  private readonly log: BusLogger;
  private readonly queue = new Fifo<Entry>();
  private readonly inFlight = new Map<number, Entry>();
  private readonly mandatory = new Map<string, Entry>();
  private channel: ConfirmChannel | undefined;
  private model: ChannelModel | undefined;
  private waitingDrain = false;
  private seq = 0;
  private closed = false;
  private channelFailures = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];
  /** Why the broker closed each channel, if it said (read when the channel's close event comes). */
  private readonly closeErrors = new WeakMap<ConfirmChannel, unknown>();

  constructor(opts: PublisherOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ component: 'publisher' });
    this.sweepTimer = setInterval(() => this.expire(), Math.min(1000, opts.publishTimeoutMs));
    this.sweepTimer.unref();
  }

  /** Messages waiting to be sent or confirmed. */
  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    if (this.closed) return Promise.reject(new BusClosedError());
    if (this.pending >= this.opts.bufferLimit) {
      this.opts.metrics.publishFailures.inc({ reason: 'buffer_full' });
      return Promise.reject(new PublishBufferFullError(this.opts.bufferLimit));
    }
    return new Promise<void>((resolve, reject) => {
      const seq = ++this.seq;
      const mandatory = options.mandatory === true;
      let opts = this.opts.userId === undefined ? options : { ...options, userId: this.opts.userId };
      if (mandatory) {
        opts = { ...opts, headers: { ...(options.headers ?? {}), [PUBLISH_ID_HEADER]: String(seq) } };
      }
      const entry: Entry = {
        seq,
        exchange,
        routingKey,
        body,
        options: opts,
        mandatory,
        enqueuedAt: Date.now(),
        channel: undefined,
        sends: 0,
        returned: undefined,
        settled: false,
        resolve,
        reject,
      };
      if (mandatory) this.mandatory.set(String(seq), entry);
      this.queue.push(entry);
      this.pump();
    });
  }

  /** A (re)connected publish connection: open the confirm channel and re-send what is pending. */
  attach(model: ChannelModel): void {
    this.model = model;
    this.channelFailures = 0;
    void this.openChannel(model);
  }

  /** The publish connection is gone: its channel is gone with it (the close event re-queues). */
  detach(): void {
    this.model = undefined;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    if (this.channel) this.channelLost(this.channel);
  }

  /** Reject new publishes, wait for the pending ones (up to timeoutMs), reject what is left, close the channel. */
  async stop(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
    }
    const left = [...this.queue.drain(), ...this.inFlight.values()];
    this.inFlight.clear();
    if (left.length > 0) this.log.warn({ count: left.length }, 'bus stopped with unconfirmed publishes');
    for (const e of left) this.settle(e, new BusClosedError('the bus stopped before the broker confirmed'));
    clearInterval(this.sweepTimer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const ch = this.channel;
    this.channel = undefined;
    this.model = undefined;
    if (ch) await ch.close().catch(() => undefined);
  }

  private async openChannel(model: ChannelModel): Promise<void> {
    if (this.closed && this.pending === 0) return;
    let ch: ConfirmChannel;
    try {
      ch = await model.createConfirmChannel();
    } catch (err) {
      this.log.warn({ err }, 'cannot open the publish channel');
      this.scheduleReopen(model);
      return;
    }
    if (this.model !== model) {
      await ch.close().catch(() => undefined);
      return;
    }
    ch.on('error', (err: Error) => {
      this.closeErrors.set(ch, err);
      this.log.warn({ err }, 'publish channel error');
    });
    ch.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event }, 'bug: a publish channel event handler threw'),
    );
    ch.on('close', () => this.channelLost(ch));
    ch.on('return', (msg: Message) => this.onReturn(msg));
    this.channel = ch;
    this.waitingDrain = false;
    const resend = this.queue.length;
    if (resend > 0) this.log.info({ pending: resend }, 'publish channel open, sending pending publishes');
    this.pump();
  }

  private scheduleReopen(model: ChannelModel): void {
    if (this.model !== model || this.reopenTimer) return;
    this.channelFailures++;
    const delay = backoffDelay(this.channelFailures, { initialDelayMs: 100, maxDelayMs: 5000 });
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.model === model && !this.channel) void this.openChannel(model);
    }, delay);
  }

  private channelLost(ch: ConfirmChannel): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.waitingDrain = false;
    let lost = [...this.inFlight.values()].filter((e) => !e.settled).sort((a, b) => a.seq - b.seq);
    this.inFlight.clear();
    const refusal = refusalOf(this.closeErrors.get(ch));
    if (refusal !== undefined) lost = this.refuse(refusal, lost);
    this.queue.unshiftAll(lost);
    if (lost.length > 0) this.log.warn({ unconfirmed: lost.length }, 'publish channel lost, will re-send');
    if (this.model) this.scheduleReopen(this.model);
  }

  private pump(): void {
    const ch = this.channel;
    if (!ch) return;
    while (!this.waitingDrain && this.inFlight.size < this.opts.window && this.channel === ch) {
      const e = this.queue.shift();
      if (!e) break;
      if (!e.settled) this.send(ch, e);
    }
  }

  private send(ch: ConfirmChannel, e: Entry): void {
    e.returned = undefined;
    e.channel = ch;
    this.inFlight.set(e.seq, e);
    let ok: boolean;
    try {
      ok = ch.publish(e.exchange, e.routingKey, e.body, e.options, (err: unknown) =>
        this.onConfirm(ch, e, err),
      );
    } catch (err) {
      this.inFlight.delete(e.seq);
      if (err instanceof IllegalOperationError) {
        // the channel is closing or closed: its close event re-queues; put this one back too
        this.queue.unshiftAll([e]);
        this.channelLost(ch);
        return;
      }
      // e.g. RangeError: headers over 64 KiB; retrying cannot help
      this.opts.metrics.publishFailures.inc({ reason: 'invalid' });
      this.settle(e, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    e.sends++;
    this.opts.metrics.publishes.inc();
    if (e.sends > 1) this.opts.metrics.resends.inc();
    if (!ok) {
      this.waitingDrain = true;
      ch.once('drain', () => {
        if (this.channel !== ch) return;
        this.waitingDrain = false;
        this.pump();
      });
    }
  }

  private onConfirm(ch: ConfirmChannel, e: Entry, err: unknown): void {
    if (e.settled || e.channel !== ch || this.inFlight.get(e.seq) !== e) return;
    if (err) {
      if (err instanceof Error && err.message === 'message nacked') {
        this.inFlight.delete(e.seq);
        this.opts.metrics.nacks.inc();
        this.opts.metrics.publishFailures.inc({ reason: 'nacked' });
        this.settle(e, new PublishNackedError(e.routingKey));
        this.pump();
      }
      // otherwise the channel closed: channelLost() re-queues the entry
      return;
    }
    this.inFlight.delete(e.seq);
    this.channelFailures = 0;
    if (e.returned) {
      this.opts.metrics.publishFailures.inc({ reason: 'unroutable' });
      this.settle(
        e,
        new UnroutableError(e.exchange, e.routingKey, e.returned.replyCode, e.returned.replyText),
      );
    } else {
      this.opts.metrics.confirms.inc();
      this.settle(e, undefined);
    }
    this.pump();
  }

  private onReturn(msg: Message): void {
    this.opts.metrics.returns.inc();
    const id = msg.properties.headers?.[PUBLISH_ID_HEADER];
    const entry = typeof id === 'string' ? this.mandatory.get(id) : undefined;
    if (!entry) {
      this.log.warn({ routingKey: msg.fields.routingKey }, 'unmatched returned message');
      return;
    }
    const fields = msg.fields as unknown as { replyCode?: number; replyText?: string };
    entry.returned = { replyCode: fields.replyCode ?? 312, replyText: fields.replyText ?? 'NO_ROUTE' };
  }

  /**
   * The broker closed the channel refusing a publish (ACCESS_REFUSED, a bad user_id): re-sending would only be
   * refused again, so the publishes it hits (lost in flight or still waiting) fail now with
   * PublishRefusedError; the others are returned to be re-sent.
   */
  private refuse(refusal: ChannelRefusal, lost: Entry[]): Entry[] {
    const hit = (e: Entry): boolean =>
      refusal.kind === 'user_id'
        ? e.options.userId !== undefined
        : e.exchange === refusal.exchange &&
          (refusal.kind === 'exchange' || e.routingKey === refusal.routingKey);
    const waiting = this.queue.drain();
    for (const e of waiting) if (!hit(e)) this.queue.push(e);
    const refused = [...lost.filter(hit), ...waiting.filter(hit)];
    for (const e of refused) {
      this.opts.metrics.publishFailures.inc({ reason: 'refused' });
      this.settle(e, new PublishRefusedError(e.exchange, e.routingKey, refusal.replyCode, refusal.text));
    }
    if (refused.length > 0)
      this.log.warn({ count: refused.length, reason: refusal.text }, 'publishes refused by the broker');
    return lost.filter((e) => !hit(e));
  }

  /** Reject publishes older than publishTimeoutMs (the buffer is time-limited). */
  private expire(): void {
    const limit = Date.now() - this.opts.publishTimeoutMs;
    const expired: Entry[] = [];
    if (this.queue.length > 0 && (this.queue.peek()?.enqueuedAt ?? Infinity) <= limit) {
      const keep: Entry[] = [];
      for (const e of this.queue.drain()) (e.enqueuedAt <= limit ? expired : keep).push(e);
      for (const e of keep) this.queue.push(e);
    }
    for (const e of this.inFlight.values()) {
      if (e.enqueuedAt <= limit) expired.push(e);
    }
    for (const e of expired) {
      this.inFlight.delete(e.seq);
      this.opts.metrics.publishFailures.inc({ reason: 'timeout' });
      this.settle(e, new PublishTimeoutError(e.routingKey, this.opts.publishTimeoutMs));
    }
    if (expired.length > 0) {
      this.log.warn({ count: expired.length }, 'publishes not confirmed in time, rejected');
      this.pump();
    }
  }

  private settle(e: Entry, err: Error | undefined): void {
    if (e.settled) return;
    e.settled = true;
    if (e.mandatory) this.mandatory.delete(String(e.seq));
    if (err) e.reject(err);
    else e.resolve();
    if (this.idleWaiters.length > 0 && this.pending === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
