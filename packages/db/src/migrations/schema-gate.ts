import { type DbLogger, silentLogger } from '../logger.js';
import type { Queryable } from '../pool.js';
import { defaultMigrationsDir, loadMigrationFiles } from './migration-files.js';

export interface SchemaLevel {
  /** Highest migration number shipped with this code (the level it needs). */
  required: number;
  /** Highest migration number recorded in schema_migrations (0 when none or no table). */
  current: number;
  /** Shipped migrations the database has not applied, in order. */
  missing: string[];
}

/**
 * Compares the migrations shipped with this code (`dir`, default the
 * repository's migrations/, /app/migrations in the image) with
 * schema_migrations. The required level is derived from the files, so a new
 * migration needs no code change anywhere to be waited for.
 */
export async function readSchemaLevel(db: Queryable, dir = defaultMigrationsDir()): Promise<SchemaLevel> {
  const files = await loadMigrationFiles(dir);
  const { rows: table } = await db.query<{ t: string | null }>(
    "SELECT to_regclass('schema_migrations')::text AS t",
  );
  const applied = new Set<string>();
  if (table[0]?.t != null) {
    const { rows } = await db.query<{ name: string }>('SELECT name FROM schema_migrations');
    for (const r of rows) applied.add(r.name);
  }
  const current = Math.max(0, ...[...applied].map((n) => Number(/^(\d+)_/.exec(n)?.[1] ?? 0)));
  return {
    required: files.at(-1)?.version ?? 0,
    current,
    missing: files.filter((f) => !applied.has(f.name)).map((f) => f.name),
  };
}

export interface SchemaGateOptions {
  db: Queryable;
  logger?: DbLogger;
  /** Migrations directory shipped with the code; default the repository's migrations/. */
  dir?: string;
  /** While closed, repeat the log line this often. Default 60 000 ms. */
  repeatLogMs?: number;
}

/** A readiness check / start gate (`{ name, check }`, see RunnableService.startGates). */
export interface SchemaGate {
  name: 'schema';
  check(): Promise<boolean>;
  /** The last level read (undefined before the first check, or when it failed). */
  readonly level: SchemaLevel | undefined;
}

/**
 * Open once the database has every migration this code ships; closed (with a
 * warn line naming what is missing and what to run) until then. It latches:
 * once open it never queries again, so it costs nothing on later probes.
 * Never throws: an unreachable database or unreadable directory is closed.
 */
export function createSchemaGate(opts: SchemaGateOptions): SchemaGate {
  const log = opts.logger ?? silentLogger;
  const repeatLogMs = opts.repeatLogMs ?? 60_000;
  let open = false;
  let level: SchemaLevel | undefined;
  let lastLog = { key: '', at: 0 };

  const report = (key: string, write: () => void) => {
    const now = Date.now();
    if (key === lastLog.key && now - lastLog.at < repeatLogMs) return;
    lastLog = { key, at: now };
    write();
  };

  return {
    name: 'schema',
    get level() {
      return level;
    },
    async check() {
      if (open) return true;
      try {
        level = await readSchemaLevel(opts.db, opts.dir);
      } catch (err) {
        level = undefined;
        report(`error:${(err as Error).message}`, () =>
          log.warn({ err }, 'cannot read the database schema level; not ready'),
        );
        return false;
      }
      if (level.missing.length === 0) {
        open = true;
        log.info(
          { required: level.required, current: level.current },
          'database schema is at the level this release needs',
        );
        return true;
      }
      const l = level;
      report(`behind:${l.missing.join(',')}`, () =>
        log.warn(
          { required: l.required, current: l.current, missing: l.missing },
          `database schema is behind this release: it needs migration ${l.required}, the database has ${l.current} ` +
            `(missing ${l.missing.join(', ')}); not ready until migrations run (\`pnpm migrate\`, compose's migrate, the pods' migrate init container)`,
        ),
      );
      return false;
    },
  };
}
