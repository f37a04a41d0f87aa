import type { Channel, Options } from 'amqplib';

import {
  commandBindingPattern,
  commandQueueName,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  DEAD_LETTER_REASON_HEADER,
  EXCHANGE,
  REJECTED_EXCHANGE,
  releaseExchangeName,
} from '@sensor-streaming/protocol';

/*
 * The whole broker topology of sensor-streaming, in one place. Every declaration the bus makes goes
 * through this file, so a queue is always declared with the same arguments (RabbitMQ refuses a
 * re-declaration with different ones). Names come from @sensor-streaming/protocol.
 */
export { DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, EXCHANGE, REJECTED_EXCHANGE, releaseExchangeName };

/** Headers the bus puts on a message it dead-letters itself (permanent error, batch rejection, delivery limit). */
export const HEADER_REASON = DEAD_LETTER_REASON_HEADER;
export const HEADER_ORIGINAL_ROUTING_KEY = 'x-sensor-streaming-original-routing-key';
export const HEADER_ORIGINAL_EXCHANGE = 'x-sensor-streaming-original-exchange';
export const HEADER_ORIGINAL_QUEUE = 'x-sensor-streaming-original-queue';
export const HEADER_ORIGINAL_CONTENT_TYPE = 'x-sensor-streaming-original-content-type';
export const HEADER_DELIVERY_COUNT = 'x-sensor-streaming-delivery-count';
/**
 * On a message the bus gave back to its queue (a dependency was unavailable): how many times. Such a copy is
 * published to the queue's release exchange (a dead-letter replay: to the default exchange); the consumer restores its original routing key and exchange from
 * HEADER_ORIGINAL_ROUTING_KEY / HEADER_ORIGINAL_EXCHANGE.
 */
export const HEADER_RELEASED = 'x-sensor-streaming-released';
/**
 * On a copy the bus makes of a message (released or dead-lettered): the original's broker-validated
 * `user_id`. A copy is published by the consumer's own user, so the author can only travel in a header;
 * the consumer believes it only on a released copy whose own user_id is its own user (see toDelivery).
 */
export const HEADER_ORIGINAL_USER_ID = 'x-sensor-streaming-original-user-id';

export const DEFAULT_DELIVERY_LIMIT = 5;

/**
 * A consistent-hash exchange (plugin rabbitmq_consistent_hash_exchange) between `sensor_streaming` and a set of
 * shard queues: bound to `sensor_streaming` with `bindings` (exchange-to-exchange), it hashes each message's
 * routing key (`sensor.<serial>.data`: so the serial) onto one of the queues bound to it. A queue's binding
 * key on it is its weight ("1": equal shares).
 */
export interface ShardExchangeSpec {
  name: string;
  /** Binding keys of this exchange on `sensor_streaming`. */
  bindings: string[];
}

export const CONSISTENT_HASH_EXCHANGE_TYPE = 'x-consistent-hash';

export interface QueueSpec {
  name: string;
  /**
   * The queue is one shard behind this consistent-hash exchange: `bindings` are its weights there (not keys on
   * `sensor_streaming`). The exchange and its bindings are declared with the queue.
   */
  shardOf?: ShardExchangeSpec;
  /**
   * A queue being drained (e.g. a shard left over after the shard count changed): declared as before, but its
   * `bindings` are removed instead of added, so it receives nothing new while its consumers empty it.
   */
  retired?: boolean;
  /** quorum: replicated, delivery limit, for service queues; classic: per-sensor command queues, RPC, temporary. */
  type: 'quorum' | 'classic';
  /** Binding keys on the `sensor_streaming` exchange. */
  bindings: string[];
  /** Binding keys on the dead-letter exchange `sensor_streaming.dlx` (e.g. to observe expired commands). */
  deadLetterBindings?: string[];
  /** quorum only: deliveries before the message is dead-lettered; default 5. */
  deliveryLimit?: number;
  messageTtlMs?: number;
  /** classic only */
  exclusive?: boolean;
  /** classic only */
  autoDelete?: boolean;
  /** Delete the queue after it has been unused this long. */
  expiresMs?: number;
  /** Dead-letter rejected/expired messages to `sensor_streaming.dlx`; default true. */
  deadLetter?: boolean;
}

/** A durable quorum queue for a consuming service: delivery limit, at-least-once dead-lettering to the DLX. */
export const serviceQueue = (name: string, bindings: string[], o: Partial<QueueSpec> = {}): QueueSpec => ({
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
  ...o,
  name,
  type: 'quorum',
  bindings,
});

/**
 * The command queue of one sensor: classic durable, bound to `sensor.<serial>.commands.*`, with a message
 * TTL; expired commands are dead-lettered to the DLX (with their original routing key) where the registry
 * can observe them.
 */
