import { EventEmitter } from 'node:events';
import type { TlsFiles } from '@sensor-streaming/runtime';
import type { Channel, ChannelModel, Options } from 'amqplib';
import { Registry } from 'prom-client';
import type { BackoffOptions } from './backoff.js';
import { ManagedConnection } from './connection.js';
import { type BatchOutcome, type Consumer, ManagedConsumer } from './consumer.js';
import type { Delivery } from './delivery.js';
import { BusClosedError, BusDisconnectedError, errorReason } from './errors.js';
import type { BusLogger } from './logger.js';
import { createBusMetrics } from './metrics.js';
import { type MultiConsumer, MultiQueueConsumer } from './multi-consumer.js';
import { Publisher } from './publisher.js';
import { urlUser } from './url.js';
import { HEADER_RPC_ERROR, HEADER_RPC_ERROR_CODE, RpcClient } from './rpc-client.js';
import {
  declareBaseTopology,
  declareQueueOn,
  EXCHANGE,
  type QueueSpec,
  validateQueueSpec,
} from './topology.js';

export interface BusOptions {
  url: string;
  /** client_properties.connection_name; the two connections are named `<name>.publish` and `<name>.consume`. */
  connectionName: string;
  logger: BusLogger;
  /** Metrics are registered here (a private registry if omitted). */
  registry?: Registry;
  /** AMQP heartbeat in seconds, default 15. */
  heartbeatS?: number;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Max unconfirmed publishes in flight, default 1000. */
  confirmWindow?: number;
  /** Max publishes buffered (waiting + in flight) while the broker is slow or away, default 50 000. */
  publishBufferLimit?: number;
  /** A publish not confirmed within this time rejects with PublishTimeoutError, default 60 000. */
  publishTimeoutMs?: number;
  /** Deadline for stop() to wait for in-flight confirms, default 10 000. */
  stopTimeoutMs?: number;
  /**
   * Told of every failed connect attempt of either connection (the bus retries regardless). A CLI uses it to
   * give up at once on a refusal that retrying cannot fix (see `describeConnectError`).
   */
  onConnectError?: (err: unknown) => void;
  /**
   * TCP_NODELAY (amqplib's default is off). With Nagle on, a small frame written while the previous one is
   * unacknowledged waits for the peer's delayed ACK (~40 ms on Linux): a short-lived client such as iotctl
   * pays that on the handshake, the topology declarations and the close. Default false (services unchanged).
   */
  noDelay?: boolean;
  /**
   * The AMQP `user_id` stamped on every publish and RPC request, which RabbitMQ checks against the
   * connection's user (a mismatch closes the channel with PRECONDITION_FAILED): consumers read it as
   * `Delivery.userId`, the broker-validated author. Default: the user of `url` (`guest` without
   * credentials; the certificate's CN for `amqps://` with a client certificate and no user, i.e. SASL
   * EXTERNAL). Set it when the broker maps users otherwise; `false` stamps nothing (consumers then see no
   * author).
   */
  userId?: string | false;
  /**
   * CA, client certificate and key for an `amqps://` URL (TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE via
   * `readCommonConfig`). The broker's certificate is always verified: without a CA file, against the system's.
   */
  tls?: TlsFiles | undefined;
}

export interface PublishOptions {
  contentType?: string;
  headers?: Record<string, unknown>;
  /** Reject with UnroutableError if no queue is bound to the routing key. */
  mandatory?: boolean;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  expirationMs?: number;
  /** Default true. */
  persistent?: boolean;
}

export interface ConsumeSpec {
  queue: QueueSpec;
  /** Default 100. */
  prefetch?: number;
  /** Handler calls running at once, default 1 (messages handled in order). */
  concurrency?: number;
  /** First pause before requeueing after a transient error, doubling per delivery (max 5 s); default 250. */
  retryDelayMs?: number;
  handler(d: Delivery): Promise<void>;
}

