import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { type Delivery, toDelivery } from './delivery.js';
import {
  BusClosedError,
  BusDisconnectedError,
  PublishRefusedError,
  RpcRemoteError,
  RpcTimeoutError,
  refusalOf,
  UnroutableError,
} from './errors.js';
import type { BusLogger } from './logger.js';
import { EXCHANGE } from './topology.js';

export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
/** Set on an RPC reply when the server's handler failed; the value is the reason. */
export const HEADER_RPC_ERROR = 'x-sensor-streaming-rpc-error';
export const HEADER_RPC_ERROR_CODE = 'x-sensor-streaming-rpc-error-code';

interface PendingCall {
  routingKey: string;
  resolve(d: Delivery): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * RPC caller using RabbitMQ direct reply-to: one confirm channel on the publish connection both consumes
 * `amq.rabbitmq.reply-to` (no-ack, as direct reply-to requires) and publishes the requests (mandatory, so a
 * request nobody serves fails fast with UnroutableError).
 */
export class RpcClient {
  private readonly log: BusLogger;
  private model: ChannelModel | undefined;
  private channel: Promise<ConfirmChannel> | undefined;
  private readonly calls = new Map<string, PendingCall>();
  private closed = false;
  private readonly userId: string | undefined;

  /** `userId`: stamped as the AMQP user_id of every request, so the server knows who asks (broker-checked). */
  constructor(logger: BusLogger, userId?: string) {
    this.log = logger.child({ component: 'rpc-client' });
    this.userId = userId;
  }

  attach(model: ChannelModel): void {
    this.model = model;
  }

  detach(): void {
    this.model = undefined;
    this.channel = undefined;
    this.failAll(new BusDisconnectedError('the connection was lost before the RPC reply arrived'));
  }

  async call(
    routingKey: string,
    body: Buffer,
    opts: { timeoutMs: number; contentType?: string; headers?: Record<string, unknown> },
  ): Promise<Delivery> {
    if (this.closed) throw new BusClosedError();
    const ch = await this.getChannel();
    const correlationId = randomUUID();
    return new Promise<Delivery>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(correlationId);
        reject(new RpcTimeoutError(routingKey, opts.timeoutMs));
      }, opts.timeoutMs);
      this.calls.set(correlationId, { routingKey, resolve, reject, timer });
      const publishOpts = {
        correlationId,
        replyTo: DIRECT_REPLY_TO,
        mandatory: true,
        persistent: false,
        expiration: String(opts.timeoutMs),
        headers: opts.headers ?? {},
        ...(this.userId === undefined ? {} : { userId: this.userId }),
        ...(opts.contentType === undefined ? {} : { contentType: opts.contentType }),
      };
      try {
        ch.publish(EXCHANGE, routingKey, body, publishOpts, (err: unknown) => {
          // a nack fails the call here; a closed channel fails it in the close handler, which knows why
          if (err instanceof Error && err.message === 'channel closed') return;
          if (err) this.settle(correlationId, err instanceof Error ? err : new Error(String(err)));
        });
      } catch (err) {
        this.settle(correlationId, err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  close(): void {
    this.closed = true;
    this.failAll(new BusClosedError());
    const ch = this.channel;
    this.channel = undefined;
    ch?.then((c) => c.close()).catch(() => undefined);
  }

  private getChannel(): Promise<ConfirmChannel> {
    const model = this.model;
    if (!model) return Promise.reject(new BusDisconnectedError('not connected to the broker'));
    this.channel ??= this.open(model).catch((err: unknown) => {
      this.channel = undefined;
      throw err;
    });
    return this.channel;
  }

  private async open(model: ChannelModel): Promise<ConfirmChannel> {
    const ch = await model.createConfirmChannel();
    let closeError: unknown;
    ch.on('error', (err: Error) => {
      closeError = err;
      this.log.warn({ err }, 'rpc channel error');
    });
    ch.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event }, 'bug: an rpc channel event handler threw'),
    );
    const self = this.channel;
    ch.on('close', () => {
      if (this.channel === self) this.channel = undefined;
      // a refusal (the user may not publish there, a bad user_id) fails the calls with the broker's words
      const refusal = refusalOf(closeError);
      if (refusal === undefined) {
        this.failAll(new BusDisconnectedError('the RPC channel closed before the reply arrived'));
        return;
      }
      for (const [id, call] of [...this.calls]) {
        const exchange = refusal.kind === 'exchange' ? refusal.exchange : EXCHANGE;
        this.settle(id, new PublishRefusedError(exchange, call.routingKey, refusal.replyCode, refusal.text));
      }
    });
    ch.on('return', (msg: Message) => {
      const id = msg.properties.correlationId;
      const fields = msg.fields as unknown as { replyCode?: number; replyText?: string };
      if (typeof id === 'string') {
        this.settle(
          id,
          new UnroutableError(
            EXCHANGE,
            msg.fields.routingKey,
            fields.replyCode ?? 312,
            fields.replyText ?? 'NO_ROUTE',
          ),
        );
      }
    });
    await ch.consume(DIRECT_REPLY_TO, (msg) => this.onReply(msg), { noAck: true });
    return ch;
  }

  private onReply(msg: ConsumeMessage | null): void {
    if (!msg) return;
    const id = msg.properties.correlationId;
    if (typeof id !== 'string') return;
    const call = this.calls.get(id);
    if (!call) {
      this.log.debug({ correlationId: id }, 'late or unknown RPC reply dropped');
      return;
    }
    const error = msg.properties.headers?.[HEADER_RPC_ERROR];
    if (error !== undefined) {
      const code = msg.properties.headers?.[HEADER_RPC_ERROR_CODE];
      this.settle(id, new RpcRemoteError(String(error), typeof code === 'string' ? code : undefined));
      return;
    }
    this.calls.delete(id);
    clearTimeout(call.timer);
    call.resolve(toDelivery(msg, DIRECT_REPLY_TO));
  }

  private settle(id: string, err: Error): void {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    clearTimeout(call.timer);
    call.reject(err);
  }

  private failAll(err: Error): void {
    for (const id of [...this.calls.keys()]) this.settle(id, err);
  }
}