export const commandQueue = (serial: string, ttlMs: number): QueueSpec => ({
  name: commandQueueName(serial),
  type: 'classic',
  bindings: [commandBindingPattern(serial)],
  messageTtlMs: ttlMs,
});

/** Throws a RangeError naming the bad field. */
export function validateQueueSpec(spec: QueueSpec): void {
  const where = `queue spec '${String(spec?.name)}'`;
  if (typeof spec.name !== 'string' || spec.name === '' || Buffer.byteLength(spec.name) > 255) {
    throw new RangeError(`${where}: name must be a non-empty string of at most 255 bytes`);
  }
  if (spec.name.startsWith('amq.')) throw new RangeError(`${where}: name must not start with 'amq.'`);
  if (spec.type !== 'quorum' && spec.type !== 'classic') {
    throw new RangeError(`${where}: type must be 'quorum' or 'classic'`);
  }
  for (const [field, keys] of [
    ['bindings', spec.bindings],
    ['deadLetterBindings', spec.deadLetterBindings ?? []],
  ] as const) {
    if (!Array.isArray(keys) || keys.some((b) => typeof b !== 'string' || Buffer.byteLength(b) > 255)) {
      throw new RangeError(`${where}: ${field} must be an array of routing-key patterns`);
    }
  }
  if (spec.shardOf !== undefined) {
    const x = spec.shardOf;
    if (typeof x.name !== 'string' || x.name === '' || x.name.startsWith('amq.') || x.name === EXCHANGE) {
      throw new RangeError(`${where}: shardOf.name must be a non-empty exchange name of its own`);
    }
    if (!Array.isArray(x.bindings) || x.bindings.some((b) => typeof b !== 'string' || b === '')) {
      throw new RangeError(`${where}: shardOf.bindings must be an array of routing-key patterns`);
    }
    if (spec.bindings.some((w) => !/^[1-9][0-9]{0,3}$/.test(w))) {
      throw new RangeError(
        `${where}: the bindings of a shard queue are weights (1..9999), got ${spec.bindings}`,
      );
    }
  }
  const positiveInt = (field: string, v: number | undefined): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new RangeError(`${where}: ${field} must be a positive integer, got ${v}`);
    }
  };
  positiveInt('deliveryLimit', spec.deliveryLimit);
  positiveInt('messageTtlMs', spec.messageTtlMs);
  positiveInt('expiresMs', spec.expiresMs);
  if (spec.type === 'quorum' && (spec.exclusive || spec.autoDelete)) {
    throw new RangeError(`${where}: quorum queues cannot be exclusive or auto-delete`);
  }
}

/** The `queue.declare` options for a spec. */
export function queueDeclareOptions(spec: QueueSpec): Options.AssertQueue {
  const args: Record<string, unknown> = { 'x-queue-type': spec.type };
  if (spec.deadLetter !== false) args['x-dead-letter-exchange'] = DEAD_LETTER_EXCHANGE;
  if (spec.messageTtlMs !== undefined) args['x-message-ttl'] = spec.messageTtlMs;
  if (spec.expiresMs !== undefined) args['x-expires'] = spec.expiresMs;
  if (spec.type === 'quorum') {
    args['x-delivery-limit'] = spec.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT;
    if (spec.deadLetter !== false) {
      // at-least-once dead-lettering requires reject-publish overflow (RabbitMQ docs, quorum queues)
      args['x-dead-letter-strategy'] = 'at-least-once';
      args['x-overflow'] = 'reject-publish';
    }
    return { durable: true, arguments: args };
  }
  const exclusive = spec.exclusive === true;
  return { durable: !exclusive, exclusive, autoDelete: spec.autoDelete === true, arguments: args };
}

/**
 * The topology every bus declares on connect, as data: the exchanges, the dead-letter queue and its bindings.
 * declareBaseTopology declares it, baseTopologyDefinitions writes it as broker definitions: one description.
 */
export const BASE_TOPOLOGY = {
  exchanges: [
    { name: EXCHANGE, type: 'topic' },
    { name: DEAD_LETTER_EXCHANGE, type: 'topic' },
    // where consumers dead-letter a message themselves: a fanout to the dead-letter queue alone
    { name: REJECTED_EXCHANGE, type: 'fanout' },
  ],
  // Bounds (length, age) come from a policy, not from arguments: a queue's arguments cannot change once
  // declared (see README, "Dead letters").
  queue: { name: DEAD_LETTER_QUEUE, arguments: { 'x-queue-type': 'quorum' } },
  bindings: [
    // '#': whatever the broker dead-letters, including copies the bus released or an operator replayed
    // (published to their queue by name, so that is their routing key)
    { source: DEAD_LETTER_EXCHANGE, routingKey: '#' },
    { source: REJECTED_EXCHANGE, routingKey: '' },
  ],
} as const;

