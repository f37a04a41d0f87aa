#!/usr/bin/env node
// `pnpm test:faults`: the full fault run on a RabbitMQ node and a PostgreSQL instance of its own.
// Progress lines while it runs; the last line is the summary; exit 0 only if nothing was lost.
import { parseArgs } from 'node:util';
import { runAlarmFaults } from '../alarm-faults.js';
import { runCommandFaults } from '../command-faults.js';
import { createOwnedEnvironment } from '../environments.js';
import { type FaultStep, runFaults, summaryLine } from '../fault-run.js';
import { DEFAULT_FUZZ_ITERATIONS, fuzzProtocol } from '../fuzz.js';

const USAGE = `usage: pnpm test:faults [--samples N] [--entries N] [--load-seconds S] [--consumer-timeout-ms MS] [--fuzz N] [--keep-logs]`;

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(v)}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

let args: ReturnType<typeof parseArgs>['values'];
try {
  args = parseArgs({
    options: {
      samples: { type: 'string' },
      entries: { type: 'string' },
      'load-seconds': { type: 'string' },
      'consumer-timeout-ms': { type: 'string' },
      fuzz: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const samples = positive('samples', args.samples as string | undefined, 1_000_000);
const entries = positive('entries', args.entries as string | undefined, 200_000);
const loadSeconds = positive('load-seconds', args['load-seconds'] as string | undefined, 150);
const consumerTimeoutMs = positive(
  'consumer-timeout-ms',
  args['consumer-timeout-ms'] as string | undefined,
  15_000,
);
const fuzzIterations = positive('fuzz', args.fuzz as string | undefined, DEFAULT_FUZZ_ITERATIONS);

// 1. the decoders: every one takes fuzzIterations generated inputs
const fuzz = fuzzProtocol({ iterations: fuzzIterations, seed: Date.now() >>> 0 });
for (const f of fuzz.results) {
  print(
    `faults: fuzz ${f.decoder}: ${f.inputs} inputs, ${f.accepted} accepted (each re-encoded to an equivalent message), ${f.rejected} rejected with ProtocolError`,
  );
}
if (fuzz.problems.length > 0) {
  for (const p of fuzz.problems) print(`faults: FUZZ PROBLEM ${p}`);
}

// 2. the processes, under faults
const owned = await createOwnedEnvironment({ consumerTimeoutMs, print });
let exitCode = 1;
let summary = 'faults: run failed before its summary';
const onSignal = (sig: NodeJS.Signals): void => {
  print(`faults: ${sig}, tearing down the broker and database of the run`);
  void owned.teardown().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  const steps: FaultStep[] = [
    { kind: 'kill', service: 'measurements-ingester-1' },
    { kind: 'close-connections' },
    // longer than the consumer timeout, with more ingester restarts than x-delivery-limit (5), while
    // the load keeps coming
    {
      kind: 'database-outage',
      minMs: consumerTimeoutMs + 10_000,
      service: 'measurements-ingester-2',
      restarts: 7,
    },
    { kind: 'kill', service: 'logs-ingester-1' },
    { kind: 'restart-broker' },
    { kind: 'crash-database' },
    { kind: 'kill', service: 'measurements-ingester-1' },
  ];
  const result = await runFaults(owned.env, {
    workload: {
      samples,
      samplesPerMessage: 500,
      logEntries: entries,
      entriesPerMessage: 50,
      sensors: 20,
      malformedRatio: 0.1,
      prefix: `faults${Date.now().toString(36)}`,
      t0Us: (Date.now() - 6 * 3600 * 1000) * 1000,
    },
    loadDurationMs: loadSeconds * 1000,
    firstFaultAfterMs: 5_000,
    faultSpacingMs: 4_000,
    steps,
    measurementReplicas: 2,
    logReplicas: 1,
    serviceEnv: { RELEASE_AFTER_MS: '3000' },
    recoveryTimeoutMs: 120_000,
    drainTimeoutMs: 300_000,
    print,
  });
  const s = result.samples;
  const e = result.entries;
  print(
    `faults: samples ${s.confirmed} confirmed, ${s.stored} stored, ${s.missing} missing, ${s.duplicates} duplicates, ${s.wrongChecksum} wrong checksums; ` +
      `log entries ${e.confirmed} confirmed, ${e.stored} stored, ${e.missing} missing, ${e.duplicates} duplicates, ${e.wrongChecksum} wrong checksums`,
  );
  const d = result.deadLetters;
  print(
    `faults: dead letters: ${d.found}/${d.expected} malformed messages with the expected reason (${d.wrongReason} wrong reason, ${d.missing} missing, ${d.extraCopies} extra copies), ${d.goodDeadLettered} good messages`,
  );
  print(
    `faults: ${result.recoveries} recoveries, ${result.publishRetries} publishes re-sent, ${result.unexpectedExits} unexpected exits, ${Math.round(result.durationMs / 1000)} s; service logs in ${result.logDir}`,
  );
  // 3. commands while the simulator is killed
  const commands = await runCommandFaults({
    amqpUrl: owned.env.amqpUrl,
    databaseUrl: owned.env.databaseUrl,
    logDir: result.logDir,
    rounds: 30,
    sensors: 10,
    roundIntervalMs: 300,
    killAfterRound: 8,
    ttlMs: 30_000,
    shortTtlMs: 1_500,
    downtimeMs: 4_000,
    timeoutMs: 45_000,
    print,
  });
  print(
    `faults: commands: ${commands.issued} issued, ${commands.applied} applied (acked once), ${commands.expired} expired, ${commands.timedOut} timed out, ${commands.other.length} other, ${commands.ackedTwice} applied twice`,
  );
  result.recoveries += commands.recoveries;
  // 4. the alarm service fails over mid-episode
  const alarms = await runAlarmFaults({
    amqpUrl: owned.env.amqpUrl,
    databaseUrl: owned.env.databaseUrl,
    pool: owned.env.pool,
    logDir: result.logDir,
    episodes: 5,
    failoverInEpisode: 2,
    print,
  });
  print(
    `faults: alarms: ${alarms.episodes} episodes, ${alarms.raised} raised, ${alarms.cleared} cleared across a leader SIGKILL`,
  );
  result.recoveries += alarms.recoveries;
  const problems = [...result.problems, ...fuzz.problems, ...commands.problems, ...alarms.problems];
  for (const p of problems) print(`faults: FAILED ${p}`);
  exitCode = problems.length === 0 ? 0 : 1;
  summary = summaryLine(result);
} catch (err) {
  print(`faults: FAILED ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await owned.teardown();
}
// the summary is the last line, after the teardown
print(summary);
process.exit(exitCode);
