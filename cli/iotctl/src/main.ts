#!/usr/bin/env node
import { runCli } from './cli.js';

// `iotctl sensors list | head -1`: the reader went away; that is not an error worth a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// Set the exit code and let the event loop drain (stdout flushed, the bus closed by the command). If anything
// still holds the loop half a second later (a socket to a broker that went away), exit anyway.
const exitSoon = (): void => void setTimeout(() => process.exit(), 500).unref();
runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (err: unknown) => {
    process.stderr.write(`iotctl: bug: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
    exitSoon();
  },
);
