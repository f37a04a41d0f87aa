import { EventEmitter } from 'node:events';
import { loadTlsMaterial, type TlsFiles } from '@sensor-streaming/runtime';
import { type ChannelModel, connect, credentials } from 'amqplib';
import { abortableSleep, type BackoffOptions, backoffDelay } from './backoff.js';
import { coalesceWrites } from './coalesce-writes.js';
import { BusClosedError } from './errors.js';
import type { BusLogger } from './logger.js';
import type { BusMetrics, ConnectionRole } from './metrics.js';
import { maskUrl } from './url.js';

export interface ManagedConnectionOptions {
  url: string;
  /** client_properties.connection_name, visible in the management UI. */
  name: string;
  role: ConnectionRole;
  heartbeatS: number;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  logger: BusLogger;
  metrics: BusMetrics;
  /** Runs after every (re)connect, before 'up' is emitted (declare topology). A failure closes and retries. */
  onConnect(model: ChannelModel): Promise<void>;
  /** TCP_NODELAY on the socket (see BusOptions.noDelay). */
  noDelay?: boolean;
  /** PEM files for `amqps://` (see BusOptions.tls); read again on every connect. */
  tls?: TlsFiles;
  /** Told of every failed connect attempt (before the retry), e.g. for a CLI that gives up at once. */
  onConnectError?: (err: unknown) => void;
  /** amqplib's connect; replaceable in unit tests. */
  connect?: (url: string, socketOptions: ConnectSocketOptions) => Promise<ChannelModel>;
}

/** What amqplib's connect gets besides the URL (tls.connect options included for amqps://). */
export interface ConnectSocketOptions {
  clientProperties: Record<string, unknown>;
  timeout: number;
  noDelay?: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** SASL EXTERNAL: the broker takes the user name from the client certificate. */
  credentials?: ReturnType<typeof credentials.external>;
}

/**
 * amqplib's socket options for one connect. With `amqps://` the TLS files are read now (a rotated
 * certificate is used from the next reconnect); server verification stays on (amqplib's default), and the
 * server name is the URL's host. A client certificate with no user in the URL authenticates with SASL
 * EXTERNAL (RabbitMQ's rabbitmq_auth_mechanism_ssl: the certificate's CN is the user).
 */
export function amqpSocketOptions(
  url: string,
  base: { clientProperties: Record<string, unknown>; timeout: number; noDelay?: boolean },
  tls: TlsFiles | undefined,
): ConnectSocketOptions {
  const u = new URL(url);
  if (u.protocol !== 'amqps:' || tls === undefined) return base;
  const material = loadTlsMaterial(tls);
  const external = material.cert !== undefined && u.username === '';
  return { ...base, ...material, ...(external ? { credentials: credentials.external() } : {}) };
}

/** The URL amqplib gets: the explicit heartbeat overrides any in the URL. */
export function connectUrl(url: string, heartbeatS: number): string {
  const u = new URL(url);
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw new RangeError(`AMQP url must start with amqp:// or amqps://, got '${u.protocol}//'`);
  }
  u.searchParams.set('heartbeat', String(heartbeatS));
  return u.toString();
}

/**
 * One broker connection that keeps itself open: connects with exponential backoff and jitter, and after a
 * loss reconnects the same way. Emits 'up' (model) after each successful connect + onConnect, 'down' (err)
 * on loss, 'blocked' (reason) / 'unblocked'. Every amqplib emitter gets an 'error' listener.
 */
export class ManagedConnection extends EventEmitter {
  model: ChannelModel | undefined;
  private readonly opts: ManagedConnectionOptions;
  private readonly log: BusLogger;
  private readonly abort = new AbortController();
  private stopped = false;
  private everConnected = false;
  private warnedUncoalesced = false;
  private loop: Promise<void> | undefined;

  constructor(opts: ManagedConnectionOptions) {
    super();
    this.opts = opts;
    this.log = opts.logger.child({ connection: opts.role });
    // our own 'error' events are never emitted, but make sure an unexpected one cannot crash the process
    this.on('error', (err: unknown) => this.log.error({ err }, 'bus connection error'));
  }

