import { amqpSocketOptions, backoffDelay, commandQueue, queueDeclareOptions } from '@sensor-streaming/bus';
import { commandQueueName, EXCHANGE, isProtocolError } from '@sensor-streaming/protocol';
import type { Logger, TlsFiles } from '@sensor-streaming/runtime';
import { type Channel, type ChannelModel, type ConsumeMessage, connect } from 'amqplib';

export interface CommandConsumerOptions {
  url: string;
  /** client_properties.connection_name. */
  connectionName: string;
  logger: Logger;
  serials: readonly string[];
  /** x-message-ttl of each command queue (must match any other declarer). */
  commandTtlMs: number;
  /** Unacked commands per channel (shared by all the channel's consumers). */
  prefetch: number;
  /** Command queues consumed on one channel. */
  queuesPerChannel: number;
  heartbeatS?: number;
  /** TLS files for an amqps:// url. */
  tls?: TlsFiles | undefined;
  /** Extra declarations made on every (re)connect, before consuming (e.g. MQTT exchange bindings). */
  setup?: (ch: Channel) => Promise<void>;
  /**
   * Handles one command. Resolves -> ack. Throws a permanent error (bad
   * message) -> dead-lettered now; another error -> requeued once, then
   * dead-lettered.
   */
  handler(serial: string, body: Buffer, contentType: string | undefined): Promise<void>;
}

/** Channels used in parallel to declare the command queues. */
const DECLARE_CHANNELS = 32;

function isPermanent(err: unknown): boolean {
  return (
    isProtocolError(err) || (err instanceof Error && (err as { permanent?: unknown }).permanent === true)
  );
}

/**
 * Consumes the command queues of every sensor of this process, many queues
 * per channel: one channel per sensor would cap a process at the broker's
 * channel_max (2047) and cost memory on both sides. Declares each queue with
 * the bus's own `commandQueue` spec (classic, durable, message TTL,
 * dead-lettered to the DLX), on its own connection, reconnecting with backoff.
 */
export class CommandConsumer {
  readonly #opts: CommandConsumerOptions;
  readonly #log: Logger;
  #model: ChannelModel | undefined;
  #channels: Channel[] = [];
  #stopping = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #connected = false;
  #firstConnect: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(opts: CommandConsumerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'command-consumer' });
  }

  isConnected(): boolean {
    return this.#connected;
  }

  /** Resolves once every command queue is declared and consumed; retries with backoff until then. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#firstConnect = { resolve, reject };
      void this.#connect();
    });
  }

  async #connect(): Promise<void> {
    if (this.#stopping) return;
    const started = Date.now();
    let model: ChannelModel | undefined;
    try {
      const u = new URL(this.#opts.url);
      u.searchParams.set('heartbeat', String(this.#opts.heartbeatS ?? 15));
      model = await connect(
        u.toString(),
        amqpSocketOptions(
          u.toString(),
          { clientProperties: { connection_name: this.#opts.connectionName }, timeout: 10_000 },
          this.#opts.tls,
        ),
      );
      model.on('error', (err: Error) => this.#log.warn({ err }, 'command connection error'));
      model.on('close', () => this.#lost(model!));
      this.#model = model;
      await this.#declareAndConsume(model);
      this.#connected = true;
      this.#attempt = 0;
      this.#log.info(
        { queues: this.#opts.serials.length, channels: this.#channels.length, ms: Date.now() - started },
        'consuming command queues',
      );
      this.#firstConnect?.resolve();
      this.#firstConnect = undefined;
    } catch (err) {
      this.#log.warn({ err }, 'command consumer could not connect; retrying');
      if (model) await model.close().catch(() => undefined);
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#stopping || this.#timer) return;
    this.#attempt++;
    const delay = backoffDelay(this.#attempt, { initialDelayMs: 200, maxDelayMs: 10_000 });
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  #lost(model: ChannelModel): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#channels = [];
    this.#connected = false;
    if (this.#stopping) return;
    this.#log.warn('command connection lost; reconnecting (unacked commands will be redelivered)');
    this.#schedule();
  }

  async #declareAndConsume(model: ChannelModel): Promise<void> {
    const { serials, queuesPerChannel, prefetch, commandTtlMs } = this.#opts;
    if (this.#opts.setup) {
      const ch = await model.createChannel();
      try {
        await this.#opts.setup(ch);
      } finally {
        await ch.close().catch(() => undefined);
      }
    }
    // Declare on several channels at once: amqplib runs one RPC at a time per channel, and the broker
    // handles declarations of different channels in parallel.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(DECLARE_CHANNELS, serials.length) }, async () => {
        const ch = await model.createChannel();
        ch.on('error', (err: Error) => this.#log.warn({ err }, 'command queue declaration failed'));
        while (next < serials.length) {
          const spec = commandQueue(serials[next++]!, commandTtlMs);
          await ch.assertQueue(spec.name, queueDeclareOptions(spec));
          for (const key of spec.bindings) await ch.bindQueue(spec.name, EXCHANGE, key);
        }
        await ch.close();
      }),
    );
    const chunks: string[][] = [];
    for (let i = 0; i < serials.length; i += queuesPerChannel)
      chunks.push(serials.slice(i, i + queuesPerChannel));
    this.#channels = [];
    await Promise.all(
      chunks.map(async (chunk) => {
        const ch = await model.createChannel();
        ch.on('error', (err: Error) => this.#log.warn({ err }, 'command channel error'));
        // A channel closed by the broker is fatal for this connection: reconnect and start over rather
        // than silently stop consuming some queues.
        ch.on('close', () => {
          if (!this.#stopping && this.#model === model) void model.close().catch(() => undefined);
        });
        this.#channels.push(ch);
        await ch.prefetch(prefetch, true);
        for (const serial of chunk) {
          await ch.consume(commandQueueName(serial), (msg) => this.#onMessage(ch, serial, msg), {
            noAck: false,
          });
        }
      }),
    );
  }

  #onMessage(ch: Channel, serial: string, msg: ConsumeMessage | null): void {
    if (msg === null) return; // consumer cancelled by the broker (queue deleted): reconnect re-declares
    if (this.#stopping) return; // requeued when the connection closes
    this.#inFlight++;
    this.#opts
      .handler(serial, msg.content, msg.properties.contentType as string | undefined)
      .then(
        () => ch.ack(msg),
        (err: unknown) => {
          const permanent = isPermanent(err);
          const requeue = !permanent && !msg.fields.redelivered;
          this.#log.warn(
            { err, serial, requeue },
            permanent ? 'bad command dead-lettered' : 'command failed',
          );
          ch.nack(msg, false, requeue);
        },
      )
      .catch((err: unknown) => this.#log.debug({ err }, 'ack failed (channel closed; will be redelivered)'))
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === 0) for (const w of this.#idle.splice(0)) w();
      });
  }

  /** Stops consuming, waits for commands being handled, closes the connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firstConnect?.reject(new Error('command consumer stopped before it connected'));
    this.#firstConnect = undefined;
    // Deliveries from now on are left unacked: closing the connection hands them back to the broker
    // (one close instead of thousands of basic.cancel round trips). Handlers already running finish
    // first, so their acks still go out.
    if (this.#inFlight > 0) await new Promise<void>((r) => this.#idle.push(r));
    const model = this.#model;
    this.#model = undefined;
    this.#connected = false;
    this.#channels = [];
    if (model) await model.close().catch(() => undefined);
  }
}
