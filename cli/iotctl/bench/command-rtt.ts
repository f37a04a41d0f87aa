/**
 * Benchmark (not a test): command round trip, publish -> ack received, through the same command path
 * iotctl uses (createCommander), with 1,000 simulated sensors streaming in a simulator process.
 *
 * Baseline measured in the same run: a raw bus round trip through RabbitMQ with no sensor logic (publish a
 * message, an echo consumer on its own connections publishes it back, the caller consumes it), sent in the
 * same waves. Results are printed per round, then the medians over the rounds, and ratios to the baseline.
 * Five rounds by default: over three, the median p99 ratio moved from 1.4 to 2.1 between runs on a quiet machine.
 *
 *   pnpm --filter @sensor-streaming/iotctl bench
 *   BENCH_SENSORS=1000 BENCH_COMMANDS=2000 BENCH_WAVE=100 BENCH_ROUNDS=5 BENCH_SAMPLE_HZ=10 pnpm ... bench
 *
 * Then the bulk path: a second simulator process adds sensors up to BENCH_ALL_SENSORS (default 10,000; those
 * at 1 Hz) and one `awake` goes to all of them through the commander, as `iotctl awake --all` sends it once the
 * registry has named the targets; it must return an outcome for every sensor. BENCH_ALL_SENSORS=0 skips it.
 *
 * It makes its own RabbitMQ vhost (management API at RABBITMQ_MANAGEMENT_URL, default guest@127.0.0.1:15672)
 * and drops it at the end; the simulators run as child processes (services/sensor-simulator/src/main.ts).
 * The last line is the summary:
 *   commands: p99 <ms> ms, echo p99 <ms> ms, ratio <r>, all-10000 <s> s
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, deleteQueues, queueMessageCount, waitFor } from '@sensor-streaming/bus/testing';
import { createCommander } from '@sensor-streaming/control';
import { commandQueueName } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const TARGET_P99_MS = 100;

function envInt(name: string, dflt: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const SENSORS = envInt('BENCH_SENSORS', 1000, 1, 50_000);
const COMMANDS = envInt('BENCH_COMMANDS', 2000, 1, 1_000_000);
const WAVE = envInt('BENCH_WAVE', 100, 1, 10_000);
const ROUNDS = envInt('BENCH_ROUNDS', 5, 1, 100);
const SAMPLE_HZ = envInt('BENCH_SAMPLE_HZ', 10, 1, 10_000);
const PAUSE_MS = envInt('BENCH_WAVE_PAUSE_MS', 100, 0, 60_000);
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR || undefined;
const ALL_SENSORS = envInt('BENCH_ALL_SENSORS', 10_000, 0, 50_000);

const logger = createLogger({
  service: 'iotctl-bench',
  level: process.env.LOG_LEVEL ?? 'warn',
  pretty: false,
});

interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function stats(values: number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1]! };
}

const median = (xs: number[]) => stats(xs).p50;
const f = (ms: number) => `${ms.toFixed(2)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Command round trips: COMMANDS commands in waves of WAVE distinct sensors, changing the frequency back and forth. */
async function commandRound(
  bus: Bus,
  serials: string[],
  round: number,
): Promise<{ rtts: number[]; failed: Map<string, number> }> {
  const commander = createCommander(bus);
  const rtts: number[] = [];
  const failed = new Map<string, number>();
  let sent = 0;
  let wave = 0;
  try {
    while (sent < COMMANDS) {
      const size = Math.min(WAVE, COMMANDS - sent);
      const start = (wave * WAVE) % serials.length;
      const targets = Array.from({ length: size }, (_, i) => serials[(start + i) % serials.length]!);
      const hz = (round + wave) % 2 === 0 ? SAMPLE_HZ + 1 : SAMPLE_HZ;
      const outcomes = await commander.issue(
        targets,
        { type: 'changesamplefrequency', sampleFrequencyHz: hz },
        { issuedBy: 'iotctl:bench', timeoutMs: 10_000, ttlMs: 30_000 },
      );
      for (const o of outcomes) {
        if (o.status === 'APPLIED' && o.rttMs !== null) rtts.push(o.rttMs);
        else failed.set(o.status, (failed.get(o.status) ?? 0) + 1);
      }
      sent += size;
      wave++;
      if (PAUSE_MS > 0) await sleep(PAUSE_MS);
    }
  } finally {
    await commander.close();
  }
  return { rtts, failed };
}

