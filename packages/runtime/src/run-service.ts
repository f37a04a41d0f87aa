import type { Registry } from 'prom-client';
import { type CommonConfig, loadCommonConfig } from './common-config.js';
import { ConfigError } from './config-error.js';
import { createHttpServer, type HealthCheck, type HttpServer } from './http-server.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { installShutdown, type ProcessLike, type ShutdownHandle } from './shutdown.js';
import { type StartGate, waitForGates } from './start-gate.js';

/** What a service's `createXService(deps)` returns. */
export interface RunnableService {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Checks behind /readyz (broker connected, database reachable, ...). */
  readiness?: HealthCheck[];
  /**
   * Preconditions of start() (e.g. the database schema level this code
   * needs): runService serves /readyz as 503 and waits until all pass before
   * calling start(). They are part of /readyz afterwards too.
   */
  startGates?: StartGate[];
}

/** The config fields runService needs; a service config usually spreads CommonConfig. */
export interface RunServiceConfig {
  logLevel: string;
  metricsPort: number;
  metricsHost?: string;
}

export interface ServiceContext<C> {
  config: C;
  logger: Logger;
  registry: Registry;
}

export interface RunServiceOptions<C extends RunServiceConfig> {
  /** Service name: `service` label on logs and metrics. */
  name: string;
  /** Default: loadCommonConfig(env, name). Throw ConfigError for bad variables. */
  loadConfig?: (env: NodeJS.ProcessEnv) => C;
  build(ctx: ServiceContext<C>): RunnableService | Promise<RunnableService>;
  env?: NodeJS.ProcessEnv;
  /** Shutdown deadline. Default 10 000 ms. */
  deadlineMs?: number;
  /** Tests only. */
  process?: ProcessLike;
  /** Tests only: where log lines go. */
  logDestination?: { write(chunk: string): unknown };
  /** Pause between start-gate evaluations. Default 2000 ms. */
  gateIntervalMs?: number;
}

export interface RunningService<C> {
  config: C;
  logger: Logger;
  registry: Registry;
  http: HttpServer;
  port: number;
  shutdown: ShutdownHandle;
}

/**
 * The whole of a service's main.ts: load config, make logger and metrics,
 * build the service, serve /metrics /healthz /readyz, install the shutdown
 * handler, start. Bad config or a failed start is logged as one line and
 * exits 1. Shutdown order: /readyz and /healthz turn 503, service.stop()
 * (stop taking work, drain, close), then the ops server closes.
 *
 * ```ts
 * await runService({ name: 'logs-ingester', loadConfig, build: (ctx) => createLogsIngester(ctx) });
 * ```
 */
export async function runService<C extends RunServiceConfig = CommonConfig>(
  opts: RunServiceOptions<C>,
): Promise<RunningService<C> | undefined> {
  const proc: ProcessLike = opts.process ?? process;
  const env = opts.env ?? process.env;
  const dest = opts.logDestination ? { destination: opts.logDestination } : {};

  let config: C;
  try {
    config = opts.loadConfig ? opts.loadConfig(env) : (loadCommonConfig(env, opts.name) as unknown as C);
  } catch (err) {
    const logger = createLogger({ service: opts.name, ...dest });
    if (err instanceof ConfigError) logger.fatal({ problems: err.problems }, err.message);
    else logger.fatal({ err }, 'failed to load configuration');
    proc.exit(1);
    return undefined;
  }

  const logger = createLogger({ service: opts.name, level: config.logLevel, ...dest });
  const { registry } = createMetrics(opts.name);
  let service: RunnableService | undefined;
  let http: HttpServer | undefined;
  const stopping = new AbortController();

  const shutdown = installShutdown({
    logger,
    process: proc,
    ...(opts.deadlineMs === undefined ? {} : { deadlineMs: opts.deadlineMs }),
    stop: async () => {
      stopping.abort();
      http?.markShuttingDown();
      try {
        await service?.stop();
      } finally {
        await http?.stop();
      }
    },
  });

  try {
    service = await opts.build({ config, logger, registry });
    http = createHttpServer({
      port: config.metricsPort,
      host: config.metricsHost ?? '0.0.0.0',
      registry,
      readiness: [...(service.readiness ?? []), ...(service.startGates ?? [])],
      logger: logger.child({ module: 'ops-http' }),
    });
    const port = await http.start();
    const gates = service.startGates ?? [];
    if (gates.length > 0) {
      const open = await waitForGates(gates, {
        logger,
        signal: stopping.signal,
        ...(opts.gateIntervalMs === undefined ? {} : { intervalMs: opts.gateIntervalMs }),
      });
      if (!open) return undefined; // shutting down before the gates opened
    }
    await service.start();
    logger.info({ metricsPort: port }, 'service started');
    return { config, logger, registry, http, port, shutdown };
  } catch (err) {
    logger.fatal({ err }, `failed to start: ${err instanceof Error ? err.message : String(err)}`);
    shutdown.uninstall();
    proc.exit(1);
    return undefined;
  }
}
