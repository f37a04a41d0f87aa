#!/usr/bin/env node
// `pnpm -s db:backend`: one line, e.g. `storage: PostgreSQL 15.20 (plain, partitions of 1 day), retention 30 days, rollups 1m/1h/1d`.
// `pnpm -s db:maintain`: one storage maintenance pass (plain PostgreSQL), its report as JSON.
// Exit code 1 with one error line on stderr when the database cannot be read.
import { loadStorageCommandConfig, runStorageCommand } from '../storage-command.js';

try {
  const config = loadStorageCommandConfig(process.argv.slice(2));
  process.stdout.write(`${await runStorageCommand(config)}\n`);
} catch (err) {
  process.stderr.write(`storage: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
