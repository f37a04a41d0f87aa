import {
  DEFAULT_DATABASE_URL,
  type EnvReader,
  LOG_LEVELS,
  type LogLevelName,
  readEnv,
} from '@sensor-streaming/runtime';
import { ensureDatabase, redactDatabaseUrl } from './database-url.js';
import type { DbLogger } from './logger.js';
import { isMigrationSettingName, MIGRATION_SETTINGS } from './migrations/migration-settings.js';
import {
  type RunMigrationsOptions,
  type RunMigrationsResult,
  runMigrations,
} from './migrations/run-migrations.js';
import { createPool } from './pool.js';

export interface MigrateConfig {
  databaseUrl: string;
  logLevel: LogLevelName;
  /** Create the database first if it does not exist (MIGRATE_CREATE_DATABASE, default true). */
  createDatabase: boolean;
  /** MIGRATIONS_DIR; default the repository's migrations/. */
  migrationsDir?: string;
  /** MIGRATE_LOCK_TIMEOUT (e.g. 5m). */
  lockTimeoutMs: number;
  /** From MIGRATE_SETTING_<NAME> variables: sensor_streaming.<name> settings (see MIGRATION_SETTINGS). */
  settings: Record<string, string>;
}

const SETTING_ENV_PREFIX = 'MIGRATE_SETTING_';

function readSettings(r: EnvReader, env: NodeJS.ProcessEnv): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const key of Object.keys(env).sort()) {
    if (!key.startsWith(SETTING_ENV_PREFIX)) continue;
    const name = key.slice(SETTING_ENV_PREFIX.length).toLowerCase();
    if (!isMigrationSettingName(name)) {
      r.problem(
        key,
        `unknown setting; known: ${Object.keys(MIGRATION_SETTINGS)
          .map((n) => SETTING_ENV_PREFIX + n.toUpperCase())
          .join(', ')}`,
      );
      continue;
    }
    const value = r.string(key, '');
    if (value !== '') settings[`sensor_streaming.${name}`] = value;
  }
  return settings;
}

/** Validates the migrate CLI's environment; throws one ConfigError listing every bad variable. */
export function loadMigrateConfig(env: NodeJS.ProcessEnv = process.env): MigrateConfig {
  const r = readEnv(env);
  const config: MigrateConfig = {
    databaseUrl: r.url('DATABASE_URL', DEFAULT_DATABASE_URL, { protocols: ['postgres', 'postgresql'] }),
    logLevel: r.enum('LOG_LEVEL', LOG_LEVELS, 'info'),
    createDatabase: r.bool('MIGRATE_CREATE_DATABASE', true),
    lockTimeoutMs: r.duration('MIGRATE_LOCK_TIMEOUT', 300_000, { min: 0 }),
    settings: readSettings(r, env),
  };
  if (r.has('MIGRATIONS_DIR')) config.migrationsDir = r.string('MIGRATIONS_DIR');
  if (URL.canParse(config.databaseUrl) && ['', '/'].includes(new URL(config.databaseUrl).pathname)) {
    r.problem('DATABASE_URL', 'must name a database, e.g. postgres://127.0.0.1:5432/sensor_streaming');
  }
  r.done();
  return config;
}

/** Creates the database if asked, applies pending migrations, closes its pool. */
export async function migrate(config: MigrateConfig, logger: DbLogger): Promise<RunMigrationsResult> {
  logger.info({ database: redactDatabaseUrl(config.databaseUrl) }, 'migrating');
  if (config.createDatabase) await ensureDatabase(config.databaseUrl, { logger });
  const pool = createPool({
    url: config.databaseUrl,
    logger,
    max: 1,
    applicationName: 'sensor-streaming-migrate',
  });
  try {
    const opts: RunMigrationsOptions = {
      logger,
      settings: config.settings,
      lockTimeoutMs: config.lockTimeoutMs,
    };
    if (config.migrationsDir !== undefined) opts.dir = config.migrationsDir;
    const result = await runMigrations(pool, opts);
    logger.info({ applied: result.applied, count: result.applied.length }, 'migrations complete');
    return result;
  } finally {
    await pool.end();
  }
}

export interface MigrateFailure {
  /** A stable code: ours (DB_*, CONFIG_INVALID), a SQLSTATE, or a Node system error (ECONNREFUSED). */
  code: string | undefined;
  message: string;
  /** False for bugs (no code): those keep their stack trace. */
  expected: boolean;
}

/** Sorts a failure of `migrate` into an expected one (one line for the user) or a bug. */
export function describeMigrateFailure(err: unknown): MigrateFailure {
  if (!(err instanceof Error)) return { code: undefined, message: String(err), expected: false };
  const raw = (err as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : undefined;
  const expected =
    code !== undefined &&
    (/^(DB|CONFIG)_/.test(code) ||
      code === 'CONFIG_INVALID' ||
      /^[0-9A-Z]{5}$/.test(code) ||
      /^E[A-Z]+$/.test(code));
  const e = err as Error & { detail?: string; hint?: string };
  let message = err.message;
  if (e.detail && !message.includes(e.detail)) message += ` (detail: ${e.detail})`;
  if (e.hint && !message.includes(e.hint)) message += ` (hint: ${e.hint})`;
  if (err instanceof AggregateError && err.errors.length > 0 && message === '') {
    message = err.errors.map((x) => (x instanceof Error ? x.message : String(x))).join('; ');
  }
  return { code, message, expected };
}
