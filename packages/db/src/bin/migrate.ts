#!/usr/bin/env node
// `pnpm migrate`: create the database if needed and apply migrations/.
// JSON log lines on stdout; exit code 0 on success, 1 on any failure.
import { createLogger } from '@sensor-streaming/runtime';
import { loadMigrateConfig, migrate } from '../migrate-command.js';

const logger = createLogger({ service: 'migrate' });

try {
  const config = loadMigrateConfig(process.env);
  logger.level = config.logLevel;
  await migrate(config, logger);
  process.exitCode = 0;
} catch (err) {
  const code = (err as { code?: unknown }).code;
  logger.error({ err, code: typeof code === 'string' ? code : undefined }, 'migration failed');
  process.exitCode = 1;
}