/** The same waves through RabbitMQ with no sensor logic: publish -> echo consumer -> publish back -> consume. */
async function baselineRound(
  caller: Bus,
  echoQueue: string,
  replyKey: string,
  pending: Map<string, (t: number) => void>,
): Promise<number[]> {
  const rtts: number[] = [];
  let sent = 0;
  while (sent < COMMANDS) {
    const size = Math.min(WAVE, COMMANDS - sent);
    await Promise.all(
      Array.from({ length: size }, async () => {
        const id = randomUUID();
        const t0 = performance.now();
        const back = new Promise<number>((resolve) => pending.set(id, resolve));
        await caller.publish(echoQueue, Buffer.from(id), {
          mandatory: true,
          messageId: id,
          replyTo: replyKey,
        });
        rtts.push((await back) - t0);
      }),
    );
    sent += size;
    if (PAUSE_MS > 0) await sleep(PAUSE_MS);
  }
  return rtts;
}

interface Child {
  stop(): Promise<void>;
}

function startSimulator(url: string, index: number, sensors: number, hz: number): Child {
  const child = spawn(
    process.execPath,
    [
      // BENCH_PROFILE_DIR: a CPU profile of each simulator process, written when it exits
      ...(PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]),
      '--conditions=source',
      '--import',
      'tsx',
      'services/sensor-simulator/src/main.ts',
    ],
    {
      cwd: REPO,
      env: {
        ...process.env,
        AMQP_URL: url,
        SIMULATOR_INDEX: String(index),
        SENSOR_COUNT: String(sensors),
        SAMPLE_FREQUENCY_HZ: String(hz),
        FLUSH_INTERVAL_MS: '1000',
        METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const queueExists = (url: string, serial: string): Promise<boolean> =>
  queueMessageCount(url, commandQueueName(serial)).then(
    () => true,
    () => false,
  );

/** One awake to every sensor, as `iotctl awake --all` sends it; returns the seconds and the outcome counts. */
async function allRound(bus: Bus, serials: string[]): Promise<{ s: number; counts: Map<string, number> }> {
  const commander = createCommander(bus);
  const t0 = performance.now();
  try {
    const outcomes = await commander.issue(
      serials,
      { type: 'awake' },
      { issuedBy: 'iotctl:bench', timeoutMs: 60_000, ttlMs: 120_000 },
    );
    const s = (performance.now() - t0) / 1000;
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
    return { s, counts };
  } finally {
    await commander.close();
  }
}

async function main(): Promise<void> {
  const vhost = await createTestVhost('iotctl-bench');
  const children: Child[] = [startSimulator(vhost.url, 0, SENSORS, SAMPLE_HZ)];
  const commandQueues: string[] = Array.from({ length: SENSORS }, (_, i) => commandQueueName(`sim-0-${i}`));
  // noDelay as iotctl's session has it (src/session.ts); the echo's the same, so the baseline is like for like
  const caller = createBus({
    url: vhost.url,
    connectionName: 'iotctl-bench',
    logger,
    publishTimeoutMs: 30_000,
    noDelay: true,
  });
  const echo = createBus({ url: vhost.url, connectionName: 'iotctl-bench-echo', logger, noDelay: true });
  try {
    await Promise.all([caller.start(), echo.start()]);
    const serials = Array.from({ length: SENSORS }, (_, i) => `sim-0-${i}`);
    const t0 = performance.now();
    await waitFor(
      () => queueExists(vhost.url, serials[serials.length - 1]!),
      'the simulator to declare its command queues',
      300_000,
    );
    console.log(
      `simulator up with ${SENSORS} sensors at ${SAMPLE_HZ} Hz in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    await sleep(3000); // let births, boot logs and the first flushes pass

    // baseline plumbing: echo queue (request) and reply queue, each on its own connections
    const echoQueue = `bench.echo.${randomUUID()}`;
    const replyKey = `bench.reply.${randomUUID()}`;
    const pending = new Map<string, (t: number) => void>();
    await echo.consume({
      queue: { name: echoQueue, type: 'classic', bindings: [echoQueue], exclusive: true, autoDelete: true },
      prefetch: 1000,
      concurrency: 100,
      handler: async (d) => {
        await echo.publish(d.replyTo!, d.body, {
          mandatory: true,
          ...(d.messageId ? { messageId: d.messageId } : {}),
        });
      },
    });
    await caller.consume({
      queue: { name: replyKey, type: 'classic', bindings: [replyKey], exclusive: true, autoDelete: true },
      prefetch: 1000,
      handler: async (d) => {
        const t = performance.now();
        const id = d.body.toString('utf8');
        pending.get(id)?.(t);
        pending.delete(id);
      },
    });

    console.log(
      `${ROUNDS} rounds of ${COMMANDS} commands in waves of ${WAVE} (pause ${PAUSE_MS} ms), baseline the same`,
    );
    const rounds: Array<{ cmd: Stats; base: Stats; failed: Map<string, number> }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      const base = stats(await baselineRound(caller, echoQueue, replyKey, pending));
      const { rtts, failed } = await commandRound(caller, serials, r);
      const cmd = stats(rtts);
      rounds.push({ cmd, base, failed });
      const failures = [...failed.entries()].map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
      console.log(
        `round ${r + 1}: command p50 ${f(cmd.p50)} p90 ${f(cmd.p90)} p99 ${f(cmd.p99)} max ${f(cmd.max)} (n=${cmd.n}, not applied: ${failures}); ` +
          `baseline p50 ${f(base.p50)} p99 ${f(base.p99)} max ${f(base.max)}`,
      );
    }
    const cmdP50 = median(rounds.map((x) => x.cmd.p50));
    const cmdP99 = median(rounds.map((x) => x.cmd.p99));
    const baseP50 = median(rounds.map((x) => x.base.p50));
    const baseP99 = median(rounds.map((x) => x.base.p99));
    console.log('');
    console.log(`medians over ${ROUNDS} rounds (${SENSORS} sensors streaming at ${SAMPLE_HZ} Hz):`);
    console.log(`  command round trip  p50 ${f(cmdP50)}  p99 ${f(cmdP99)}`);
    console.log(`  baseline bus echo   p50 ${f(baseP50)}  p99 ${f(baseP99)}`);
    console.log(
      `  ratio command/base  p50 ${(cmdP50 / baseP50).toFixed(2)}x  p99 ${(cmdP99 / baseP99).toFixed(2)}x`,
    );
    console.log(`  target p99 < ${TARGET_P99_MS} ms: ${cmdP99 < TARGET_P99_MS ? 'met' : 'NOT met'}`);
    const [l1, l5] = loadavg();
    console.log(
      `  machine: ${cpus().length} cores, load average ${l1!.toFixed(1)} (1 min) ${l5!.toFixed(1)} (5 min) at the end`,
    );
    const anyFailed = rounds.some((x) => x.failed.size > 0);
    if (anyFailed)
      console.log('  some commands were not APPLIED (see the rounds above): their round trips are excluded');

    let allText = 'skipped';
    if (ALL_SENSORS > 0) {
      const extra = Math.max(0, ALL_SENSORS - SENSORS);
      const extraSerials = Array.from({ length: extra }, (_, i) => `sim-1-${i}`);
      const t1 = performance.now();
      if (extra > 0) {
        children.push(startSimulator(vhost.url, 1, extra, 1));
        commandQueues.push(...extraSerials.map((s) => commandQueueName(s)));
        await waitFor(
          () => queueExists(vhost.url, extraSerials[extra - 1]!),
          'the second simulator to declare its command queues',
          600_000,
        );
        await sleep(3000);
      }
      console.log('');
      console.log(
        `awake to all ${ALL_SENSORS} sensors (${SENSORS} at ${SAMPLE_HZ} Hz, ${extra} at 1 Hz in a second process, up in ${((performance.now() - t1) / 1000).toFixed(1)} s):`,
      );
      const all = [...serials, ...extraSerials].slice(0, ALL_SENSORS);
      const { s, counts } = await allRound(caller, all);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const applied = counts.get('APPLIED') ?? 0;
      console.log(
        `  ${total} outcomes for ${all.length} sensors in ${s.toFixed(1)} s: ${[...counts.entries()].map(([k, n]) => `${n} ${k}`).join(', ')}`,
      );
      allText =
        total === all.length && applied === all.length
          ? `${s.toFixed(1)} s`
          : `${s.toFixed(1)} s (${applied}/${all.length} APPLIED)`;
      const [l1b] = loadavg();
      console.log(`  load average ${l1b!.toFixed(1)} (1 min) at the end`);
    }
    console.log('');
    console.log(
      `commands: p99 ${cmdP99.toFixed(1)} ms, echo p99 ${baseP99.toFixed(1)} ms, ratio ${(cmdP99 / baseP99).toFixed(2)}, all-${ALL_SENSORS} ${allText}`,
    );
  } finally {
    await Promise.all([caller.stop(), echo.stop()]);
    await Promise.all(children.map((c) => c.stop()));
    // thousands of queues: deleted in parallel first, a vhost drop alone holds the broker up for minutes
    await deleteQueues(vhost.url, commandQueues).catch((err: unknown) => console.error(err));
    await vhost.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
