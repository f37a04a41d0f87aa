import { type Bus, type BusLogger, createBus, describeConnectError, maskUrl } from '@sensor-streaming/bus';
import {
  type AlarmClient,
  type Commander,
  createAlarmClient,
  createCommander,
  createRegistryClient,
  type RegistryClient,
} from '@sensor-streaming/control';
import type { TlsFiles } from '@sensor-streaming/runtime';
import { CliError } from './cli-error.js';

export interface SessionOptions {
  amqpUrl: string;
  /** CA / client certificate / key for amqps:// (TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE). */
  tls?: TlsFiles;
  /** Give up connecting after this long (the bus itself would retry forever). */
  connectTimeoutMs: number;
  /** Registry / alarm-service RPC timeout. */
  rpcTimeoutMs: number;
  /** Publish confirm timeout (broker slow or gone mid-command). */
  publishTimeoutMs?: number;
  /** Bus diagnostics go here (stderr with --verbose); silent otherwise. */
  log?: (line: string) => void;
}

/** What the actions use: one connected bus and the clients built on it. */
export interface Session {
  bus: Bus;
  registry: RegistryClient;
  alarms: AlarmClient;
  commander(): Commander;
  /**
   * Rejects with CliError('IOTCTL_BROKER_LOST') as soon as a connection to the broker drops (never resolves
   * otherwise): a command in flight then fails within a second instead of waiting for its timeout.
   */
  readonly lost: Promise<never>;
  close(): Promise<void>;
}

/**
 * A BusLogger that remembers the last connection error (to explain a timeout in one line) and writes
 * nothing unless `log` is given: the CLI's stdout is for results.
 */
function cliBusLogger(state: { lastError?: unknown }, log?: (line: string) => void): BusLogger {
  const make = (bindings: Record<string, unknown>): BusLogger => {
    const emit = (level: string) => (obj: Record<string, unknown>, msg?: string) => {
      if (obj.err !== undefined && level !== 'debug') state.lastError = obj.err;
      if (log) {
        const err = obj.err instanceof Error ? ` (${obj.err.message})` : '';
        log(`[${level}] ${msg ?? ''}${err} ${JSON.stringify({ ...bindings, ...obj, err: undefined })}`);
      }
    };
    return {
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make({});
}

function describe(err: unknown, url: string): string {
  return err === undefined ? '' : `: ${describeConnectError(err, url).message}`;
}

/**
 * Connects or throws CliError('IOTCTL_BROKER_UNREACHABLE') after stopping the bus: at once when the broker
 * refuses in a way retrying cannot fix (connection refused, unknown host, wrong credentials, missing vhost),
 * else after `connectTimeoutMs` of retries.
 */
export async function openSession(opts: SessionOptions): Promise<Session> {
  const state: { lastError?: unknown } = {};
  const where = maskUrl(opts.amqpUrl);
  let refuse: ((err: CliError) => void) | undefined;
  const refused = new Promise<never>((_, reject) => {
    refuse = reject;
  });
  refused.catch(() => undefined);
  const bus = createBus({
    url: opts.amqpUrl,
    tls: opts.tls,
    connectionName: `iotctl-${process.pid}`,
    logger: cliBusLogger(state, opts.log),
    heartbeatS: 10,
    // every exchange of a short CLI run is a small frame: without it, each waits out a delayed ACK (~40 ms)
    noDelay: true,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
    publishTimeoutMs: opts.publishTimeoutMs ?? Math.max(opts.connectTimeoutMs, 5000),
    stopTimeoutMs: 2000,
    onConnectError: (err) => {
      state.lastError = err;
      const d = describeConnectError(err, opts.amqpUrl);
      if (d.definite)
        refuse?.(
          new CliError('IOTCTL_BROKER_UNREACHABLE', `cannot connect to the broker at ${where}: ${d.message}`),
        );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), opts.connectTimeoutMs);
  });
  try {
    const first = await Promise.race([bus.start().then(() => 'up' as const), timedOut, refused]);
    if (first === 'timeout') {
      throw new CliError(
        'IOTCTL_BROKER_UNREACHABLE',
        `cannot reach the broker at ${where} within ${opts.connectTimeoutMs} ms${describe(state.lastError, opts.amqpUrl)}`,
      );
    }
  } catch (err) {
    await stopQuickly(bus);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const lost = new Promise<never>((_, reject) => {
    bus.on('disconnected', () =>
      reject(
        new CliError(
          'IOTCTL_BROKER_LOST',
          `lost the connection to the broker at ${where}${describe(state.lastError, opts.amqpUrl)}`,
        ),
      ),
    );
  });
  lost.catch(() => undefined);
  let commander: Commander | undefined;
  let connected = true;
  bus.on('disconnected', () => {
    connected = false;
  });
  return {
    bus,
    registry: createRegistryClient(bus, { timeoutMs: opts.rpcTimeoutMs }),
    alarms: createAlarmClient(bus, { timeoutMs: opts.rpcTimeoutMs }),
    commander() {
      commander ??= createCommander(bus);
      return commander;
    },
    lost,
    async close() {
      if (!connected) return stopQuickly(bus, commander);
      await commander?.close().catch(() => undefined);
      await bus.stop();
    },
  };
}

/** With the broker gone there is nothing to flush: give stop() a moment, then let the process exit. */
async function stopQuickly(bus: Bus, commander?: Commander): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    (async () => {
      await commander?.close().catch(() => undefined);
      await bus.stop().catch(() => undefined);
    })(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 200);
    }),
  ]);
  clearTimeout(timer);
}
