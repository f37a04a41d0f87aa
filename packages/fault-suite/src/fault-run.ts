import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBus } from '@sensor-streaming/bus';
import type { Pool } from '@sensor-streaming/db';
import { createLogger } from '@sensor-streaming/runtime';
import { LoadGenerator } from './load-generator.js';
import { sleep, waitUntil } from './run-command.js';
import { ServiceProcess } from './service-process.js';
import {
  checkDeadLetters,
  checkStored,
  type DeadLetterCheck,
  drainDeadLetters,
  type StoreCheck,
  storedEntries,
  storedSamples,
  storedTotals,
} from './verify.js';
import { type WorkloadOptions, workloadMessages, workloadSize } from './workload.js';

/** Where the run happens: a broker and a database, and what the suite may do to them. */
export interface FaultEnvironment {
  amqpUrl: string;
  databaseUrl: string;
  /** A pool on the database, for verification (reconnects by itself after restarts). */
  pool: Pool;
  /** Close every client connection from the broker side. */
  closeConnections(services: readonly ServiceProcess[]): Promise<void>;
  restartBroker?(): Promise<void>;
  /** Crash PostgreSQL and start it again. */
  crashDatabase?(): Promise<void>;
  /** Make PostgreSQL refuse connections (stopped) / accept them again. */
  stopDatabase?(): Promise<void>;
  startDatabase?(): Promise<void>;
  /** The broker's consumer_timeout, when the suite set it (the outage lasts longer). */
  consumerTimeoutMs?: number;
  /** Messages ready in a queue. */
  queueMessages(queue: string): Promise<number>;
}

export type FaultStep =
  | { kind: 'kill'; service: string }
  | { kind: 'close-connections' }
  | { kind: 'restart-broker' }
  | { kind: 'crash-database' }
  /** Database stopped for at least minMs; meanwhile `service` is SIGKILLed and restarted `restarts` times. */
  | { kind: 'database-outage'; minMs: number; service: string; restarts: number };

export interface FaultRunOptions {
  workload: WorkloadOptions;
  /** Publishing is spread over about this long. */
  loadDurationMs: number;
  /** Faults, one after the other, the first this long after publishing started. */
  firstFaultAfterMs: number;
  /** Pause between two faults (after the recovery of the first). */
  faultSpacingMs: number;
  steps: FaultStep[];
  measurementReplicas: number;
  logReplicas: number;
  /** Prefix of the services' connection names (SERVICE_NAME), unique per run on a shared broker. */
  serviceNamePrefix?: string;
  /** Service settings (e.g. RELEASE_AFTER_MS). */
  serviceEnv?: Record<string, string>;
  /** How long every service has to become ready after a fault. */
  recoveryTimeoutMs: number;
  /** How long the queues have to drain after publishing ended. */
  drainTimeoutMs: number;
  /** Progress lines go here (default: stdout). */
  print?: (line: string) => void;
  progressIntervalMs?: number;
}

export interface FaultRunResult {
  /** The services of the run (stopped by then), e.g. for their SERVICE_NAME. */
  serviceNames: string[];
  confirmed: number;
  stored: number;
  missing: number;
  duplicates: number;
  deadLettered: number;
  recoveries: number;
  samples: StoreCheck;
  entries: StoreCheck;
  deadLetters: DeadLetterCheck;
  failedPublishes: string[];
  recoveryFailures: string[];
  /** Processes that exited without being killed by the suite. */
  unexpectedExits: number;
  publishRetries: number;
  durationMs: number;
  logDir: string;
  /** Problems that fail the run, one line each. */
  problems: string[];
}

export function summaryLine(r: FaultRunResult): string {
  return `faults: ${r.confirmed} confirmed, ${r.stored} stored, ${r.missing} missing, ${r.duplicates} duplicates, ${r.deadLettered} dead-lettered, ${r.recoveries} recoveries`;
}

const ENTRY = {
  measurements: 'services/measurements-ingester/src/main.ts',
  logs: 'services/logs-ingester/src/main.ts',
};

/**
 * The fault run: start the ingesters as processes, publish the known workload with confirms, inject the
 * faults one after the other while it flows (each followed by a wait until every service is ready again),
 * wait for the queues to drain, then account for every confirmed sample, entry and malformed message.
 */
