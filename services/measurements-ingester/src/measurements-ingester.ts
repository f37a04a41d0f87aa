import { type Bus, createBus, type Delivery } from '@sensor-streaming/bus';
import {
  checkDatabase,
  createSchemaGate,
  createPool,
  createIngesterSerialState,
  createStorageMaintainer,
  isRowDataError,
  type MeasurementSeries,
  type Pool,
  type SensorPositionSample,
  writeMeasurements,
  writeSensorPositions,
} from '@sensor-streaming/db';
import {
  bindingPatterns,
  type MeasurementBatch,
  measurementBatchCodec,
  parseRoutingKey,
  sampleTimesUs,
} from '@sensor-streaming/protocol';
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
import type { MeasurementsIngesterConfig } from './config.js';
import { createMeasurementsIngestMetrics } from './metrics.js';

export interface MeasurementsIngesterDeps {
  config: MeasurementsIngesterConfig;
  logger: Logger;
  registry: Registry;
  /** Default: a bus on config.amqpUrl (started and stopped by the ingester). */
  bus?: Bus;
  /** Default: a pool on config.databaseUrl (closed by the ingester). */
  pool?: Pool;
}

export interface MeasurementsIngester extends RunnableService {
  readiness: HealthCheck[];
  /** False while writes fail (database unavailable): consuming is paused, nothing is held. */
  isWriting(): boolean;
}

/** A decoded batch with its sample times computed once. */
interface DataMessage {
  batch: MeasurementBatch;
  timesUs: number[];
  newestUs: number;
}

function newest(times: number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const t of times) if (t > max) max = t;
  return max;
}

/** Decodes and validates one `sensor.<serial>.data` delivery. Throws a permanent error for bad input. */
export function decodeDataDelivery(
  d: Delivery,
  maxBatchSize: number,
  maxBytes?: number,
): { value: DataMessage; serial: string } {
  const batch = measurementBatchCodec.decode(d.body, d.contentType, {
    maxBatchSize,
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
  const key = parseRoutingKey(d.routingKey);
  if (key.kind !== 'data' || key.serial !== batch.serial) {
    throw new RoutingMismatchError(
      `routing key ${d.routingKey} does not carry the data of serial ${batch.serial} (expected sensor.${batch.serial}.data)`,
    );
  }
  const timesUs = sampleTimesUs(batch);
  return { value: { batch, timesUs, newestUs: newest(timesUs) }, serial: batch.serial };
}

/**
 * sensor.*.data -> measurements. Competing consumers on the quorum queue
 * (WRITE_CONCURRENCY per process, any number of replicas); each batch of
 * messages is written with one binary COPY and acked after the commit.
 * Invalid messages are dead-lettered by index; while PostgreSQL is
 * unavailable the batch is released back to the queue, consuming pauses and
 * /readyz fails until the database answers again (see @sensor-streaming/ingest).
 */
export function createMeasurementsIngester(deps: MeasurementsIngesterDeps): MeasurementsIngester {
  const { config, registry } = deps;
  const cfg = config.ingest;
  const log = deps.logger.child({ module: 'measurements-ingester' });
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
  const metrics = createMeasurementsIngestMetrics(registry);
  // bounded per-serial state; REGISTRATION=closed: unprovisioned serials dead-lettered before any row exists
  const serialState = createSerialStateMetrics(registry);
  const { sensorIds, registration } = createIngesterSerialState({
    db: pool,
    registration: cfg.registration,
    sensorStateMax: cfg.sensorStateMax,
    metrics: serialState,
  });

  const pipeline: BatchPipeline = createBatchPipeline<DataMessage>({
    logger: log,
    retry: cfg.retry,
    releaseAfterMs: cfg.releaseAfterMs,
    decode(d) {
      const decoded = decodeDataDelivery(d, cfg.maxMessageRows, cfg.maxMessageBytes);
      metrics.samplesReceived(decoded.value.batch.channel, decoded.value.batch.values.length);
      return decoded;
    },
    ...(registration === undefined ? {} : { registration }),
    resolveSensorIds: (serials) => sensorIds.resolve(serials),
    async write(messages) {
      const series: MeasurementSeries[] = messages.map((m) => ({
        sensorId: m.sensorId,
        channel: m.value.batch.channel,
        timesUs: m.value.timesUs,
        values: m.value.batch.values,
      }));
      const r = await writeMeasurements(pool, series);
      if (r.deduplicated) {
        // a redelivery overlapped stored rows: COPY failed and the batch went through ON CONFLICT DO NOTHING
        metrics.deduplicated(r.rows - r.inserted);
        log.info(
          { rows: r.rows, inserted: r.inserted, duplicates: r.rows - r.inserted, messages: messages.length },
          'batch overlapped stored samples; written through the duplicate-key fallback',
        );
      }
      const positions: SensorPositionSample[] = [];
      for (const m of messages) {
        const p = m.value.batch.position;
        if (p) positions.push({ sensorId: m.sensorId, timeUs: m.value.newestUs, ...p });
      }
      await writeSensorPositions(pool, positions);
    },
    isRowDataError,
    onWritten(messages, seconds, commitMs) {
      let samples = 0;
      const commitUs = commitMs * 1000;
      for (const m of messages) {
        const n = m.value.batch.values.length;
        samples += n;
        metrics.samplesWritten(m.value.batch.channel, n);
        if (n > 0) metrics.lag((commitUs - m.value.newestUs) / 1e6);
      }
      metrics.batchWritten(samples, seconds);
    },
    onRejected(r) {
      metrics.messageRejected(r.code);
      if (r.code === 'unprovisioned') serialState.unprovisioned('data');
    },
    onHealthChange(healthy) {
      if (healthy) log.info({}, 'database writes succeed again; acking resumed');
      else log.warn({}, 'database writes failing (not ready)');
    },
  });

  const consumers = createIngestConsumers({
    bus,
    queues: shardQueues(cfg.queue, bindingPatterns.data, cfg.shards),
    retired: retiredShardQueues(cfg.queue, bindingPatterns.data, cfg.shards),
    pipeline,
    config: cfg,
    logger: log,
    what: 'sensor data',
    onReceived: (n) => metrics.messageReceived(n),
    probe: () => checkDatabase(pool),
  });
  // Plain PostgreSQL: partitions ahead/behind, rollups, retention (a no-op with TimescaleDB).
  const maintainer =
    config.storageMaintenanceMs > 0
      ? createStorageMaintainer({
          pool,
          logger: deps.logger.child({ module: 'storage-maintainer' }),
          intervalMs: config.storageMaintenanceMs,
        })
      : undefined;
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
      await maintainer?.start();
    },

    async stop() {
      if (!started) return;
      started = false;
      await consumers.stop();
      await maintainer?.stop();
      if (ownBus) await bus.stop();
      if (ownPool) await pool.end();
      log.info({}, 'stopped');
    },
  };
}