  /** Resolves once connected for the first time; rejects with BusClosedError if stopped before. */
  async start(): Promise<void> {
    if (this.stopped) throw new BusClosedError();
    if (this.model) return;
    this.loop ??= this.connectLoop();
    await this.loop;
    if (!this.model) throw new BusClosedError('the bus was stopped before it could connect');
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
    const model = this.model;
    this.model = undefined;
    if (!model) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        model.close(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
    } catch (err) {
      this.log.debug({ err }, 'closing connection failed (already closed)');
    } finally {
      clearTimeout(timer);
    }
    this.opts.metrics.connected.set({ connection: this.opts.role }, 0);
    this.opts.metrics.blocked.set({ connection: this.opts.role }, 0);
  }

  private async connectLoop(): Promise<void> {
    const { opts } = this;
    const url = connectUrl(opts.url, opts.heartbeatS);
    let attempt = 0;
    try {
      while (!this.stopped) {
        attempt++;
        let model: ChannelModel | undefined;
        try {
          model = await (opts.connect ?? connect)(
            url,
            amqpSocketOptions(
              url,
              {
                clientProperties: { connection_name: opts.name },
                timeout: opts.connectTimeoutMs,
                ...(opts.noDelay === true ? { noDelay: true } : {}),
              },
              opts.tls,
            ),
          );
          this.watch(model);
          if (opts.connect === undefined && !coalesceWrites(model) && !this.warnedUncoalesced) {
            this.warnedUncoalesced = true;
            this.log.warn({}, 'amqplib internals changed: frames are written to the socket one by one');
          }
          await opts.onConnect(model);
          if (this.stopped) {
            await model.close().catch(() => undefined);
            return;
          }
          this.model = model;
          opts.metrics.connected.set({ connection: opts.role }, 1);
          if (this.everConnected) opts.metrics.reconnects.inc({ connection: opts.role });
          this.log.info(
            { url: maskUrl(opts.url), connectionName: opts.name, attempt, reconnect: this.everConnected },
            'connected to broker',
          );
          this.everConnected = true;
          this.emit('up', model);
          return;
        } catch (err) {
          if (model) await model.close().catch(() => undefined);
          if (this.stopped) return;
          try {
            opts.onConnectError?.(err);
          } catch (hookErr) {
            this.log.error({ err: hookErr }, 'bug: the onConnectError hook threw');
          }
          const delayMs = backoffDelay(attempt, opts.backoff);
          this.log.warn(
            { err, url: maskUrl(opts.url), attempt, delayMs },
            'cannot connect to broker, retrying',
          );
          await abortableSleep(delayMs, this.abort.signal);
        }
      }
    } finally {
      this.loop = undefined;
    }
  }

  private watch(model: ChannelModel): void {
    const { role } = this.opts;
    model.on('error', (err: Error) => {
      this.log.warn({ err }, 'broker connection error');
    });
    model.on('handler-error', (err: Error, event: string) => {
      this.log.error({ err, event }, 'bug: a bus connection event handler threw');
    });
    model.on('blocked', (reason: string) => {
      this.opts.metrics.blocked.set({ connection: role }, 1);
      this.log.warn({ reason }, 'broker blocked the connection');
      this.emit('blocked', reason);
    });
    model.on('unblocked', () => {
      this.opts.metrics.blocked.set({ connection: role }, 0);
      this.log.info({}, 'broker unblocked the connection');
      this.emit('unblocked');
    });
    model.on('close', (err?: Error) => {
      if (this.model !== model) return; // closed during connect/onConnect or by stop()
      this.model = undefined;
      this.opts.metrics.connected.set({ connection: role }, 0);
      this.opts.metrics.blocked.set({ connection: role }, 0);
      this.log.warn({ err }, 'broker connection lost');
      this.emit('down', err);
      if (!this.stopped) this.loop ??= this.connectLoop();
    });
  }
}
