import { ConfigError, DEFAULT_DATABASE_URL, readEnv } from '@sensor-streaming/runtime';
import { silentLogger } from './logger.js';
import { createPool } from './pool.js';
import { describeStorage, formatStorageLine } from './storage/storage-backend.js';
import { maintainStorage } from './storage/storage-maintainer.js';

export const STORAGE_COMMANDS = ['backend', 'maintain'] as const;
export type StorageCommand = (typeof STORAGE_COMMANDS)[number];

export interface StorageCommandConfig {
  command: StorageCommand;
  databaseUrl: string;
}

/** Validates `storage <backend|maintain>` and DATABASE_URL; throws one ConfigError naming what is wrong. */
export function loadStorageCommandConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): StorageCommandConfig {
  const r = readEnv(env);
  const databaseUrl = r.url('DATABASE_URL', DEFAULT_DATABASE_URL, { protocols: ['postgres', 'postgresql'] });
  r.done();
  const command = argv[0];
  if (argv.length !== 1 || !STORAGE_COMMANDS.includes(command as StorageCommand)) {
    throw new ConfigError([
      `usage: storage <${STORAGE_COMMANDS.join('|')}> (got ${argv.length === 0 ? 'nothing' : JSON.stringify(argv.join(' '))})`,
    ]);
  }
  return { command: command as StorageCommand, databaseUrl };
}

/**
 * `backend`: one line saying which backend and retention are in force.
 * `maintain`: one maintenance pass, its report as one JSON line.
 */
export async function runStorageCommand(config: StorageCommandConfig): Promise<string> {
  const pool = createPool({
    url: config.databaseUrl,
    logger: silentLogger,
    max: 1,
    applicationName: 'sensor-streaming-storage',
    connectionTimeoutMs: 5_000,
  });
  try {
    if (config.command === 'backend') return formatStorageLine(await describeStorage(pool));
    return JSON.stringify(await maintainStorage(pool));
  } finally {
    await pool.end();
  }
}
