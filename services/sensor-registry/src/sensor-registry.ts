import { type Bus, type Consumer, createBus, serviceQueue } from '@sensor-streaming/bus';
import {
  type Commander,
  createCommander,
  REGISTRAR_RPC_QUEUE,
  REGISTRY_RPC_QUEUE,
} from '@sensor-streaming/control';
import {
  checkDatabase,
  createSchemaGate,
  countSensorsByState,
  createRegistrationGate,
  unprovisionedReason,
  createPool,
  markCommandsTimedOut,
  markSilentSensorsOffline,
  type Pool,
} from '@sensor-streaming/db';
import { bindingPatterns } from '@sensor-streaming/protocol';
import {
  createSerialStateMetrics,
  type HealthCheck,
  type Logger,
  type RunnableService,
} from '@sensor-streaming/runtime';
import type { Registry } from 'prom-client';
import type { SensorRegistryConfig } from './config.js';
import { createExpiredCommandsHandler, expiredCommandsQueue } from './expired-commands.js';
import { createMessageProcessor, type MessageProcessor } from './message-processor.js';
import { createRegistryMetrics, type RegistryMetrics } from './metrics.js';
import { createReconciler, type Reconciler } from './reconciler.js';
import { ChannelSeriesStore } from './channel-series.js';
import { createRegistrarHandler } from './registrar-handler.js';
import { createRegistryRpcHandler } from './rpc-handler.js';
import { createTrafficHandler, trafficQueue } from './traffic.js';

export interface SensorRegistryDeps {
  config: SensorRegistryConfig;
  logger: Logger;
  registry: Registry;
  /** Default: a bus on config.amqpUrl (started and stopped by the registry). */
  bus?: Bus;
  /** Default: a pool on config.databaseUrl (closed by the registry). */
  pool?: Pool;
}

export interface SweepResult {
  offline: string[];
  timedOut: number;
}

export interface SensorRegistry extends RunnableService {
  readiness: HealthCheck[];
  /** One offline + timed-out sweep now (also runs every SWEEP_INTERVAL_MS). */
  sweep(): Promise<SweepResult>;
  readonly metrics: RegistryMetrics;
}

/**
 * The sensor registry: owns the sensors table (registration, reported and
 * desired state, liveness), records every command and its outcome, re-sends
 * the commands that reconcile a sensor with its desired state, and answers
 * the registry RPC. See README.md for the behaviour in detail.
 */
