import { type Bus, type BusLogger, createBus, maskUrl } from '@sensor-streaming/bus';
import {
  type AlarmClient,
  type Commander,
  createAlarmClient,
  createCommander,
  createRegistryClient,
  type RegistryClient,
} from '@sensor-streaming/control';
import { CliError } from './cli-error.js';

export interface SessionOptions {
  amqpUrl: string;
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

function describeConnectError(err: unknown): string {
  if (!(err instanceof Error)) return '';
  const code = (err as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return ': connection refused';
  if (code === 'ENOTFOUND') return ': host not found';
  if (code === 'ETIMEDOUT') return ': connection timed out';
  if (/ACCESS_REFUSED|403/.test(err.message)) return ': access refused (user, password or vhost permissions)';
  if (/NOT_ALLOWED|530/.test(err.message)) return ': vhost not found or not allowed';
  return `: ${err.message.split('\n')[0]}`;
}

/** Connects within `connectTimeoutMs` or throws CliError('IOTCTL_BROKER_UNREACHABLE') after stopping the bus. */
export async function openSession(opts: SessionOptions): Promise<Session> {
  const state: { lastError?: unknown } = {};
  const bus = createBus({
    url: opts.amqpUrl,
    connectionName: `iotctl-${process.pid}`,
    logger: cliBusLogger(state, opts.log),
    heartbeatS: 10,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
    publishTimeoutMs: opts.publishTimeoutMs ?? Math.max(opts.connectTimeoutMs, 5000),
    stopTimeoutMs: 2000,
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), opts.connectTimeoutMs);
  });
  try {
    const first = await Promise.race([bus.start().then(() => 'up' as const), timedOut]);
    if (first === 'timeout') {
      throw new CliError(
        'IOTCTL_BROKER_UNREACHABLE',
        `cannot reach the broker at ${maskUrl(opts.amqpUrl)} within ${opts.connectTimeoutMs} ms${describeConnectError(state.lastError)}`,
      );
    }
  } catch (err) {
    await bus.stop().catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  let commander: Commander | undefined;
  return {
    bus,
    registry: createRegistryClient(bus, { timeoutMs: opts.rpcTimeoutMs }),
    alarms: createAlarmClient(bus, { timeoutMs: opts.rpcTimeoutMs }),
    commander() {
      commander ??= createCommander(bus);
      return commander;
    },
    async close() {
      await commander?.close().catch(() => undefined);
      await bus.stop();
    },
  };
}
