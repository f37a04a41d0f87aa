import type { DbLogger } from '../logger.js';
import type { Pool, Queryable } from '../pool.js';

/** What one maintenance pass did (plain PostgreSQL), as the procedure reports it. */
export interface StorageMaintenanceReport {
  backend: 'postgresql' | 'timescaledb';
  partitions_created?: string[];
  partitions_dropped?: string[];
  rollup_rows?: Record<string, number>;
  rows_deleted?: Record<string, number>;
  [key: string]: unknown;
}

/**
 * One maintenance pass: on plain PostgreSQL creates partitions ahead, detaches
 * and drops those past retention, materialises the rollups incrementally and
 * trims the small tables (migrations/0011). With TimescaleDB it does nothing
 * (the extension's jobs do). Safe to run from several replicas at once.
 * Must not run inside a transaction (each step commits).
 */
export async function maintainStorage(db: Queryable): Promise<StorageMaintenanceReport> {
  const { rows } = await db.query<{ report: StorageMaintenanceReport }>(
    'CALL sensor_streaming_maintain_storage(NULL)',
  );
  const report = rows[0]?.report;
  if (!report) throw new Error('sensor_streaming_maintain_storage returned no report');
  return report;
}

export interface StorageMaintainerOptions {
  pool: Pool;
  logger: DbLogger;
  /** Time between passes; default 60 s (rollups lag by at most this plus one minute). */
  intervalMs?: number;
}

export interface StorageMaintainer {
  /** Runs a first pass in the background, then one every interval (plain PostgreSQL only). */
  start(): Promise<void>;
  /** Stops scheduling and waits for a pass in progress. */
  stop(): Promise<void>;
  /** Passes that failed since start (each failure is logged; the next pass retries). */
  failures(): number;
}

/** Schedules {@link maintainStorage} on plain PostgreSQL; a no-op with TimescaleDB. */
export function createStorageMaintainer(opts: StorageMaintainerOptions): StorageMaintainer {
  const intervalMs = opts.intervalMs ?? 60_000;
  const log = opts.logger;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let failed = 0;

  // Which backend is decided on the first pass that reaches the database, so a
  // service starting while the database is down still starts (and retries).
  let backend: 'unknown' | 'plain' | 'timescaledb' = 'unknown';
  const probe = async (): Promise<boolean> => {
    const { rows } = await opts.pool.query<{ ts: boolean; ready: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS ts,
              to_regprocedure('sensor_streaming_maintain_storage(jsonb)') IS NOT NULL AS ready`,
    );
    if (rows[0]?.ts) {
      backend = 'timescaledb';
      log.info({}, 'TimescaleDB: its jobs maintain storage; no storage maintainer');
      return false;
    }
    if (!rows[0]?.ready) {
      log.warn(
        {},
        'storage maintenance procedure missing: run pnpm migrate; checking again at the next interval',
      );
      return false;
    }
    backend = 'plain';
    return true;
  };

  const pass = async (): Promise<void> => {
    const started = performance.now();
    try {
      if (backend === 'unknown' && !(await probe())) return;
      const report = await maintainStorage(opts.pool);
      const changed =
        (report.partitions_created?.length ?? 0) + (report.partitions_dropped?.length ?? 0) > 0 ||
        Object.keys(report.rows_deleted ?? {}).length > 0;
      const durationMs = Math.round(performance.now() - started);
      if (changed) log.info({ report, durationMs }, 'storage maintenance changed partitions or trimmed rows');
      else log.debug({ report, durationMs }, 'storage maintenance pass');
    } catch (err) {
      failed++;
      log.warn({ err, failures: failed }, 'storage maintenance pass failed; retrying at the next interval');
    }
  };
  const schedule = (): void => {
    if (stopped || backend === 'timescaledb') return;
    timer = setTimeout(() => {
      running = pass().finally(schedule);
    }, intervalMs);
    timer.unref();
  };

  return {
    async start() {
      stopped = false;
      running = pass().finally(schedule);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    failures: () => failed,
  };
}