/** The exchanges and the dead-letter queue every bus declares on connect (BASE_TOPOLOGY). */
export async function declareBaseTopology(ch: Channel): Promise<void> {
  const { exchanges, queue, bindings } = BASE_TOPOLOGY;
  for (const x of exchanges) await ch.assertExchange(x.name, x.type, { durable: true });
  await ch.assertQueue(queue.name, { durable: true, arguments: { ...queue.arguments } });
  for (const b of bindings) await ch.bindQueue(queue.name, b.source, b.routingKey);
}

/** Thrown when the broker refuses to declare the consistent-hash exchange (its plugin is not enabled). */
export class ShardExchangeUnavailableError extends Error {
  readonly code = 'SHARD_EXCHANGE_UNAVAILABLE';
  readonly permanent = true;
  override readonly name = 'ShardExchangeUnavailableError';
}

/**
 * Everything declareQueueOn declares for one spec, as data: a shard's consistent-hash exchange and its
 * bindings on `sensor_streaming`, the queue with its `queue.declare` options, and the queue's bindings.
 * declareQueueOn sends exactly these, and broker definitions (queueDefinitions, packages/identity) are built
 * from them too: a queue pre-declared by definitions and the bus's own declare of it cannot differ (RabbitMQ
 * would refuse the bus with PRECONDITION_FAILED, inequivalent arguments).
 */
export interface QueueDeclarations {
  /** Declared before the queue: a shard's consistent-hash exchange (none for an unsharded queue). */
  exchanges: Array<{ name: string; type: string; options: Options.AssertExchange }>;
  /** Exchange-to-exchange bindings: `destination` receives what `source` routes with `routingKey`. */
  exchangeBindings: Array<{ source: string; destination: string; routingKey: string }>;
  queue: { name: string; options: Options.AssertQueue };
  /** The spec's `bindings` on its source (`sensor_streaming`, or the shard exchange: weights). */
  bindings: Array<{ source: string; routingKey: string }>;
  /** The spec's `deadLetterBindings` on `sensor_streaming.dlx`. */
  deadLetterBindings: Array<{ source: string; routingKey: string }>;
  /**
   * A quorum queue's own release exchange (see releaseExchangeName), bound to it alone: a quorum queue counts
   * every requeue towards its delivery limit, so a message given back uncounted is a new copy, published here.
   */
  release: { name: string; type: 'fanout'; options: Options.AssertExchange } | undefined;
}

/** The declarations of a spec (whether it is retired is for the caller: see declareQueueOn). */
export function queueDeclarations(spec: QueueSpec): QueueDeclarations {
  const x = spec.shardOf;
  const source = x?.name ?? EXCHANGE;
  return {
    exchanges:
      x === undefined
        ? []
        : [{ name: x.name, type: CONSISTENT_HASH_EXCHANGE_TYPE, options: { durable: true } }],
    exchangeBindings:
      x === undefined
        ? []
        : x.bindings.map((routingKey) => ({ source: EXCHANGE, destination: x.name, routingKey })),
    queue: { name: spec.name, options: queueDeclareOptions(spec) },
    bindings: spec.bindings.map((routingKey) => ({ source, routingKey })),
    deadLetterBindings: (spec.deadLetterBindings ?? []).map((routingKey) => ({
      source: DEAD_LETTER_EXCHANGE,
      routingKey,
    })),
    release:
      spec.type === 'quorum'
        ? { name: releaseExchangeName(spec.name), type: 'fanout', options: { durable: true } }
        : undefined,
  };
}

/** Declare one queue and its bindings (idempotent); a retired queue has its bindings removed instead. */
export async function declareQueueOn(ch: Channel, spec: QueueSpec): Promise<void> {
  const d = queueDeclarations(spec);
  // a retired shard only exists if its exchange does: it is not re-declared (nor bound again) to unbind a queue
  if (spec.retired !== true) {
    for (const x of d.exchanges) {
      try {
        await ch.assertExchange(x.name, x.type, x.options);
      } catch (err) {
        throw new ShardExchangeUnavailableError(
          `cannot declare the ${x.type} exchange '${x.name}' for queue '${spec.name}': ` +
            `is the rabbitmq_consistent_hash_exchange plugin enabled? (${err instanceof Error ? err.message : String(err)})`,
          { cause: err },
        );
      }
    }
    for (const b of d.exchangeBindings) await ch.bindExchange(b.destination, b.source, b.routingKey);
  }
  await ch.assertQueue(d.queue.name, d.queue.options);
  if (d.release !== undefined) {
    // bound whether retired or not: a retired queue still drains, and may give a batch back while it does
    await ch.assertExchange(d.release.name, d.release.type, d.release.options);
    await ch.bindQueue(spec.name, d.release.name, '');
  }
  for (const b of d.bindings) {
    if (spec.retired) await ch.unbindQueue(spec.name, b.source, b.routingKey);
    else await ch.bindQueue(spec.name, b.source, b.routingKey);
  }
  for (const b of d.deadLetterBindings) await ch.bindQueue(spec.name, b.source, b.routingKey);
}