export interface BatchConsumeSpec {
  queue: QueueSpec;
  /** Default 2 * maxBatch. */
  prefetch?: number;
  maxBatch: number;
  maxWaitMs: number;
  /** First pause before requeueing a failed batch, doubling per delivery (max 5 s); default 250. */
  retryDelayMs?: number;
  /** Declare the queue but do not take deliveries until resume() (e.g. until the database is reachable). */
  startPaused?: boolean;
  handler(ds: Delivery[]): Promise<BatchOutcome>;
}

/** Many queues (e.g. one per sensor) over few channels; see MultiConsumer. */
export interface MultiConsumeSpec {
  /** The queues to start with (more with add()). */
  queues: readonly QueueSpec[];
  /** Consumers per channel, default 100. */
  queuesPerChannel?: number;
  /** At most this many channels, default 1000 (the broker's channel_max is 2047 per connection). */
  maxChannels?: number;
  /** Unacked messages per queue, default 10. */
  prefetch?: number;
  /** Unacked messages per channel, shared by its queues (global QoS; classic queues only). Default none. */
  channelPrefetch?: number;
  /** Handler calls running at once over all queues (one queue's messages are handled in order), default 100. */
  concurrency?: number;
  /** First pause before requeueing after a transient error, doubling per delivery (max 5 s); default 250. */
  retryDelayMs?: number;
  /** Channels used at once to declare the queues, default 16. */
  declareChannels?: number;
  /** Extra declarations made on every (re)connect before consuming (e.g. an exchange binding). */
  setup?: (ch: Channel) => Promise<void>;
  handler(d: Delivery): Promise<void>;
}

export type RpcRequest = Delivery;

export interface RpcCallOptions {
  /** Default 5000. */
  timeoutMs?: number;
  contentType?: string;
  headers?: Record<string, unknown>;
}

export interface RpcServeOptions {
  /** Requests handled at once, default 4. */
  concurrency?: number;
  /** Default 50. */
  prefetch?: number;
}

export type BusEvent = 'connected' | 'disconnected' | 'blocked' | 'unblocked';

export interface Bus {
  start(): Promise<void>;
  stop(): Promise<void>;
  isConnected(): boolean;
  declareQueue(spec: QueueSpec): Promise<void>;
  /** Which of these queues exist (passive declares; never creates one). */
  existingQueues(names: readonly string[]): Promise<Set<string>>;
  publish(routingKey: string, body: Buffer, opts?: PublishOptions): Promise<void>;
  consume(spec: ConsumeSpec): Promise<Consumer>;
  consumeBatch(spec: BatchConsumeSpec): Promise<Consumer>;
  /**
   * Consume many queues over few channels of the consume connection (thousands: one per sensor), adding and
   * removing queues at run time; re-declared and consumed again after every reconnect.
   */
  consumeMany(spec: MultiConsumeSpec): Promise<MultiConsumer>;
  /** Serve requests from `queue` (a string: a classic durable queue bound with its own name as key). */
  rpcServe(
    queue: string | QueueSpec,
    handler: (req: RpcRequest) => Promise<Buffer>,
    opts?: RpcServeOptions,
  ): Promise<Consumer>;
  rpcCall(routingKeyOrQueue: string, body: Buffer, opts?: RpcCallOptions): Promise<Delivery>;
  on(event: BusEvent, fn: (...args: unknown[]) => void): void;
  off(event: BusEvent, fn: (...args: unknown[]) => void): void;
}

function positiveInt(field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`bus option ${field} must be a positive integer, got ${v}`);
  return v;
}

export function createBus(opts: BusOptions): Bus {
  return new BusImpl(opts);
}

