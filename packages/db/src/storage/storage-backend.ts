import type { Queryable } from '../pool.js';

/** Which storage backend a migrated database runs on, and the retention in force. */
export interface StorageDescription {
  backend: 'timescaledb' | 'postgresql';
  /** e.g. `15.20`. */
  postgresVersion: string;
  /** e.g. `2.22.1` with TimescaleDB. */
  timescaleVersion?: string;
  /** Raw samples are dropped after this (e.g. `30 days`); undefined when no retention is set. */
  measurementsRetention?: string;
  /** Plain PostgreSQL: the partition interval of measurements (e.g. `1 day`). */
  partitionInterval?: string;
  /** Rollup levels present: measurements_1m, _1h, _1d. */
  rollups: string[];
  /** False when the schema has not been migrated (no measurements table). */
  migrated: boolean;
}

/** Reads the backend, versions and retention from the database (read-only). */
export async function describeStorage(db: Queryable): Promise<StorageDescription> {
  const { rows } = await db.query<{
    pg: string;
    ts: string | null;
    migrated: boolean;
    policies: boolean;
    rollups: string[];
  }>(
    `SELECT current_setting('server_version') AS pg,
            (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ts,
            to_regclass('measurements') IS NOT NULL AS migrated,
            to_regclass('storage_policies') IS NOT NULL AS policies,
            ARRAY(SELECT v FROM unnest(ARRAY['measurements_1m', 'measurements_1h', 'measurements_1d']) AS v
                  WHERE to_regclass(v) IS NOT NULL) AS rollups`,
  );
  const r = rows[0];
  if (!r) throw new Error('describeStorage: the server returned no row');
  const description: StorageDescription = {
    backend: r.ts === null ? 'postgresql' : 'timescaledb',
    postgresVersion: r.pg.split(' ')[0] ?? r.pg,
    rollups: r.rollups.map((v) => v.replace('measurements_', '')),
    migrated: r.migrated,
  };
  if (r.ts !== null) {
    description.timescaleVersion = r.ts;
    const { rows: jobs } = await db.query<{ drop_after: string | null }>(
      `SELECT config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
       WHERE proc_name = 'policy_retention' AND hypertable_name = 'measurements' LIMIT 1`,
    );
    const dropAfter = jobs[0]?.drop_after;
    if (dropAfter) description.measurementsRetention = dropAfter;
  } else if (r.policies) {
    const { rows: policies } = await db.query<{ retention: string; step: string | null }>(
      `SELECT retention::text AS retention, partition_step::text AS step
       FROM storage_policies WHERE relation = 'measurements'`,
    );
    const p = policies[0];
    if (p) {
      description.measurementsRetention = p.retention;
      if (p.step) description.partitionInterval = p.step;
    }
  }
  return description;
}

/**
 * One line for `npm start` and operators, e.g.
 * `storage: PostgreSQL 15.20 (plain, partitions of 1 day), retention 30 days, rollups 1m/1h/1d`.
 */
export function formatStorageLine(d: StorageDescription): string {
  const engine =
    d.backend === 'timescaledb'
      ? `TimescaleDB ${d.timescaleVersion} on PostgreSQL ${d.postgresVersion}`
      : `PostgreSQL ${d.postgresVersion} (plain${d.partitionInterval ? `, partitions of ${d.partitionInterval}` : ''})`;
  if (!d.migrated) return `storage: ${engine}, schema not migrated yet (run pnpm migrate)`;
  const retention = d.measurementsRetention
    ? `retention ${d.measurementsRetention}`
    : 'no retention: raw samples are kept forever';
  const rollups = d.rollups.length > 0 ? `, rollups ${d.rollups.join('/')}` : '';
  return `storage: ${engine}, ${retention}${rollups}`;
}
