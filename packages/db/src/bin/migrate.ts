#!/usr/bin/env node
// `pnpm migrate`: create the database if needed and apply migrations/.
// JSON log lines on stdout; exit code 0 on success, 1 on any failure.
import { createLogger } from '@sensor-streaming/runtime';
import { describeMigrateFailure, loadMigrateConfig, migrate } from '../migrate-command.js';

const logger = createLogger({ service: 'migrate' });

try {
  const config = loadMigrateConfig(process.env);
  logger.level = config.logLevel;
  await migrate(config, logger);
  process.exitCode = 0;
} catch (err) {
  const failure = describeMigrateFailure(err);
  // Expected failures (configuration, database, network) are one line without
  // a stack; anything else is a bug and keeps its stack.
  if (failure.expected) logger.error({ code: failure.code, error: failure.message }, 'migration failed');
  else logger.error({ err, code: failure.code }, 'migration failed');
  process.exitCode = 1;
}
