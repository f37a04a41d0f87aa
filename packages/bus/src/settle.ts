import type { Channel, ConsumeMessage, Options } from 'amqplib';
import { abortableSleep, backoffDelay } from './backoff.js';
import { type Delivery, previousDeliveries } from './delivery.js';
import { errorReason, isPermanentError, isReleaseError } from './errors.js';
import type { BusLogger } from './logger.js';
import type { BusMetrics, DeadLetterCause } from './metrics.js';
import type { Publisher } from './publisher.js';
import {
  DEAD_LETTER_EXCHANGE,
  DEFAULT_DELIVERY_LIMIT,
  HEADER_DELIVERY_COUNT,
  HEADER_ORIGINAL_CONTENT_TYPE,
  HEADER_ORIGINAL_EXCHANGE,
  HEADER_ORIGINAL_QUEUE,
  HEADER_ORIGINAL_ROUTING_KEY,
  HEADER_ORIGINAL_USER_ID,
  HEADER_REASON,
  HEADER_RELEASED,
  type QueueSpec,
  queueMetricLabel,
  REJECTED_EXCHANGE,
  releaseExchangeName,
} from './topology.js';

/** The queue a delivery came from, as settling needs it. */
export interface SettleQueue {
  name: string;
  /** Bounded metric label (queueMetricLabel). */
  label: string;
  /** Deliveries before the bus dead-letters the message itself. */
  deliveryLimit: number;
  /**
   * Where a release publishes its uncounted copy: the queue's release exchange (quorum queues). Undefined for
   * a classic queue: it does not count requeues, so a release is a plain requeue.
   */
  releaseVia: string | undefined;
}

export function settleQueue(spec: QueueSpec): SettleQueue {
  return {
    name: spec.name,
    label: queueMetricLabel(spec.name),
    // classic queues do not count deliveries: a redelivery is the second (see Delivery.deliveryCount)
    deliveryLimit: spec.type === 'quorum' ? (spec.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT) : 2,
    releaseVia: spec.type === 'quorum' ? releaseExchangeName(spec.name) : undefined,
  };
}

/** A message taken from the broker, not yet settled. */
export interface Pending {
  msg: ConsumeMessage;
  ch: Channel;
  delivery: Delivery;
  queue: SettleQueue;
}

export interface SettlerDeps {
  logger: BusLogger;
  metrics: BusMetrics;
  publisher: Publisher;
  /** False once the channel the message came on is gone: the broker redelivers it, settle nothing. */
  isLive(p: Pending): boolean;
  /** First pause before requeueing after a transient error (doubling per delivery, max 5 s). */
  retryDelayMs: number;
  /** Cuts that pause short (stop). */
  signal: AbortSignal;
}

/**
 * How a consumer settles messages: ack, requeue after a pause, give back uncounted (release), or
 * dead-letter with the reason in headers. Shared by the single-queue and the multi-queue consumer, so that
 * a poison message is handled the same whatever consumed it.
 */
export class Settler {
  private readonly deps: SettlerDeps;
  private readonly log: BusLogger;

  constructor(deps: SettlerDeps) {
    this.deps = deps;
    this.log = deps.logger;
  }

  /** A handler failed for this message: dead-letter now (permanent / limit reached) or requeue. */
  async fail(p: Pending, err: unknown, quiet = false): Promise<void> {
    const reason = errorReason(err);
    const failures = previousDeliveries(p.msg) + 1;
    if (isReleaseError(err)) {
      await this.release([p], reason);
      return;
    }
    if (isPermanentError(err)) {
      if (await this.publishDeadLetter(p, reason, 'permanent')) this.ack(p, false, 0);
      else this.nack(p, true);
      return;
    }
    if (failures >= p.queue.deliveryLimit) {
      if (await this.publishDeadLetter(p, reason, 'delivery_limit')) this.ack(p, false, 0);
      else this.nack(p, true);
      return;
    }
    // Pause before requeueing (the slot stays busy, so a failing dependency slows the consumer down instead
    // of burning through the delivery limit in milliseconds); stop() cuts the pause short.
    const delayMs = backoffDelay(failures, { initialDelayMs: this.deps.retryDelayMs, maxDelayMs: 5000 });
    if (!quiet) {
      this.log.warn(
        {
          err,
          queue: p.queue.name,
          routingKey: p.msg.fields.routingKey,
          deliveryCount: failures,
          deliveryLimit: p.queue.deliveryLimit,
          delayMs,
        },
        'handler failed, message will be requeued',
      );
    }
    await abortableSleep(delayMs, this.deps.signal);
    this.deps.metrics.requeued.inc({ queue: p.queue.label });
    this.nack(p, true);
  }