async function withChannel(
  model: ChannelModel,
  fn: (ch: Channel) => Promise<void>,
  log: BusLogger,
): Promise<void> {
  const ch = await model.createChannel();
  ch.on('error', (err: Error) => log.warn({ err }, 'topology channel error'));
  try {
    await fn(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

class BusImpl implements Bus {
  private readonly log: BusLogger;
  private readonly pubConn: ManagedConnection;
  private readonly conConn: ManagedConnection;
  private readonly publisher: Publisher;
  private readonly rpc: RpcClient;
  private readonly consumers = new Set<ManagedConsumer>();
  private readonly multiConsumers = new Set<MultiQueueConsumer>();
  private readonly queues = new Map<string, QueueSpec>();
  private readonly events = new EventEmitter();
  private readonly stopTimeoutMs: number;
  private readonly metrics;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private wasConnected = false;
  /** Stamped as user_id on every publish; undefined with `userId: false`. */
  private readonly userId: string | undefined;

  constructor(opts: BusOptions) {
    if (typeof opts.connectionName !== 'string' || opts.connectionName === '') {
      throw new RangeError('bus option connectionName must be a non-empty string');
    }
    new URL(opts.url); // throws TypeError on a malformed URL
    if (
      opts.userId !== undefined &&
      opts.userId !== false &&
      (typeof opts.userId !== 'string' || opts.userId === '')
    ) {
      throw new RangeError('bus option userId must be a non-empty string or false');
    }
    this.userId = opts.userId === false ? undefined : (opts.userId ?? urlUser(opts.url, opts.tls?.certFile));
    this.log = opts.logger.child({ component: 'bus' });
    this.metrics = createBusMetrics(opts.registry ?? new Registry());
    this.stopTimeoutMs = positiveInt('stopTimeoutMs', opts.stopTimeoutMs, 10_000);
    const heartbeatS = positiveInt('heartbeatS', opts.heartbeatS, 15);
    const backoff: BackoffOptions = {
      initialDelayMs: positiveInt('reconnect.initialDelayMs', opts.reconnect?.initialDelayMs, 200),
      maxDelayMs: positiveInt('reconnect.maxDelayMs', opts.reconnect?.maxDelayMs, 15_000),
    };
    this.events.on('error', (err: unknown) => this.log.error({ err }, 'bus event listener error'));
    const common = {
      url: opts.url,
      heartbeatS,
      backoff,
      connectTimeoutMs: 10_000,
      logger: this.log,
      metrics: this.metrics,
      ...(opts.onConnectError === undefined ? {} : { onConnectError: opts.onConnectError }),
      ...(opts.noDelay === true ? { noDelay: true } : {}),
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
    };
    this.pubConn = new ManagedConnection({
      ...common,
      name: `${opts.connectionName}.publish`,
      role: 'publish',
      onConnect: (model) => withChannel(model, declareBaseTopology, this.log),
    });
    this.conConn = new ManagedConnection({
      ...common,
      name: `${opts.connectionName}.consume`,
      role: 'consume',
      onConnect: (model) =>
        withChannel(
          model,
          async (ch) => {
            await declareBaseTopology(ch);
            for (const spec of this.queues.values()) await declareQueueOn(ch, spec);
          },
          this.log,
        ),
    });
    this.publisher = new Publisher({
      window: positiveInt('confirmWindow', opts.confirmWindow, 1000),
      bufferLimit: positiveInt('publishBufferLimit', opts.publishBufferLimit, 50_000),
      publishTimeoutMs: positiveInt('publishTimeoutMs', opts.publishTimeoutMs, 60_000),
      logger: this.log,
      metrics: this.metrics,
      ...(this.userId === undefined ? {} : { userId: this.userId }),
    });
    this.rpc = new RpcClient(this.log, this.userId);

    this.pubConn.on('up', (model: ChannelModel) => {
      this.publisher.attach(model);
      this.rpc.attach(model);
      this.connectionChanged();
    });
    this.pubConn.on('down', () => {
      this.publisher.detach();
      this.rpc.detach();
      this.connectionChanged();
    });
    this.conConn.on('up', (model: ChannelModel) => {
      for (const c of this.consumers) this.attachConsumer(c, model);
      for (const c of this.multiConsumers) {
        c.attach(model).catch((err: unknown) => {
          this.log.error({ err }, 'cannot resume multi-queue consumer after reconnect, retrying');
          c.retryLater(model);
        });
      }
      this.connectionChanged();
    });
    this.conConn.on('down', () => {
      for (const c of this.consumers) c.detach();
      for (const c of this.multiConsumers) c.detach();
      this.connectionChanged();
    });
    for (const conn of [this.pubConn, this.conConn]) {
      conn.on('blocked', (reason: string) => this.emit('blocked', reason));
      conn.on('unblocked', () => this.emit('unblocked'));
    }
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new BusClosedError(`the bus cannot be started: it is ${this.state}`);
    this.state = 'running';
    await Promise.all([this.pubConn.start(), this.conConn.start()]);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    const t0 = Date.now();
    // a handler that never settles must not hold shutdown forever: after the deadline, close anyway (its
    // unacked messages return to the queue)
    let timer: NodeJS.Timeout | undefined;
    const consumersStopped = await Promise.race([
      Promise.all([...this.consumers, ...this.multiConsumers].map((c) => c.stop())).then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.stopTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!consumersStopped) {
      this.log.warn(
        { timeoutMs: this.stopTimeoutMs },
        'consumer handlers still running at the stop deadline',
      );
    }
    this.rpc.close();
    await this.publisher.stop(this.stopTimeoutMs);
    const left = Math.max(1000, this.stopTimeoutMs - (Date.now() - t0));
    await Promise.all([this.pubConn.stop(left), this.conConn.stop(left)]);
    this.state = 'stopped';
    if (wasRunning) this.log.info({ durationMs: Date.now() - t0 }, 'bus stopped');
  }

  isConnected(): boolean {
    return this.pubConn.model !== undefined && this.conConn.model !== undefined;
  }

  async declareQueue(spec: QueueSpec): Promise<void> {
    this.assertOpen();
    validateQueueSpec(spec);
    const model = this.conConn.model;
    if (model) await withChannel(model, (ch) => declareQueueOn(ch, spec), this.log);
    this.queues.set(spec.name, spec);
  }

  async existingQueues(names: readonly string[]): Promise<Set<string>> {
    this.assertOpen();
    const model = this.conConn.model;
    if (!model) throw new BusDisconnectedError();
    const found = new Set<string>();
    const todo = [...new Set(names)];
    // A passive declare of a missing queue closes its channel (404): each worker
    // opens a fresh channel after a miss. A few workers pipeline the round trips.
    const worker = async (): Promise<void> => {
      let ch: Channel | undefined;
      try {
        for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
          if (ch === undefined) {
            ch = await model.createChannel();
            ch.on('error', () => undefined); // the expected 404 closes it; handled below
          }
          try {
            await ch.checkQueue(name);
            found.add(name);
          } catch (err) {
            if ((err as { code?: unknown }).code !== 404) throw err;
            ch = undefined;
          }
        }
      } finally {
        await ch?.close().catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(todo.length < 100 ? 8 : 32, todo.length) }, worker));
    return found;
  }

  publish(routingKey: string, body: Buffer, opts: PublishOptions = {}): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return Promise.reject(new BusClosedError());
    if (typeof routingKey !== 'string' || Buffer.byteLength(routingKey) > 255) {
      return Promise.reject(new RangeError('routingKey must be a string of at most 255 bytes'));
    }
    if (!Buffer.isBuffer(body)) return Promise.reject(new TypeError('body must be a Buffer'));
    let options: Options.Publish;
    try {
      options = toAmqpOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.publisher.publish(EXCHANGE, routingKey, body, options);
  }

  async consume(spec: ConsumeSpec): Promise<Consumer> {
    this.assertOpen();
    validateQueueSpec(spec.queue);
    if (typeof spec.handler !== 'function') throw new TypeError('consume: handler must be a function');
    const prefetch = positiveInt('prefetch', spec.prefetch, 100);
    const concurrency = positiveInt('concurrency', spec.concurrency, 1);
    const retryDelayMs = positiveInt('retryDelayMs', spec.retryDelayMs, 250);
    return this.addConsumer(
      spec.queue,
      prefetch,
      { kind: 'single', concurrency, handler: spec.handler },
      retryDelayMs,
    );
  }

  async consumeBatch(spec: BatchConsumeSpec): Promise<Consumer> {
    this.assertOpen();
    validateQueueSpec(spec.queue);
    if (typeof spec.handler !== 'function') throw new TypeError('consumeBatch: handler must be a function');
    const maxBatch = positiveInt('maxBatch', spec.maxBatch, 100);
    if (!Number.isFinite(spec.maxWaitMs) || spec.maxWaitMs < 0) {
      throw new RangeError(`consumeBatch: maxWaitMs must be a non-negative number, got ${spec.maxWaitMs}`);
    }
    const prefetch = positiveInt('prefetch', spec.prefetch, Math.min(65_535, maxBatch * 2));
    const retryDelayMs = positiveInt('retryDelayMs', spec.retryDelayMs, 250);
    return this.addConsumer(
      spec.queue,
      prefetch,
      { kind: 'batch', maxBatch, maxWaitMs: spec.maxWaitMs, handler: spec.handler },
      retryDelayMs,
      spec.startPaused === true,
    );
  }

  async consumeMany(spec: MultiConsumeSpec): Promise<MultiConsumer> {
    this.assertOpen();
    if (typeof spec.handler !== 'function') throw new TypeError('consumeMany: handler must be a function');
    if (!Array.isArray(spec.queues))
      throw new TypeError('consumeMany: queues must be an array of queue specs');
    const maxChannels = positiveInt('maxChannels', spec.maxChannels, 1000);
    if (maxChannels > 2000) {
      throw new RangeError(
        `consumeMany: maxChannels must be at most 2000 (channel_max 2047), got ${maxChannels}`,
      );
    }
    const channelPrefetch =
      spec.channelPrefetch === undefined
        ? undefined
        : positiveInt('channelPrefetch', spec.channelPrefetch, 1);
    const consumer = new MultiQueueConsumer(
      {
        logger: this.log,
        metrics: this.metrics,
        publisher: this.publisher,
        userId: this.userId,
        onStopped: (c) => this.multiConsumers.delete(c),
      },
      {
        queuesPerChannel: positiveInt('queuesPerChannel', spec.queuesPerChannel, 100),
        maxChannels,
        prefetch: positiveInt('prefetch', spec.prefetch, 10),
        ...(channelPrefetch === undefined ? {} : { channelPrefetch }),
        concurrency: positiveInt('concurrency', spec.concurrency, 100),
        retryDelayMs: positiveInt('retryDelayMs', spec.retryDelayMs, 250),
        declareChannels: positiveInt('declareChannels', spec.declareChannels, 16),
        ...(spec.setup === undefined ? {} : { setup: spec.setup }),
        handler: spec.handler,
      },
    );
    await consumer.add(spec.queues); // validates before anything is declared
    this.multiConsumers.add(consumer);
    const model = this.conConn.model;
    try {
      if (model) await consumer.attach(model);
    } catch (err) {
      consumer.abandon();
      this.multiConsumers.delete(consumer);
      throw err;
    }
    return consumer;
  }

  async rpcServe(
    queue: string | QueueSpec,
    handler: (req: RpcRequest) => Promise<Buffer>,
  ): Promise<Consumer> {
    // a plain name: classic durable queue bound with its own name; requests carry an expiration (the caller's
    // timeout) and are not dead-lettered when they expire unanswered
    const spec: QueueSpec =
      typeof queue === 'string'
        ? { name: queue, type: 'classic', bindings: [queue], deadLetter: false }
        : queue;
    return this.consume({
      queue: spec,
      prefetch: 50,
      handler: async (req) => {
        if (!req.replyTo || !req.correlationId) {
          throw Object.assign(new Error('RPC request without replyTo or correlationId'), { permanent: true });
        }
        let body: Buffer;
        const headers: Record<string, unknown> = {};
        try {
          body = await handler(req);
          if (!Buffer.isBuffer(body)) throw new TypeError('rpc handler must resolve to a Buffer');
        } catch (err) {
          this.log.warn({ err, routingKey: req.routingKey }, 'rpc handler failed, replying with the error');
          body = Buffer.alloc(0);
          headers[HEADER_RPC_ERROR] = errorReason(err);
          const code = (err as { code?: unknown })?.code;
          if (typeof code === 'string') headers[HEADER_RPC_ERROR_CODE] = code;
        }
        // reply through the default exchange to the caller's (direct) reply-to queue
        await this.publisher.publish('', req.replyTo, body, {
          correlationId: req.correlationId,
          headers,
          persistent: false,
          ...(req.contentType === undefined ? {} : { contentType: req.contentType }),
        });
      },
    });
  }

  async rpcCall(routingKeyOrQueue: string, body: Buffer, opts: RpcCallOptions = {}): Promise<Delivery> {
    this.assertOpen();
    const timeoutMs = positiveInt('timeoutMs', opts.timeoutMs, 5000);
    return this.rpc.call(routingKeyOrQueue, body, {
      timeoutMs,
      ...(opts.contentType === undefined ? {} : { contentType: opts.contentType }),
      ...(opts.headers === undefined ? {} : { headers: opts.headers }),
    });
  }

  on(event: BusEvent, fn: (...args: unknown[]) => void): void {
    this.events.on(event, fn);
  }

  off(event: BusEvent, fn: (...args: unknown[]) => void): void {
    this.events.off(event, fn);
  }

  private emit(event: BusEvent, ...args: unknown[]): void {
    try {
      this.events.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'a bus event listener threw');
    }
  }

  private connectionChanged(): void {
    const now = this.isConnected();
    if (now === this.wasConnected) return;
    this.wasConnected = now;
    this.emit(now ? 'connected' : 'disconnected');
  }

  private assertOpen(): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new BusClosedError();
  }

  private async addConsumer(
    queue: QueueSpec,
    prefetch: number,
    mode: ConstructorParameters<typeof ManagedConsumer>[3],
    retryDelayMs: number,
    startPaused = false,
  ): Promise<Consumer> {
    const consumer = new ManagedConsumer(
      {
        logger: this.log,
        metrics: this.metrics,
        publisher: this.publisher,
        userId: this.userId,
        onStopped: (c) => this.consumers.delete(c),
      },
      queue,
      prefetch,
      mode,
      retryDelayMs,
      startPaused,
    );
    this.consumers.add(consumer);
    const model = this.conConn.model;
    try {
      if (model) await consumer.attach(model); // a bad spec (e.g. inequivalent args) fails here
    } catch (err) {
      consumer.abandon();
      this.consumers.delete(consumer);
      throw err;
    }
    this.queues.set(queue.name, queue);
    return consumer;
  }

  private attachConsumer(c: ManagedConsumer, model: ChannelModel): void {
    c.attach(model).catch((err: unknown) => {
      this.log.error({ err, queue: c.queue.name }, 'cannot resume consumer after reconnect, retrying');
      c.retryLater(model);
    });
  }
}

function toAmqpOptions(o: PublishOptions): Options.Publish {
  const out: Options.Publish = { persistent: o.persistent !== false };
  if (o.contentType !== undefined) out.contentType = o.contentType;
  if (o.headers !== undefined) out.headers = o.headers;
  if (o.mandatory) out.mandatory = true;
  if (o.messageId !== undefined) out.messageId = o.messageId;
  if (o.correlationId !== undefined) out.correlationId = o.correlationId;
  if (o.replyTo !== undefined) out.replyTo = o.replyTo;
  if (o.expirationMs !== undefined) {
    if (!Number.isInteger(o.expirationMs) || o.expirationMs < 0) {
      throw new RangeError(`expirationMs must be a non-negative integer, got ${o.expirationMs}`);
    }
    out.expiration = String(o.expirationMs);
  }
  return out;
}
