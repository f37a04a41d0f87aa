#!/usr/bin/env node
import { runCli } from './cli.js';

// Set the exit code and let the event loop drain (stdout flushed, the bus closed by the command).
runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`iotctl: bug: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