  /**
   * Give messages back to their queue without counting a delivery: publish a copy to the queue itself
   * (default exchange, original route in headers, no `x-delivery-count`), wait for its confirm, then ack the
   * original. A copy that cannot be published is requeued instead (counted, as before). A crash between the
   * confirm and the ack leaves both: a duplicate, which the idempotent sinks absorb.
   */
  async release(items: Pending[], reason: string): Promise<void> {
    const results = await Promise.all(
      items.map(async (p) => {
        if (!this.deps.isLive(p)) return 'failed'; // channel gone: the broker has it back already
        const via = p.queue.releaseVia;
        if (via === undefined) return 'requeue'; // a classic queue counts no requeues
        const props = p.msg.properties;
        const headers: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(props.headers ?? {})) {
          if (
            k === 'x-delivery-count' ||
            k === 'x-death' ||
            k.startsWith('x-first-death') ||
            k.startsWith('x-last-death')
          )
            continue;
          headers[k] = v;
        }
        const prev = Number(headers[HEADER_RELEASED] ?? 0);
        headers[HEADER_RELEASED] = (Number.isFinite(prev) ? prev : 0) + 1;
        headers[HEADER_ORIGINAL_ROUTING_KEY] = p.delivery.routingKey;
        headers[HEADER_ORIGINAL_EXCHANGE] = p.delivery.exchange;
        // the copy is published by this bus's user: the author travels in a header (see authorOf)
        if (p.delivery.userId === undefined) delete headers[HEADER_ORIGINAL_USER_ID];
        else headers[HEADER_ORIGINAL_USER_ID] = p.delivery.userId;
        const options: Options.Publish = {
          ...copyProperties(props),
          headers,
          persistent: true,
          mandatory: true,
        };
        try {
          await this.deps.publisher.publish(via, p.queue.name, p.msg.content, options);
          return 'copied';
        } catch (err) {
          this.log.error(
            { err, queue: p.queue.name, routingKey: p.delivery.routingKey, reason },
            'cannot release message, requeueing it',
          );
          return 'failed';
        }
      }),
    );
    const released = new Map<string, number>();
    items.forEach((p, i) => {
      // the copy is in the queue: drop the original; otherwise the original goes back
      if (results[i] === 'copied') this.ack(p, false, 0);
      else this.nack(p, true);
      if (results[i] !== 'failed') released.set(p.queue.label, (released.get(p.queue.label) ?? 0) + 1);
    });
    for (const [label, n] of released) this.deps.metrics.released.inc({ queue: label }, n);
  }

  /**
   * Publish a copy of the message to the DLX with the reason (nack cannot add headers) and wait for its
   * confirm; the caller acks the original only after that. Returns false if the copy could not be published.
   */
  async publishDeadLetter(p: Pending, reason: string, cause: DeadLetterCause): Promise<boolean> {
    const { msg } = p;
    const props = msg.properties;
    const routingKey = p.delivery.routingKey;
    const headers: Record<string, unknown> = {
      ...(props.headers ?? {}),
      [HEADER_REASON]: reason,
      [HEADER_ORIGINAL_ROUTING_KEY]: routingKey,
      [HEADER_ORIGINAL_EXCHANGE]: p.delivery.exchange,
      [HEADER_ORIGINAL_QUEUE]: p.queue.name,
      [HEADER_DELIVERY_COUNT]: previousDeliveries(msg) + 1,
    };
    if (p.delivery.userId === undefined) delete headers[HEADER_ORIGINAL_USER_ID];
    else headers[HEADER_ORIGINAL_USER_ID] = p.delivery.userId;
    if (typeof props.contentType === 'string') headers[HEADER_ORIGINAL_CONTENT_TYPE] = props.contentType;
    // mandatory: if the copy cannot be routed (dead queue missing) the original is requeued, not lost
    const options: Options.Publish = { ...copyProperties(props), headers, persistent: true, mandatory: true };
    // Straight to the dead-letter queue (REJECTED_EXCHANGE, a fanout to it alone), not through the DLX: the
    // DLX also feeds the queues that observe expired commands, which must not see the bus's own rejections,
    // and a message consumed from a queue bound to the DLX would come straight back.
    // A rejected command goes through the DLX, whose bindings take it to the dead queue and to those waiting
    // for it (the caller's commander, the registry), so they learn it was REJECTED. Everything else, and a
    // message that came from the DLX (it would loop), goes straight to the dead queue.
    const viaDlx =
      /^sensor\.[^.]+\.commands\.[^.]+$/.test(routingKey) && p.delivery.exchange !== DEAD_LETTER_EXCHANGE;
    try {
      if (viaDlx) await this.deps.publisher.publish(DEAD_LETTER_EXCHANGE, routingKey, msg.content, options);
      else await this.deps.publisher.publish(REJECTED_EXCHANGE, routingKey, msg.content, options);
    } catch (err) {
      this.log.error({ err, routingKey, reason }, 'cannot dead-letter message, requeueing it');
      return false;
    }
    this.deps.metrics.deadLettered.inc({ queue: p.queue.label, cause });
    this.log.warn({ queue: p.queue.name, routingKey, reason, cause }, 'message dead-lettered');
    return true;
  }

  ack(p: Pending, multiple: boolean, count = 1): void {
    if (!this.deps.isLive(p)) return; // channel gone: the broker redelivers it
    try {
      p.ch.ack(p.msg, multiple);
      if (count > 0) this.deps.metrics.acked.inc({ queue: p.queue.label }, count);
    } catch (err) {
      this.log.debug({ err }, 'ack failed (channel closed)');
    }
  }

  nack(p: Pending, requeue: boolean): void {
    if (!this.deps.isLive(p)) return;
    try {
      p.ch.nack(p.msg, false, requeue);
    } catch (err) {
      this.log.debug({ err }, 'nack failed (channel closed)');
    }
  }
}

/**
 * The properties a copy of a message keeps (headers are set by the caller). Not `userId`: the broker refuses
 * a user_id other than the publishing connection's user.
 */
function copyProperties(props: ConsumeMessage['properties']): Options.Publish {
  const options: Options.Publish = {};
  if (typeof props.contentType === 'string') options.contentType = props.contentType;
  if (typeof props.contentEncoding === 'string') options.contentEncoding = props.contentEncoding;
  if (typeof props.messageId === 'string') options.messageId = props.messageId;
  if (typeof props.correlationId === 'string') options.correlationId = props.correlationId;
  if (typeof props.timestamp === 'number') options.timestamp = props.timestamp;
  if (typeof props.type === 'string') options.type = props.type;
  return options;
}
