// The ingest benchmark: `pnpm bench` (root: `pnpm bench:ingest`). See ./README section in
// services/measurements-ingester/README.md. Prints one progress line per step, a table, and as
// its last line: `ingest: <e2e> e2e, <copy> copy, ratio <r>, naive <n>, p99 lag <ms> ms`. Before it, the
// small-message table (./k-table.ts): e2e beside raw broker rates for k samples/message, 1 and N shards.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBus } from '@sensor-streaming/bus';
import { createTestVhost, managementRequest, queueMessageCount } from '@sensor-streaming/bus/testing';
import { createPool, silentLogger } from '@sensor-streaming/db';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { createLogger, readEnv } from '@sensor-streaming/runtime';
import { psqlCopy, removeFile, writeCopyFile } from './copy-baseline.js';
import { diffBuckets, histogramQuantile, parseCounter, parseHistogram } from './histogram.js';
import { formatKTable, runKTable } from './k-table.js';
import { LoadGenerator } from './load-generator.js';
import { runNaiveIngester } from './naive-ingester.js';

const QUEUE = 'measurements-ingester';
const WRITTEN = 'sensor_streaming_samples_written_total';
const LAG = 'sensor_streaming_e2e_lag_seconds';
const WRITE = 'sensor_streaming_write_duration_seconds';

function loadBenchConfig(env: NodeJS.ProcessEnv) {
  const r = readEnv(env);
  const c = {
    stepSeconds: r.int('BENCH_STEP_SECONDS', 30, { min: 5, max: 600 }),
    lagSeconds: r.int('BENCH_LAG_SECONDS', 20, { min: 5, max: 600 }),
    sensors: r.int('BENCH_SENSORS', 200, { min: 1, max: 100_000 }),
    samplesPerMessage: r.int('BENCH_SAMPLES_PER_MESSAGE', 1000, { min: 1, max: 100_000 }),
    probeSamples: r.int('BENCH_PROBE_SAMPLES', 3_000_000, { min: 10_000 }),
    naiveSamples: r.int('BENCH_NAIVE_SAMPLES', 20_000, { min: 100 }),
    naiveMaxSeconds: r.int('BENCH_NAIVE_MAX_SECONDS', 20, { min: 1 }),
    /** Seconds from the start after which no new rate step begins (keeps the whole run near 6 minutes). */
    stepBudgetSeconds: r.int('BENCH_STEP_BUDGET_SECONDS', 230, { min: 10 }),
    /** ratio: the rate steps, lag, COPY and naive baselines; table: the k samples/message x shards table. */
    parts: r.list('BENCH_PARTS', ['ratio', 'table']),
    ks: r.list('BENCH_K', ['1', '10', '100', '1000']).map(Number),
    shards: r.int('BENCH_SHARDS', 4, { min: 2, max: 64 }),
    rounds: r.int('BENCH_ROUNDS', 3, { min: 1, max: 15 }),
    publishers: r.int('BENCH_PUBLISHERS', 3, { min: 1, max: 32 }),
    kMaxMessages: r.int('BENCH_K_MAX_MESSAGES', 10_000, { min: 100 }),
    kMaxSamples: r.int('BENCH_K_MAX_SAMPLES', 1_000_000, { min: 1000 }),
  };
  for (const p of c.parts)
    if (p !== 'ratio' && p !== 'table') r.problem('BENCH_PARTS', `unknown part '${p}' (ratio, table)`);
  if (c.parts.length === 0) r.problem('BENCH_PARTS', 'names no part (ratio, table)');
  for (const k of c.ks)
    if (!Number.isInteger(k) || k < 1 || k > 100_000)
      r.problem('BENCH_K', `each k must be an integer in 1..100000, got ${k}`);
  r.done();
  return c;
}