export function createSensorRegistry(deps: SensorRegistryDeps): SensorRegistry {
  const { config, registry } = deps;
  const cfg = config.registry;
  const log = deps.logger.child({ module: 'sensor-registry' });
  const ownBus = deps.bus === undefined;
  const ownPool = deps.pool === undefined;
  const bus =
    deps.bus ??
    createBus({
      url: config.amqpUrl,
      connectionName: config.serviceName,
      logger: deps.logger.child({ module: 'bus' }),
      registry,
      tls: config.tls,
    });
  const pool =
    deps.pool ??
    createPool({
      url: config.databaseUrl,
      logger: deps.logger.child({ module: 'db' }),
      max: cfg.dbPoolMax,
      applicationName: config.serviceName,
    });
  const metrics = createRegistryMetrics(registry);
  const commander: Commander = createCommander(bus);
  const reconciler: Reconciler = createReconciler({
    commander,
    minIntervalMs: cfg.reconcileMinIntervalMs,
    ttlMs: cfg.reconcileCommandTtlMs,
    logger: deps.logger.child({ module: 'reconciler' }),
    metrics,
  });
  const serialState = createSerialStateMetrics(registry);
  // REGISTRATION=closed: states and acks of serials that are not provisioned are dead-lettered, their data
  // and logs ignored for liveness; nothing creates or touches their sensors row
  const gate = createRegistrationGate({
    config: config.registration,
    db: pool,
    onEvict: () => serialState.evicted('registry.registration'),
    onLookup: (n) => serialState.registrationLookups(n),
  });
  serialState.trackSize('registry.registration', () => gate.size);
  const closed = config.registration.mode === 'closed';
  const processor: MessageProcessor = createMessageProcessor({
    pool,
    logger: log,
    metrics,
    ...(closed
      ? {
          registration: {
            refused: (serials: readonly string[]) => gate.refused(serials),
            reason: unprovisionedReason,
          },
        }
      : {}),
    retry: cfg.retry,
    ...(cfg.reconcileEnabled ? { onReconcileCandidates: (c) => reconciler.consider(c) } : {}),
  });
  const expiredHandler = createExpiredCommandsHandler({
    bus,
    pool,
    logger: deps.logger.child({ module: 'expired-commands' }),
    metrics,
    registryQueue: cfg.queue,
    recordLate: (ds) => processor.handle(ds),
  });
  const series = new ChannelSeriesStore({
    maxSensors: config.sensorStateMax,
    onEvict: () => serialState.evicted('registry.channel_series'),
  });
  serialState.trackSize('registry.channel_series', () => series.sensors);
  const registrarHandler = createRegistrarHandler({
    db: pool,
    logger: deps.logger.child({ module: 'registrar' }),
    gate,
  });
  const rpcHandler = createRegistryRpcHandler({
    db: pool,
    logger: deps.logger.child({ module: 'rpc' }),
    ...(cfg.livenessFromTraffic ? { series } : {}),
  });

  const consumers: Consumer[] = [];
  let started = false;
  let consuming = false;
  let starting: Promise<void> | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> = Promise.resolve();

  async function sweep(): Promise<SweepResult> {
    const offline = await markSilentSensorsOffline(pool, cfg.offlineAfterMs);
    if (offline.length > 0) {
      log.info({ count: offline.length, serials: offline.slice(0, 20) }, 'silent sensors marked offline');
    }
    const timedOut = await markCommandsTimedOut(pool, cfg.commandTimeoutGraceMs);
    for (const c of timedOut) metrics.command(c.type, 'TIMED_OUT');
    if (timedOut.length > 0) log.info({ count: timedOut.length }, 'commands timed out');
    await processor.retryUnmatchedAcks();
    metrics.fleet(await countSensorsByState(pool));
    reconciler.prune();
    return { offline, timedOut: timedOut.length };
  }

  function scheduleSweep(): void {
    sweepTimer = setTimeout(() => {
      sweeping = sweep()
        .catch((err: unknown) => log.warn({ err }, 'sweep failed; retrying at the next interval'))
        .finally(() => {
          if (started) scheduleSweep();
        });
    }, cfg.sweepIntervalMs);
  }

  async function startConsuming(): Promise<void> {
    if (ownBus) await bus.start();
    consumers.push(
      await bus.consumeBatch({
        queue: serviceQueue(cfg.queue, [
          bindingPatterns.state,
          bindingPatterns.acks,
          bindingPatterns.commands,
        ]),
        prefetch: cfg.prefetch,
        maxBatch: cfg.maxBatchMessages,
        maxWaitMs: cfg.maxBatchWaitMs,
        handler: (ds) => processor.handle(ds),
      }),
    );
    consumers.push(
      await bus.consumeBatch({
        queue: expiredCommandsQueue(cfg.expiredCommandsQueue),
        prefetch: 400,
        maxBatch: 200,
        maxWaitMs: 50,
        handler: expiredHandler,
      }),
    );
    if (cfg.livenessFromTraffic) {
      const traffic = createTrafficHandler({
        pool,
        logger: deps.logger.child({ module: 'traffic' }),
        metrics,
        series,
        maxSensors: config.sensorStateMax,
        onEvict: () => serialState.evicted('registry.rate_windows'),
        ...(closed ? { refused: (serials: readonly string[]) => gate.refused(serials) } : {}),
      });
      consumers.push(
        await bus.consumeBatch({
          queue: trafficQueue(cfg.queue),
          prefetch: 4000,
          maxBatch: 2000,
          maxWaitMs: 250,
          handler: traffic,
        }),
      );
    }
    consumers.push(await bus.rpcServe(REGISTRY_RPC_QUEUE, rpcHandler));
    consumers.push(await bus.rpcServe(REGISTRAR_RPC_QUEUE, registrarHandler));
    scheduleSweep();
    log.info(
      {
        queue: cfg.queue,
        expiredCommandsQueue: cfg.expiredCommandsQueue,
        rpcQueue: REGISTRY_RPC_QUEUE,
        registrarQueue: REGISTRAR_RPC_QUEUE,
        registration: config.registration.mode,
        offlineAfterMs: cfg.offlineAfterMs,
        reconcile: cfg.reconcileEnabled ? { minIntervalMs: cfg.reconcileMinIntervalMs } : false,
      },
      'sensor registry consuming',
    );
    consuming = started;
  }

  return {
    metrics,
    readiness: [
      { name: 'consumers', check: () => consuming },
      { name: 'broker', check: () => bus.isConnected() },
      { name: 'database', check: async () => processor.isHealthy() && (await checkDatabase(pool)) },
    ],
    startGates: [createSchemaGate({ db: pool, logger: log })],
    sweep,

    start() {
      if (started) return starting ?? Promise.resolve();
      started = true;
      starting = startConsuming();
      return starting;
    },

    async stop() {
      if (!started) return;
      started = false;
      consuming = false;
      // a start still in progress finishes first (or fails): then everything it opened is stopped
      await starting?.catch(() => undefined);
      if (sweepTimer !== undefined) clearTimeout(sweepTimer);
      // stop taking work; a batch held by an unavailable database goes back to the queue
      if (!processor.isHealthy()) processor.stop();
      const giveUp = setTimeout(() => processor.stop(), 5_000);
      try {
        await Promise.all(consumers.splice(0).map((c) => c.stop()));
      } finally {
        clearTimeout(giveUp);
        processor.stop();
      }
      await sweeping;
      await reconciler.drain();
      await commander.close();
      if (ownBus) await bus.stop();
      if (ownPool) await pool.end();
      log.info({}, 'sensor registry stopped');
    },
  };
}
