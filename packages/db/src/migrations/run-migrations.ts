import type pg from 'pg';
import {
  type ChecksumMismatch,
  MigrationChecksumError,
  MigrationError,
  MigrationLockTimeoutError,
} from '../errors.js';
import { type DbLogger, silentLogger } from '../logger.js';
import { defaultMigrationsDir, loadMigrationFiles, type MigrationFile } from './migration-files.js';
import {
  isMigrationTarget,
  type MigrationSession,
  type MigrationTarget,
  pgMigrationTarget,
} from './migration-target.js';
import { splitSqlStatements } from './split-sql.js';
import { timescalePreflight } from './timescale-preflight.js';

/** pg_advisory_lock key shared by every replica ("sensor_s" in ASCII). */
export const MIGRATION_LOCK_KEY = '8315173729079549811';

export interface RunMigrationsOptions {
  /** Directory of NNNN_name.sql files; default: the repository's migrations/. */
  dir?: string;
  logger?: DbLogger;
  /**
   * Custom settings for the migration session, e.g.
   * `{ 'sensor_streaming.measurements_retention': '90 days' }` (see migrations/0007).
   */
  settings?: Record<string, string>;
  /** How long to wait for another process holding the migration lock; default 5 min. */
  lockTimeoutMs?: number;
}

export interface RunMigrationsResult {
  /** Names applied by this call, in order (empty when the schema was up to date). */
  applied: string[];
}

interface AppliedRow {
  name: string;
  checksum: string;
}

/**
 * Applies pending migrations in order, each in its own transaction unless the
 * file opts out with `-- sensor-streaming: no-transaction` on its first line.
 * A session-level advisory lock serialises concurrent runners (several
 * replicas starting together): the others wait, then find nothing to do.
 * Throws MigrationChecksumError when an applied file changed on disk,
 * MigrationError when a migration fails (nothing of that file is recorded).
 */
export async function runMigrations(
  target: pg.Pool | MigrationTarget,
  opts: RunMigrationsOptions = {},
): Promise<RunMigrationsResult> {
  const logger = opts.logger ?? silentLogger;
  const dir = opts.dir ?? defaultMigrationsDir();
  const files = await loadMigrationFiles(dir);
  const db = isMigrationTarget(target) ? target : pgMigrationTarget(target);

  const session = await db.acquire();
  const stopNotices = session.onNotice?.((message) => logger.info({ notice: message }, 'migration notice'));
  let sessionError: Error | undefined;
  let locked = false;
  try {
    for (const [name, value] of Object.entries(opts.settings ?? {})) {
      await session.query('SELECT set_config($1, $2, false)', [name, value]);
    }
    await acquireLock(session, opts.lockTimeoutMs ?? 300_000, logger);
    locked = true;
    const { rows: exists } = await session.query<{ t: string | null }>(
      "SELECT to_regclass('schema_migrations')::text AS t",
    );
    if (exists[0]?.t == null) {
      await session.exec(`CREATE TABLE schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      duration_ms double precision NOT NULL
    )`);
    }
    const { rows } = await session.query<AppliedRow>('SELECT name, checksum FROM schema_migrations');
    const applied = new Map(rows.map((r) => [r.name, r.checksum]));

    const mismatches: ChecksumMismatch[] = [];
    for (const file of files) {
      const appliedChecksum = applied.get(file.name);
      if (appliedChecksum !== undefined && appliedChecksum !== file.checksum) {
        mismatches.push({ name: file.name, appliedChecksum, fileChecksum: file.checksum });
      }
    }
    if (mismatches.length > 0) throw new MigrationChecksumError(mismatches);

    const known = new Set(files.map((f) => f.name));
    const unknown = [...applied.keys()].filter((name) => !known.has(name)).sort();
    if (unknown.length > 0) {
      // A newer release applied these; an older replica may still be running. Not fatal.
      logger.warn(
        { migrations: unknown, dir },
        'database has migrations that are not in the migrations directory',
      );
    }

    const pending = files.filter((f) => !applied.has(f.name));
    logger.info(
      { dir, total: files.length, applied: applied.size, pending: pending.length },
      pending.length === 0 ? 'database schema is up to date' : 'applying migrations',
    );
    if (pending.length > 0) await timescalePreflight(session, logger);
    const done: string[] = [];
    for (const file of pending) {
      await applyOne(session, file, logger);
      done.push(file.name);
    }
    return { applied: done };
  } catch (err) {
    // Do not reuse a connection that saw a failure (e.g. a failed ROLLBACK).
    sessionError = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    stopNotices?.();
    if (locked) {
      try {
        await session.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
      } catch (err) {
        // Destroy the connection: closing it releases the session lock.
        sessionError ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    await session.release(sessionError);
  }
}

async function acquireLock(session: MigrationSession, timeoutMs: number, logger: DbLogger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logged = false;
  for (;;) {
    const { rows } = await session.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1::bigint) AS locked',
      [MIGRATION_LOCK_KEY],
    );
    if (rows[0]?.locked === true) return;
    if (Date.now() >= deadline) {
      throw new MigrationLockTimeoutError(
        `another process has held the migration lock for more than ${timeoutMs} ms; ` +
          'check pg_locks for a stuck migration (locktype = advisory)',
      );
    }
    if (!logged) {
      logger.info({}, 'waiting for another process to finish migrating');
      logged = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
  }
}

async function applyOne(session: MigrationSession, file: MigrationFile, logger: DbLogger): Promise<void> {
  const started = performance.now();
  logger.info({ migration: file.name, transactional: file.transactional }, 'applying migration');
  const record = async () => {
    await session.query('INSERT INTO schema_migrations (name, checksum, duration_ms) VALUES ($1, $2, $3)', [
      file.name,
      file.checksum,
      performance.now() - started,
    ]);
  };
  if (file.transactional) {
    await session.exec('BEGIN');
    try {
      await session.exec(file.sql);
      await record();
      await session.exec('COMMIT');
    } catch (err) {
      let rollback = '';
      try {
        await session.exec('ROLLBACK');
      } catch (rollbackErr) {
        rollback = `; ROLLBACK also failed: ${describe(rollbackErr)}`;
      }
      throw new MigrationError(file.name, describe(err) + rollback, { cause: err });
    }
  } else {
    const statements = splitSqlStatements(file.sql);
    for (const [index, statement] of statements.entries()) {
      try {
        await session.exec(statement);
      } catch (err) {
        throw new MigrationError(
          file.name,
          `statement ${index + 1} of ${statements.length} (no-transaction file: earlier statements stay applied; ` +
            `make them idempotent and rerun): ${describe(err)}`,
          { cause: err },
        );
      }
    }
    await record();
  }
  logger.info(
    { migration: file.name, durationMs: Math.round(performance.now() - started) },
    'applied migration',
  );
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & {
    code?: string;
    detail?: string;
    hint?: string;
    where?: string;
    position?: string;
  };
  const parts = [e.message];
  if (e.code) parts.push(`(SQLSTATE ${e.code})`);
  if (e.detail) parts.push(`detail: ${e.detail}`);
  if (e.hint) parts.push(`hint: ${e.hint}`);
  if (e.where) parts.push(`where: ${e.where}`);
  if (e.position) parts.push(`at character ${e.position}`);
  return parts.join(' ');
}
