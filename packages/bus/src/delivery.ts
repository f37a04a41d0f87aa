import { releaseExchangeName } from '@sensor-streaming/protocol';
import type { ConsumeMessage } from 'amqplib';
import {
  HEADER_ORIGINAL_EXCHANGE,
  HEADER_ORIGINAL_ROUTING_KEY,
  HEADER_ORIGINAL_USER_ID,
  HEADER_RELEASED,
} from './topology.js';

export interface Delivery {
  body: Buffer;
  routingKey: string;
  contentType: string | undefined;
  headers: Record<string, unknown>;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  /**
   * Who published it, as the broker authenticated them: the AMQP `user_id`, which RabbitMQ refuses unless
   * it is the publishing connection's user. Absent when the publisher set none (never trust a body field
   * for the author instead). On a copy this bus released back to its queue, the original's.
   */
  userId?: string;
  redelivered: boolean;
  /**
   * 1 on the first delivery. For quorum queues it comes from the broker's `x-delivery-count` header
   * (failed deliveries so far) + 1; classic queues do not count, so it is 2 for any redelivery.
   */
  deliveryCount: number;
  exchange: string;
  /** The queue it was consumed from. */
  queue: string;
}

/** The `x-delivery-count` header (quorum queues): how many times it was delivered and returned before. */
export function previousDeliveries(msg: ConsumeMessage): number {
  const v = msg.properties.headers?.['x-delivery-count'];
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n) return Number(v);
  return msg.fields.redelivered ? 1 : 0;
}

/** Internal header of mandatory publishes (matches a basic.return to its publish); hidden from handlers. */
export const PUBLISH_ID_HEADER = 'x-sensor-streaming-publish-id';

function publicHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!headers) return {};
  if (!(PUBLISH_ID_HEADER in headers)) return headers;
  const { [PUBLISH_ID_HEADER]: _internal, ...rest } = headers;
  return rest;
}

/**
 * Whether `msg` is a copy given back to `queue`: by this bus's release (through the queue's own release
 * exchange, see releaseExchangeName) or by a dead-letter replay (through the default exchange), both marked
 * with HEADER_RELEASED.
 */
function isReleasedCopy(msg: ConsumeMessage, queue: string): boolean {
  const ex = msg.fields.exchange;
  const h = msg.properties.headers;
  return (ex === '' || ex === releaseExchangeName(queue)) && h?.[HEADER_RELEASED] !== undefined;
}

/**
 * Where a message was originally published: a released copy carries its original routing key and exchange
 * in headers.
 */
export function originalRoute(msg: ConsumeMessage, queue: string): { routingKey: string; exchange: string } {
  const h = msg.properties.headers;
  if (h && isReleasedCopy(msg, queue)) {
    const rk = h[HEADER_ORIGINAL_ROUTING_KEY];
    const ex = h[HEADER_ORIGINAL_EXCHANGE];
    if (typeof rk === 'string') return { routingKey: rk, exchange: typeof ex === 'string' ? ex : '' };
  }
  return { routingKey: msg.fields.routingKey, exchange: msg.fields.exchange };
}

/**
 * The broker-validated author of `msg`. A released copy (see originalRoute) is published by the consumer's
 * own user (`self`): its header carries the original author, believed only when the copy's own user_id is
 * `self` (anyone else writing such a header into the queue has their own user_id checked by the broker).
 */
export function authorOf(msg: ConsumeMessage, queue: string, self: string | undefined): string | undefined {
  const p = msg.properties;
  const h = p.headers;
  const own = typeof p.userId === 'string' ? p.userId : undefined;
  if (h && isReleasedCopy(msg, queue)) {
    const original = h[HEADER_ORIGINAL_USER_ID];
    return self !== undefined && own === self && typeof original === 'string' ? original : undefined;
  }
  return own;
}

export function toDelivery(msg: ConsumeMessage, queue: string, self?: string): Delivery {
  const p = msg.properties;
  const route = originalRoute(msg, queue);
  const d: Delivery = {
    body: msg.content,
    routingKey: route.routingKey,
    contentType: typeof p.contentType === 'string' ? p.contentType : undefined,
    headers: publicHeaders(p.headers),
    redelivered: msg.fields.redelivered,
    deliveryCount: previousDeliveries(msg) + 1,
    exchange: route.exchange,
    queue,
  };
  if (typeof p.messageId === 'string') d.messageId = p.messageId;
  if (typeof p.correlationId === 'string') d.correlationId = p.correlationId;
  if (typeof p.replyTo === 'string') d.replyTo = p.replyTo;
  const userId = authorOf(msg, queue, self);
  if (userId !== undefined) d.userId = userId;
  return d;
}