export async function runFaults(env: FaultEnvironment, o: FaultRunOptions): Promise<FaultRunResult> {
  const print = o.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const logDir = await mkdtemp(join(tmpdir(), 'faults-logs-'));
  const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)}s`;
  let phase = 'starting services';

  const services: ServiceProcess[] = [];
  const names = o.serviceNamePrefix ?? 'faults';
  const commonEnv = {
    AMQP_URL: env.amqpUrl,
    DATABASE_URL: env.databaseUrl,
    RETRY_INITIAL_DELAY_MS: '100',
    RETRY_MAX_DELAY_MS: '2000',
    SHUTDOWN_DRAIN_MS: '2000',
    ...o.serviceEnv,
  };
  for (let i = 1; i <= o.measurementReplicas; i++) {
    services.push(
      new ServiceProcess({
        name: `measurements-ingester-${i}`,
        entry: ENTRY.measurements,
        env: { ...commonEnv, SERVICE_NAME: `${names}-mi-${i}` },
        logFile: join(logDir, `measurements-ingester-${i}.log`),
      }),
    );
  }
  for (let i = 1; i <= o.logReplicas; i++) {
    services.push(
      new ServiceProcess({
        name: `logs-ingester-${i}`,
        entry: ENTRY.logs,
        env: { ...commonEnv, SERVICE_NAME: `${names}-li-${i}` },
        logFile: join(logDir, `logs-ingester-${i}.log`),
      }),
    );
  }
  const byName = new Map(services.map((s) => [s.name, s]));
  const logger = createLogger({ service: 'fault-suite', level: 'silent' });
  const bus = createBus({
    url: env.amqpUrl,
    connectionName: 'fault-suite-load',
    logger,
    publishTimeoutMs: 30_000,
    reconnect: { initialDelayMs: 200, maxDelayMs: 2000 },
  });
  const size = workloadSize(o.workload);
  const load = new LoadGenerator({
    bus,
    durationMs: o.loadDurationMs,
    totalMessages: size.dataMessages + size.logMessages + size.malformed,
    window: 200,
    giveUpAfterMs: 300_000,
  });
  let recoveries = 0;
  const recoveryFailures: string[] = [];
  let progressTimer: NodeJS.Timeout | undefined;
  let lastStored = { samples: 0, entries: 0 };

  const readyCount = async (): Promise<number> =>
    (await Promise.all(services.map((s) => s.isReady()))).filter(Boolean).length;

  async function progress(): Promise<void> {
    const p = load.progress;
    try {
      lastStored = await storedTotals(env.pool, o.workload.prefix);
    } catch {
      // the database is down on purpose
    }
    print(
      `faults +${elapsed()} [${phase}] confirmed ${p.confirmedSamples}/${size.samples} samples, ` +
        `${p.confirmedEntries}/${size.entries} entries, ${p.confirmedMalformed}/${size.malformed} malformed ` +
        `(${p.retries} re-sent); stored ${lastStored.samples} samples, ${lastStored.entries} entries; ` +
        `ready ${await readyCount()}/${services.length}`,
    );
  }

  /** Every service ready again; those not killed by this fault must not have been restarted. */
  async function recovered(fault: string, restarted: readonly ServiceProcess[]): Promise<void> {
    const startsBefore = new Map(services.map((s) => [s, s.starts]));
    const t0 = Date.now();
    try {
      await waitUntil(
        async () => (await readyCount()) === services.length,
        `every service ready after ${fault}`,
        o.recoveryTimeoutMs,
        500,
      );
      const selfRestarted = services.filter(
        (s) => !restarted.includes(s) && s.starts !== startsBefore.get(s),
      );
      if (selfRestarted.length > 0)
        throw new Error(`${selfRestarted.map((s) => s.name).join(', ')} had to be restarted`);
      recoveries++;
      print(`faults +${elapsed()} recovered from ${fault} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      const line = `${fault}: ${err instanceof Error ? err.message : String(err)}`;
      recoveryFailures.push(line);
      print(`faults +${elapsed()} NOT RECOVERED: ${line}`);
    }
  }

  async function killAndRestart(s: ServiceProcess): Promise<void> {
    await s.kill();
    await sleep(500);
    await s.start();
  }

  async function runStep(step: FaultStep): Promise<void> {
    switch (step.kind) {
      case 'kill': {
        const s = byName.get(step.service);
        if (!s) throw new Error(`no service ${step.service}`);
        phase = `SIGKILL ${s.name}`;
        print(`faults +${elapsed()} ${phase}`);
        await killAndRestart(s);
        await recovered(phase, [s]);
        return;
      }
      case 'close-connections':
        phase = 'broker closes every connection';
        print(`faults +${elapsed()} ${phase}`);
        await env.closeConnections(services);
        await recovered(phase, []);
        return;
      case 'restart-broker':
        if (!env.restartBroker) throw new Error('this environment cannot restart the broker');
        phase = 'RabbitMQ restart';
        print(`faults +${elapsed()} ${phase}`);
        await env.restartBroker();
        await recovered(phase, []);
        return;
      case 'crash-database':
        if (!env.crashDatabase) throw new Error('this environment cannot crash the database');
        phase = 'PostgreSQL crash and restart';
        print(`faults +${elapsed()} ${phase}`);
        await env.crashDatabase();
        await recovered(phase, []);
        return;
      case 'database-outage': {
        if (!env.stopDatabase || !env.startDatabase)
          throw new Error('this environment cannot stop the database');
        const s = byName.get(step.service);
        if (!s) throw new Error(`no service ${step.service}`);
        phase = `PostgreSQL refusing connections (>= ${Math.round(step.minMs / 1000)} s), ${step.restarts} SIGKILLs of ${s.name}`;
        print(`faults +${elapsed()} ${phase}`);
        const t0 = Date.now();
        await env.stopDatabase();
        for (let i = 0; i < step.restarts; i++) {
          await sleep(1000);
          await killAndRestart(s);
          // up (HTTP answers) but not ready: no database
          await waitUntil(
            async () => (await s.get('/healthz').catch(() => ({ status: 0 }))).status === 200,
            `${s.name} to answer`,
            60_000,
            250,
          );
        }
        const left = step.minMs - (Date.now() - t0);
        if (left > 0) await sleep(left);
        print(
          `faults +${elapsed()} PostgreSQL accepts connections again after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        await env.startDatabase();
        await recovered('PostgreSQL outage', [s]);
        return;
      }
    }
  }

  try {
    await Promise.all(services.map((s) => s.start()));
    await Promise.all(services.map((s) => s.waitReady(120_000)));
    await bus.start();
    print(
      `faults: ${services.length} services ready; publishing ${size.samples} samples in ${size.dataMessages} messages, ` +
        `${size.entries} log entries in ${size.logMessages} messages and ${size.malformed} malformed messages ` +
        `over ~${Math.round(o.loadDurationMs / 1000)} s; logs in ${logDir}`,
    );
    progressTimer = setInterval(() => void progress(), o.progressIntervalMs ?? 5000);
    phase = 'publishing';
    const publishing = load.run(workloadMessages(o.workload));
    const faults = (async () => {
      await sleep(o.firstFaultAfterMs);
      for (const step of o.steps) {
        await runStep(step);
        phase = 'publishing';
        await sleep(o.faultSpacingMs);
      }
    })();
    await Promise.all([publishing, faults]);
    phase = 'draining';
    print(`faults +${elapsed()} publishing done; waiting for the queues to drain`);
    const want = load.progress;
    await waitUntil(
      async () => {
        const t = await storedTotals(env.pool, o.workload.prefix);
        const dead = await env.queueMessages('sensor_streaming.dead');
        return (
          t.samples >= want.confirmedSamples &&
          t.entries >= want.confirmedEntries &&
          dead >= load.malformed.length
        );
      },
      'every confirmed row stored and every malformed message dead-lettered',
      o.drainTimeoutMs,
      1000,
    ).catch((err: unknown) => print(`faults +${elapsed()} ${(err as Error).message}`));
    // a last moment for in-flight acks and copies
    await sleep(1000);
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    await bus.stop().catch(() => undefined);
  }

  phase = 'verifying';
  const unexpectedExits = services.reduce((n, s) => n + s.unexpectedExits, 0);
  await Promise.all(services.map((s) => s.close()));
  const samples = checkStored(
    load.good,
    await storedSamples(env.pool, o.workload.prefix, o.workload.t0Us, o.workload.samplesPerMessage),
    'data',
  );
  const entries = checkStored(load.good, await storedEntries(env.pool, o.workload.prefix), 'logs');
  const deadLetters = checkDeadLetters(load.malformed, await drainDeadLetters(env.amqpUrl));

  const problems: string[] = [];
  const missing = samples.missing + entries.missing;
  const duplicates = samples.duplicates + entries.duplicates;
  if (missing > 0)
    problems.push(
      `${missing} confirmed rows missing: ${[...samples.examples, ...entries.examples].join('; ')}`,
    );
  if (duplicates > 0) problems.push(`${duplicates} rows stored more than once`);
  if (samples.wrongChecksum + entries.wrongChecksum > 0)
    problems.push(`${samples.wrongChecksum + entries.wrongChecksum} messages stored with wrong values`);
  if (deadLetters.missing > 0) problems.push(`${deadLetters.missing} malformed messages not dead-lettered`);
  if (deadLetters.wrongReason > 0)
    problems.push(
      `${deadLetters.wrongReason} dead letters with a wrong reason: ${deadLetters.examples.join('; ')}`,
    );
  if (deadLetters.goodDeadLettered > 0)
    problems.push(
      `${deadLetters.goodDeadLettered} good messages dead-lettered: ${deadLetters.examples.join('; ')}`,
    );
  if (load.failed.length > 0)
    problems.push(`${load.failed.length} publishes never confirmed: ${load.failed.slice(0, 3).join('; ')}`);
  if (recoveryFailures.length > 0) problems.push(`not recovered: ${recoveryFailures.join('; ')}`);
  if (unexpectedExits > 0)
    problems.push(`${unexpectedExits} service processes exited by themselves (see ${logDir})`);
  if (load.progress.confirmedSamples < size.samples || load.progress.confirmedEntries < size.entries)
    problems.push('not every message of the workload was confirmed');

  return {
    serviceNames: services.map((s) => s.name),
    confirmed: samples.confirmed + entries.confirmed,
    stored: samples.stored + entries.stored,
    missing,
    duplicates,
    deadLettered: deadLetters.found,
    recoveries,
    samples,
    entries,
    deadLetters,
    failedPublishes: load.failed,
    recoveryFailures,
    unexpectedExits,
    publishRetries: load.progress.retries,
    durationMs: Date.now() - started,
    logDir,
    problems,
  };
}