const t0 = performance.now();
function progress(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
  console.log(`[bench ${s}s] ${msg}`);
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

async function waitUntil(fn: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

interface StepRow {
  step: string;
  target: number;
  published: number;
  written: number;
  depthStart: number;
  depthEnd: number;
  verdict: string;
}

type BenchConfig = ReturnType<typeof loadBenchConfig>;

async function main(): Promise<void> {
  const cfg = loadBenchConfig(process.env);
  const ratioLine = cfg.parts.includes('ratio') ? await runRatio(cfg) : undefined;
  if (cfg.parts.includes('table')) await runTable(cfg);
  if (ratioLine !== undefined) console.log(ratioLine);
}

async function runTable(cfg: BenchConfig): Promise<void> {
  const logger = createLogger({ service: 'bench-ingest', level: 'warn' });
  const loadBefore = (await readFile('/proc/loadavg', 'utf8').catch(() => '?')).trim();
  progress(
    `k table: k = ${cfg.ks.join(', ')} samples/message, 1 and ${cfg.shards} shards, ${cfg.rounds} rounds`,
  );
  const db = await createTestDatabase({ prefix: 'bench_k', max: 3 });
  try {
    const rows = await runKTable({
      db,
      logger,
      ks: cfg.ks,
      shardCounts: [1, cfg.shards],
      rounds: cfg.rounds,
      sensors: cfg.sensors,
      publishers: cfg.publishers,
      maxMessages: cfg.kMaxMessages,
      maxSamples: cfg.kMaxSamples,
      ingesterEnv: {},
      progress,
    });
    const loadAfter = (await readFile('/proc/loadavg', 'utf8').catch(() => '?')).trim();
    console.log('');
    console.log(
      `small messages: medians of ${cfg.rounds} rounds, ${cfg.sensors} sensors, ${cfg.publishers} publishing connections, ` +
        `ingester ${['MAX_BATCH_MESSAGES', 'WRITE_CONCURRENCY', 'PREFETCH'].map((v) => `${v}=${process.env[v] ?? 'default'}`).join(' ')}; ` +
        `load average before ${loadBefore.split(' ').slice(0, 3).join(' ')}, after ${loadAfter.split(' ').slice(0, 3).join(' ')}`,
    );
    for (const line of formatKTable(rows)) console.log(line);
    console.log('');
  } finally {
    await db.drop().catch((err: unknown) => console.error('dropping the bench database failed:', err));
  }
}

/** The rate steps, lag, exactly-once check and the COPY / naive baselines; returns the `ingest:` line. */
async function runRatio(cfg: BenchConfig): Promise<string> {
  const spm = cfg.samplesPerMessage;
  const logger = createLogger({ service: 'bench-ingest', level: 'warn' });
  progress(`setup: fresh database and RabbitMQ vhost (${cfg.sensors} sensors, ${spm} samples/message)`);
  const db = await createTestDatabase({ prefix: 'bench_ingest', max: 3 });
  const vhost = await createTestVhost('bench-ingest');
  const port = await freePort();
  const logFile = join(tmpdir(), `bench-ingest-${process.pid}.log`);
  const logStream = createWriteStream(logFile);
  let child: ChildProcess | undefined;
  const bus = createBus({ url: vhost.url, connectionName: 'bench-load', logger });
  const rows: StepRow[] = [];

  const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const written = async (): Promise<number> => parseCounter(await metricsText(), WRITTEN);
  const depth = async (): Promise<number> => {
    const q = (await managementRequest(
      'GET',
      `/queues/${encodeURIComponent(vhost.vhost)}/${encodeURIComponent(QUEUE)}?columns=messages`,
    )) as { messages?: number };
    return q.messages ?? 0;
  };
  // Everything published so far is written (the queue's ready count alone misses what the ingester prefetched).
  const drained = async (gen: LoadGenerator): Promise<void> => {
    const target = gen.totalSamples;
    await waitUntil(
      async () => (await written()) >= target,
      'the ingester to write everything published',
      120_000,
    );
    await waitUntil(
      async () => (await queueMessageCount(vhost.url, QUEUE)) === 0,
      'the queue to drain',
      120_000,
    );
  };

  try {
    const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));
    const extraNodeArgs = (process.env.BENCH_INGESTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    child = spawn(process.execPath, [...extraNodeArgs, '--conditions=source', '--import', 'tsx', mainTs], {
      env: {
        ...process.env,
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        METRICS_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
        SERVICE_NAME: 'bench-measurements-ingester',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(logStream);
    child.stderr?.pipe(logStream);
    const exited = once(child, 'exit');
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      'the ingester to be ready',
      60_000,
    );
    await bus.start();
    const gen = new LoadGenerator({
      bus,
      sensors: cfg.sensors,
      samplesPerMessage: spm,
      serialPrefix: 'bench-',
    });
    progress(`ingester ready (pid ${child.pid}, log ${logFile}); warming up (new sensors, JIT)`);
    await gen.run(50_000, 4);
    await drained(gen);

    // 1. Probe: a backlog drained as fast as the ingester can, to place the rate steps.
    const probeMessages = Math.ceil(cfg.probeSamples / spm);
    const w0 = await written();
    const samples: Array<[number, number]> = [];
    let probing = true;
    const sampler = (async () => {
      while (probing) {
        samples.push([performance.now(), (await written()) - w0]);
        await sleep(200);
      }
    })();
    await gen.burst(probeMessages, 1_000_000);
    const total = probeMessages * spm;
    await waitUntil(async () => (await written()) - w0 >= total, 'the probe backlog', 120_000);
    probing = false;
    await sampler;
    samples.push([performance.now(), (await written()) - w0]);
    const at = (f: number) => samples.find(([, w]) => w >= f * total) as [number, number];
    const [ta, wa] = at(0.1);
    const [tb, wb] = at(0.9);
    const capacity = ((wb - wa) / (tb - ta)) * 1000;
    progress(`probe: drained a backlog of ${fmt(total)} samples at ${fmt(capacity)} samples/s`);
    rows.push({
      step: 'probe (backlog)',
      target: Number.NaN,
      published: Number.NaN,
      written: capacity,
      depthStart: Number.NaN,
      depthEnd: Number.NaN,
      verdict: 'capacity',
    });
    await drained(gen);

    // 2. Step the rate up; the highest step that holds for stepSeconds without the queue growing.
    const round = (x: number) => Math.max(5_000, Math.round(x / 5_000) * 5_000);
    // Up while steps hold (bounded by the time budget), down if the first one already fails.
    const fractions = [0.7, 0.85, 1.0, 1.15, 1.3, 1.5];
    const stepBudgetEnd = t0 + cfg.stepBudgetSeconds * 1000;
    let best: StepRow | undefined;
    let goingDown = false;
    for (let i = 0; i < fractions.length; i++) {
      if (i > 0 && best !== undefined && performance.now() + (cfg.stepSeconds + 5) * 1000 > stepBudgetEnd) {
        progress('step budget used up: stopping the ramp');
        break;
      }
      const rate = round(capacity * (fractions[i] as number));
      await gen.run(rate, 3); // settle at the new rate
      const d0 = await depth();
      const wStart = await written();
      const tStart = performance.now();
      let maxDepth = d0;
      let running = true;
      const watcher = (async () => {
        while (running) {
          await sleep(5_000);
          if (running) maxDepth = Math.max(maxDepth, await depth());
        }
      })();
      const pub = await gen.run(rate, cfg.stepSeconds);
      const tGenEnd = tStart + pub.seconds * 1000;
      running = false;
      // Everything published (this step and before) written: how long after the generator stopped?
      const target = gen.totalSamples;
      await waitUntil(async () => (await written()) >= target, 'the ingester to catch up', 300_000);
      const tEnd = performance.now();
      const wEnd = await written();
      const d1 = await depth();
      await watcher; // only after the catch-up was timed: it may still be in its 5 s sleep
      const catchUpS = (tEnd - tGenEnd) / 1000;
      const publishedRate = pub.samples / pub.seconds;
      const writtenRate = ((wEnd - wStart) / (tEnd - tStart)) * 1000;
      const slack = Math.max(50, rate / spm); // one second of messages
      const short = publishedRate < 0.95 * rate;
      const holds = !short && catchUpS <= 1.5 && d1 <= d0 + slack;
      const row: StepRow = {
        step: `step ${i + 1}`,
        target: rate,
        published: publishedRate,
        written: writtenRate,
        depthStart: d0,
        depthEnd: d1,
        verdict: holds
          ? `sustained (caught up ${catchUpS.toFixed(1)} s after)`
          : short
            ? 'generator short'
            : `queue grows (caught up ${catchUpS.toFixed(1)} s after)`,
      };
      rows.push(row);
      progress(
        `step ${i + 1}: target ${fmt(rate)}/s, published ${fmt(publishedRate)}/s, written ${fmt(writtenRate)}/s, ` +
          `queue ${d0} -> ${d1} (max ${maxDepth}) messages: ${row.verdict}`,
      );
      await drained(gen);
      if (holds) {
        if (best === undefined || row.written > best.written) best = row;
        if (goingDown) break; // the highest rate that holds, found from above
      } else if (i === 0) {
        // the first step already fails: go down instead of up
        fractions.splice(1, fractions.length, 0.6, 0.5, 0.4, 0.3);
        goingDown = true;
      } else if (!goingDown) {
        break;
      }
    }
    const sustained = best?.written ?? 0;

    // 3. Lag at 80% of the sustained rate.
    const lagRate = round(0.8 * sustained);
    await gen.run(lagRate, 3);
    const h0 = parseHistogram(await metricsText(), LAG, { kind: 'data' });
    const w0Hist = parseHistogram(await metricsText(), WRITE, { kind: 'data' });
    const lagPub = await gen.run(lagRate, cfg.lagSeconds);
    await drained(gen);
    const lagBuckets = diffBuckets(parseHistogram(await metricsText(), LAG, { kind: 'data' }), h0);
    const p50 = histogramQuantile(0.5, lagBuckets) ?? Number.NaN;
    const p99 = histogramQuantile(0.99, lagBuckets) ?? Number.NaN;
    const writeBuckets = diffBuckets(parseHistogram(await metricsText(), WRITE, { kind: 'data' }), w0Hist);
    const vacuum = await db.pool.query<{ autovacuums: string; checkpoints: string }>(
      `SELECT (SELECT autovacuum_count + autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'measurements') AS autovacuums,
              (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints`,
    );
    progress(
      `lag phase: COPY write p50 ${((histogramQuantile(0.5, writeBuckets) ?? Number.NaN) * 1000).toFixed(0)} ms, ` +
        `p99 ${((histogramQuantile(0.99, writeBuckets) ?? Number.NaN) * 1000).toFixed(0)} ms; ` +
        `table auto-vacuum/analyze runs so far ${vacuum.rows[0]?.autovacuums}, server checkpoints ${vacuum.rows[0]?.checkpoints}`,
    );
    progress(
      `lag at 80%: ${fmt(lagPub.samples / lagPub.seconds)} samples/s for ${cfg.lagSeconds} s, ` +
        `p50 ${(p50 * 1000).toFixed(0)} ms, p99 ${(p99 * 1000).toFixed(0)} ms`,
    );

    // 4. Graceful stop of the ingester; everything published is stored exactly once.
    child.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, string | null];
    child = undefined;
    const { rows: countRows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM measurements');
    const stored = Number(countRows[0]?.n ?? 0);
    const publishedTotal = gen.totalSamples;
    progress(
      `ingester stopped (exit ${code ?? signal}); rows stored ${fmt(stored)} of ${fmt(publishedTotal)} published` +
        (stored === publishedTotal ? ' (exactly once)' : ' (MISMATCH)'),
    );
    if (stored !== publishedTotal) process.exitCode = 1;

    // 5. Raw COPY of as many rows as the sustained step moved, from a file, with psql.
    const copyRows = Math.max(100_000, Math.round(sustained * cfg.stepSeconds));
    await db.pool.query('TRUNCATE measurements');
    progress(`copy baseline: writing ${fmt(copyRows)} rows to a file`);
    const file = await writeCopyFile(tmpdir(), copyRows, cfg.sensors);
    await db.pool.query('CHECKPOINT').catch(() => undefined);
    let copyRate: number;
    try {
      const secs = await psqlCopy(db.url, file);
      copyRate = copyRows / secs;
    } finally {
      await removeFile(file);
    }
    progress(`copy baseline: psql \\copy of ${fmt(copyRows)} rows at ${fmt(copyRate)} rows/s`);

    // 6. Naive ingester: one INSERT per sample.
    const naivePool = createPool({ url: db.url, logger: silentLogger, max: 1 });
    const naiveGen = new LoadGenerator({ bus, sensors: 10, samplesPerMessage: spm, serialPrefix: 'naive-' });
    const naiveMessages = Math.ceil(cfg.naiveSamples / spm);
    let naive: { samples: number; seconds: number };
    try {
      naive = await runNaiveIngester({
        bus,
        pool: naivePool,
        queue: 'bench-naive-ingester',
        bindings: Array.from({ length: 10 }, (_, k) => `sensor.naive-${k}.data`),
        samples: cfg.naiveSamples,
        maxSeconds: cfg.naiveMaxSeconds,
        publish: async () => {
          await naiveGen.burst(naiveMessages, 10 * 1000);
        },
      });
    } finally {
      await naivePool.end();
    }
    const naiveRate = naive.samples / naive.seconds;
    progress(`naive: ${fmt(naive.samples)} single-row INSERTs at ${fmt(naiveRate)} samples/s`);

    // Report.
    console.log('');
    console.log('| step | target samples/s | published/s | written/s | queue start -> end (msgs) | result |');
    console.log('|---|---:|---:|---:|---|---|');
    for (const r of rows) {
      const n = (x: number) => (Number.isNaN(x) ? '' : fmt(x));
      const q = Number.isNaN(r.depthStart) ? '' : `${r.depthStart} -> ${r.depthEnd}`;
      console.log(
        `| ${r.step} | ${n(r.target)} | ${n(r.published)} | ${n(r.written)} | ${q} | ${r.verdict} |`,
      );
    }
    console.log(
      `| lag @80% | ${fmt(lagRate)} | ${fmt(lagPub.samples / lagPub.seconds)} | | | p50 ${(p50 * 1000).toFixed(0)} ms, p99 ${(p99 * 1000).toFixed(0)} ms |`,
    );
    console.log(`| psql COPY (file) | | | ${fmt(copyRate)} | | ${fmt(copyRows)} rows |`);
    console.log(`| naive INSERT/sample | | | ${fmt(naiveRate)} | | ${fmt(naive.samples)} rows |`);
    console.log('');
    console.log(
      `e2e / copy = ${(sustained / copyRate).toFixed(2)} (target >= 0.6); e2e / naive = ${(sustained / naiveRate).toFixed(1)}x (target >= 10x); p99 lag target < 1000 ms`,
    );
    await removeFile(logFile);
    return (
      `ingest: ${Math.round(sustained)} e2e, ${Math.round(copyRate)} copy, ratio ${(sustained / copyRate).toFixed(2)}, ` +
      `naive ${Math.round(naiveRate)}, p99 lag ${Math.round(p99 * 1000)} ms`
    );
  } finally {
    if (child) {
      child.kill('SIGTERM');
      await once(child, 'exit').catch(() => undefined);
    }
    await bus.stop().catch(() => undefined);
    logStream.end();
    await db.drop().catch((err: unknown) => console.error('dropping the bench database failed:', err));
    await vhost.drop().catch((err: unknown) => console.error('dropping the bench vhost failed:', err));
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
