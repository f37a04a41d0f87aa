import { type Bus, createBus, type Delivery } from '@sensor-streaming/bus';
import {
  checkDatabase,
  createSchemaGate,
  createPool,
  createIngesterSerialState,
  isRowDataError,
  type Pool,
  writeSensorLogs,
} from '@sensor-streaming/db';
import { bindingPatterns, type LogBatch, logBatchCodec, parseRoutingKey } from '@sensor-streaming/protocol';
import {
  createSerialStateMetrics,
  type HealthCheck,
  type Logger,
  type RunnableService,
} from '@sensor-streaming/runtime';
import type { Registry } from 'prom-client';
import {
  type BatchPipeline,
  createBatchPipeline,
  RoutingMismatchError,
  createIngestConsumers,
  retiredShardQueues,
  shardQueues,
} from '@sensor-streaming/ingest';
import type { LogsIngesterConfig } from './config.js';
import { createLogsIngestMetrics } from './metrics.js';

export interface LogsIngesterDeps {
  config: LogsIngesterConfig;
  logger: Logger;
  registry: Registry;
  /** Default: a bus on config.amqpUrl (started and stopped by the ingester). */
  bus?: Bus;
  /** Default: a pool on config.databaseUrl (closed by the ingester). */
  pool?: Pool;
}

export interface LogsIngester extends RunnableService {
  readiness: HealthCheck[];
  /** False while writes fail (database unavailable): consuming is paused, nothing is held. */
  isWriting(): boolean;
}

/** Decodes and validates one `sensor.<serial>.logs` delivery. Throws a permanent error for bad input. */
export function decodeLogsDelivery(
  d: Delivery,
  maxBatchSize: number,
  maxBytes?: number,
): { value: LogBatch; serial: string } {
  const batch = logBatchCodec.decode(d.body, d.contentType, {
    maxBatchSize,
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
  const key = parseRoutingKey(d.routingKey);
  if (key.kind !== 'logs' || key.serial !== batch.serial) {
    throw new RoutingMismatchError(
      `routing key ${d.routingKey} does not carry the logs of serial ${batch.serial} (expected sensor.${batch.serial}.logs)`,
    );
  }
  return { value: batch, serial: batch.serial };
}

/**
 * sensor.*.logs -> sensor_logs, with the discipline of measurements-ingester:
 * batches written with one binary COPY and acked after the commit, duplicates
 * stored once (the table's content hash key), invalid messages dead-lettered
 * by index, consuming paused (nothing held) while PostgreSQL is unavailable.
 */
export function createLogsIngester(deps: LogsIngesterDeps): LogsIngester {
  const { config, registry } = deps;
  const cfg = config.ingest;
  const log = deps.logger.child({ module: 'logs-ingester' });
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
  const metrics = createLogsIngestMetrics(registry);
  // bounded per-serial state; REGISTRATION=closed: unprovisioned serials dead-lettered before any row exists
  const serialState = createSerialStateMetrics(registry);
  const { sensorIds, registration } = createIngesterSerialState({
    db: pool,
    registration: cfg.registration,
    sensorStateMax: cfg.sensorStateMax,
    metrics: serialState,
  });

  const pipeline: BatchPipeline = createBatchPipeline<LogBatch>({
    logger: log,
    retry: cfg.retry,
    releaseAfterMs: cfg.releaseAfterMs,
    decode: (d) => decodeLogsDelivery(d, cfg.maxMessageRows, cfg.maxMessageBytes),
    ...(registration === undefined ? {} : { registration }),
    resolveSensorIds: (serials) => sensorIds.resolve(serials),
    async write(messages) {
      const r = await writeSensorLogs(
        pool,
        messages.map((m) => ({ sensorId: m.sensorId, entries: m.value.entries })),
      );
      if (r.deduplicated) {
        metrics.deduplicated(r.rows - r.inserted);
        log.info(
          { rows: r.rows, inserted: r.inserted, duplicates: r.rows - r.inserted, messages: messages.length },
          'batch overlapped stored log entries; written through the duplicate-key fallback',
        );
      }
    },
    isRowDataError,
    onWritten(messages, seconds, commitMs) {
      let entries = 0;
      const perLevel = new Map<string, number>();
      const commitUs = commitMs * 1000;
      for (const m of messages) {
        let newestUs = Number.NEGATIVE_INFINITY;
        for (const e of m.value.entries) {
          perLevel.set(e.level, (perLevel.get(e.level) ?? 0) + 1);
          if (e.timeUs > newestUs) newestUs = e.timeUs;
        }
        entries += m.value.entries.length;
        if (m.value.entries.length > 0) metrics.lag((commitUs - newestUs) / 1e6);
      }
      for (const [level, n] of perLevel) metrics.entriesWritten(level, n);
      metrics.batchWritten(entries, seconds);
    },
    onRejected(r) {
      metrics.messageRejected(r.code);
      if (r.code === 'unprovisioned') serialState.unprovisioned('logs');
    },
    onHealthChange(healthy) {
      if (healthy) log.info({}, 'database writes succeed again; acking resumed');
      else log.warn({}, 'database writes failing (not ready)');
    },
  });

  const consumers = createIngestConsumers({
    bus,
    queues: shardQueues(cfg.queue, bindingPatterns.logs, cfg.shards),
    retired: retiredShardQueues(cfg.queue, bindingPatterns.logs, cfg.shards),
    pipeline,
    config: cfg,
    logger: log,
    what: 'sensor logs',
    onReceived: (n) => metrics.messageReceived(n),
    probe: () => checkDatabase(pool),
  });
  let started = false;

  return {
    readiness: [
      { name: 'broker', check: () => bus.isConnected() },
      { name: 'database', check: async () => pipeline.isHealthy() && (await checkDatabase(pool)) },
      // consuming: its queues (or shards and their hash exchange) are declared and bound, so what is
      // published from now on is routed to it; until then a ready replica could not promise that
      { name: 'consuming', check: () => consumers.isConsuming() },
    ],
    startGates: [createSchemaGate({ db: pool, logger: log })],
    isWriting: () => pipeline.isHealthy(),

    async start() {
      if (started) return;
      started = true;
      if (ownBus) await bus.start();
      await consumers.start();
    },

    async stop() {
      if (!started) return;
      started = false;
      await consumers.stop();
      if (ownBus) await bus.stop();
      if (ownPool) await pool.end();
      log.info({}, 'stopped');
    },
  };
}