/** The exchanges, queues and bindings of RabbitMQ definitions (the import/export format) for `vhost`. */
export interface TopologyDefinitions {
  exchanges: Array<{
    name: string;
    vhost: string;
    type: string;
    durable: boolean;
    auto_delete: boolean;
    internal: boolean;
    arguments: Record<string, unknown>;
  }>;
  queues: Array<{
    name: string;
    vhost: string;
    durable: boolean;
    auto_delete: boolean;
    arguments: Record<string, unknown>;
  }>;
  bindings: Array<{
    source: string;
    vhost: string;
    destination: string;
    destination_type: 'queue' | 'exchange';
    routing_key: string;
    arguments: Record<string, unknown>;
  }>;
}

/** BASE_TOPOLOGY as RabbitMQ definitions for `vhost`: what every bus would declare on connect. */
export function baseTopologyDefinitions(vhost: string): TopologyDefinitions {
  const { exchanges, queue, bindings } = BASE_TOPOLOGY;
  return {
    exchanges: exchanges.map((x) => ({
      name: x.name,
      vhost,
      type: x.type,
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    })),
    queues: [
      { name: queue.name, vhost, durable: true, auto_delete: false, arguments: { ...queue.arguments } },
    ],
    bindings: bindings.map((b) => ({
      source: b.source,
      vhost,
      destination: queue.name,
      destination_type: 'queue',
      routing_key: b.routingKey,
      arguments: {},
    })),
  };
}

/**
 * What declareQueueOn would declare for `specs`, as RabbitMQ definitions for `vhost` (an exchange or binding
 * several specs share appears once), so a broker can hold the queues before their consumer first starts.
 * The flags are amqplib's defaults where an option is unset (durable, not auto-delete, not internal). Throws
 * a RangeError for what definitions cannot or must not hold: an exclusive queue (it belongs to a connection)
 * or a retired one (its bindings are to be removed, not declared).
 */
export function queueDefinitions(specs: readonly QueueSpec[], vhost: string): TopologyDefinitions {
  const out: TopologyDefinitions = { exchanges: [], queues: [], bindings: [] };
  const seen = new Set<string>();
  /** True the first time `parts` is seen. */
  const once = (...parts: string[]): boolean => {
    const key = JSON.stringify(parts);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  for (const spec of specs) {
    validateQueueSpec(spec);
    if (spec.retired === true)
      throw new RangeError(`queue spec '${spec.name}': a retired queue has no place in definitions`);
    const d = queueDeclarations(spec);
    if (d.queue.options.exclusive === true)
      throw new RangeError(`queue spec '${spec.name}': an exclusive queue cannot be in definitions`);
    for (const x of d.release === undefined ? d.exchanges : [...d.exchanges, d.release]) {
      if (!once('exchange', x.name)) continue;
      out.exchanges.push({
        name: x.name,
        vhost,
        type: x.type,
        durable: x.options.durable ?? true,
        auto_delete: x.options.autoDelete ?? false,
        internal: x.options.internal ?? false,
        arguments: { ...(x.options.arguments ?? {}) },
      });
    }
    const binding = (
      source: string,
      destination: string,
      destination_type: 'queue' | 'exchange',
      routing_key: string,
    ): void => {
      if (once('binding', source, destination_type, destination, routing_key))
        out.bindings.push({ source, vhost, destination, destination_type, routing_key, arguments: {} });
    };
    for (const b of d.exchangeBindings) binding(b.source, b.destination, 'exchange', b.routingKey);
    if (once('queue', d.queue.name)) {
      out.queues.push({
        name: d.queue.name,
        vhost,
        durable: d.queue.options.durable ?? true,
        auto_delete: d.queue.options.autoDelete ?? false,
        arguments: { ...(d.queue.options.arguments ?? {}) },
      });
    }
    for (const b of [...d.bindings, ...d.deadLetterBindings])
      binding(b.source, d.queue.name, 'queue', b.routingKey);
    if (d.release !== undefined) binding(d.release.name, d.queue.name, 'queue', '');
  }
  return out;
}

/** A bounded metric label for a queue: per-sensor command queues collapse into one value. */
export function queueMetricLabel(name: string): string {
  return /^sensor\.[^.]+\.commands$/.test(name) ? 'sensor.*.commands' : name;
}
