// pnpm bench (in services/alarm-service) / pnpm bench:alarms (root).
//
// 1. Latency: 1,000 simulated vibration sensors at 50 Hz (50,000 samples/s, one
//    10-sample batch per sensor every 200 ms, 5,000 messages/s) into the real
//    alarm service running in its own process, with ~1% of batches carrying a
//    spike. Reports p50/p90/p99 of (alarm received on sensor.*.alarms.raised)
//    minus (spike sample time), and minus (publish time of the batch), over the
//    measurement period.
// 2. Capacity on one core: a backlog of MEASURE_MESSAGES batches is preloaded
//    into the queue, then drained by (a) the service and (b) a decode-only
//    consumer with the same batching (the baseline). Median of REPEAT runs,
//    samples/s and the ratio service/baseline.
//
// 3. CPU cost in this process, no broker: decode-only vs decode + rule engine
//    per message, median of REPEAT passes over the same messages.
//
// Env: BENCH_SENSORS (1000), BENCH_RATE (50000 samples/s), BENCH_BATCH (10
// samples/message), BENCH_SECONDS (20), BENCH_BACKLOG (40000 messages),
// BENCH_REPEAT (3), BENCH_ONLY (latency,capacity,cpu: run only these parts).
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBus, serviceQueue } from '@sensor-streaming/bus';
import { createTestVhost } from '@sensor-streaming/bus/testing';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { alarmCodec, bindingPatterns, measurementBatchCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { defaultRulesFile } from '../config.js';
import { RuleEngine } from '../engine/rule-engine.js';
import { parseRuleFile } from '../rules/rule-set.js';
import { createNoise, vibrationBatch } from '../testing/signals.js';

const env = process.env;
const SENSORS = Number(env.BENCH_SENSORS ?? 1000);
const RATE = Number(env.BENCH_RATE ?? 50_000);
const SECONDS = Number(env.BENCH_SECONDS ?? 20);
const BACKLOG = Number(env.BENCH_BACKLOG ?? 40_000);
const REPEAT = Number(env.BENCH_REPEAT ?? 3);
const BATCH = Number(env.BENCH_BATCH ?? 10);
const SPIKE_PROBABILITY = 0.01;
const ONLY = new Set((env.BENCH_ONLY ?? 'latency,capacity,cpu').split(',').map((x) => x.trim()));

const logger = createLogger({ service: 'alarm-bench', level: env.LOG_LEVEL ?? 'warn' });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number);
};
const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`;

const vhost = await createTestVhost('alarm-bench');
const db = await createTestDatabase({ prefix: 'alarm_bench' });
const dir = await mkdtemp(join(tmpdir(), 'alarm-bench-'));
const rulesFile = join(dir, 'rules.yaml');
// The shipped rules, with an anomaly model that warms up in 2 s and clears after 1 s of normal data.
const rules = (await readFile(defaultRulesFile(), 'utf8'))
  .replace('warmupSamples: 1000', 'warmupSamples: 100')
  .replace(/(id: vibration-anomaly[\s\S]*?)clearFor: 10s/, '$1clearFor: 1s');
await writeFile(rulesFile, rules);
const queueName = 'alarm-service';
const workerEnv = {
  ...env,
  AMQP_URL: vhost.url,
  DATABASE_URL: db.url,
  RULES_FILE: rulesFile,
  METRICS_PORT: '0',
  ALARM_QUEUE: queueName,
  LEADER_RETRY_MS: '100',
};

const bus = createBus({ url: vhost.url, connectionName: 'alarm-bench', logger, confirmWindow: 5000 });
await bus.start();
await bus.declareQueue(
  serviceQueue(queueName, [bindingPatterns.data, bindingPatterns.logs, bindingPatterns.state]),
);

interface Worker {
  samples: number;
  leader: boolean;
  /** Cumulative histogram of the service's own e2e lag (le seconds, count). */
  lagBuckets: Array<[number, number]>;
  stop(): Promise<void>;
}

function startWorker(mode: 'service' | 'decode'): Promise<Worker> {
  const child = fork(fileURLToPath(new URL('./bench-worker.ts', import.meta.url)), [mode], {
    env: workerEnv,
    execArgv: ['--conditions=source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const w: Worker = {
      samples: 0,
      leader: false,
      lagBuckets: [],
      stop: () =>
        new Promise<void>((r) => {
          child.once('exit', () => r());
          child.send('stop');
        }),
    };
    type Progress = {
      ready?: boolean;
      samples: number;
      leader: boolean;
      lagBuckets?: Array<[number, number]>;
    };
    child.on('message', (m: Progress) => {
      w.samples = m.samples;
      if (m.lagBuckets) w.lagBuckets = m.lagBuckets;
      if (m.leader !== undefined) w.leader = m.leader;
      if (m.ready) resolve(w);
    });
    child.once('exit', (code) => reject(new Error(`${mode} worker exited with ${code}`)));
  });
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

// ---------- 1. latency at the target rate ----------
const serials = Array.from({ length: SENSORS }, (_, i) => `bench-${i}`);
const hz = RATE / SENSORS;
const batchUs = (BATCH / hz) * 1e6;
const slots = 10;
const noise = createNoise(7);
const seq = new Map<string, number>();
const nextStart = new Map<string, number>();
const spikePublishedAt = new Map<string, number>(); // `${serial}:${timeUs}` -> publish wall time (µs)
const raised: Array<{ fromSample: number; fromPublish: number | undefined; atMs: number }> = [];

await bus.consume({
  queue: {
    name: 'alarm-bench-probe',
    type: 'classic',
    bindings: ['sensor.*.alarms.raised'],
    exclusive: true,
    autoDelete: true,
  },
  prefetch: 1000,
  handler: async (d) => {
    const now = Date.now() * 1000;
    const a = alarmCodec.decode(d.body, d.contentType);
    if (a.rule !== 'vibration-anomaly' || !measuring) return;
    const pub = spikePublishedAt.get(`${a.serial}:${a.timeUs}`);
    raised.push({
      fromSample: now - a.timeUs,
      fromPublish: pub === undefined ? undefined : now - pub,
      atMs: now / 1000,
    });
  },
});

let measuring = false;
let published = 0;
let publishLagMax = 0;
const inFlight = new Set<Promise<void>>();
let publishFailures = 0;
/** Publishes one slot of sensors without waiting for confirms (bounded: waits when 20,000 are unconfirmed). */
async function publishSlot(slot: number, spikes: boolean): Promise<void> {
  while (inFlight.size > 20_000) await Promise.race(inFlight);
  const now = Date.now() * 1000;
  for (let i = slot; i < SENSORS; i += slots) {
    const serial = serials[i] as string;
    const start = nextStart.get(serial) ?? now - batchUs;
    const s = (seq.get(serial) ?? 0) + 1;
    seq.set(serial, s);
    const spikeAt =
      spikes && noise() + 1 < 2 * SPIKE_PROBABILITY ? [Math.floor(((noise() + 1) / 2) * BATCH)] : [];
    const b = vibrationBatch(serial, s, start, BATCH, hz, noise, spikeAt);
    nextStart.set(serial, start + batchUs);
    for (const k of spikeAt) {
      spikePublishedAt.set(`${serial}:${Math.round(b.firstSampleTimeUs + k * (1e6 / hz))}`, now);
    }
    const p = bus
      .publish(routingKeys.data(serial), measurementBatchCodec.encode(b))
      .catch(() => {
        publishFailures++;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    published += BATCH;
  }
}

async function drive(seconds: number, spikes: boolean): Promise<void> {
  const tickUs = batchUs / slots;
  const t0 = Date.now() * 1000;
  for (let tick = 0; ; tick++) {
    const due = t0 + tick * tickUs;
    if (due > t0 + seconds * 1e6) return;
    const wait = due - Date.now() * 1000;
    if (wait > 0) await sleep(wait / 1000);
    else publishLagMax = Math.max(publishLagMax, -wait);
    await publishSlot(tick % slots, spikes);
  }
}

if (ONLY.has('latency')) {
  console.log(
    `alarm bench: ${SENSORS} sensors x ${hz} Hz = ${RATE} samples/s, ${BATCH}-sample batches (${(RATE / BATCH).toFixed(0)} msg/s)`,
  );
  const svc = await startWorker('service');
  await until(() => svc.leader, 10_000);
  await drive(3, false); // warm up the anomaly models
  measuring = true;
  const lagBefore = new Map(svc.lagBuckets);
  const pubBefore = published;
  const t0 = Date.now();
  await drive(SECONDS, true);
  await Promise.all(inFlight);
  const elapsed = (Date.now() - t0) / 1000;
  const pubRate = (published - pubBefore) / elapsed;
  const caughtUp = await until(() => svc.samples >= published, 10_000);
  const backlogAfter = published - svc.samples;
  await sleep(500);
  measuring = false;
  const fromSample = raised.map((r) => r.fromSample);
  const fromPublish = raised.flatMap((r) => (r.fromPublish === undefined ? [] : [r.fromPublish]));
  console.log(
    `published ${pubRate.toFixed(0)} samples/s for ${elapsed.toFixed(1)} s (max publisher lag ${ms(publishLagMax)}, ${publishFailures} failed); service ${caughtUp ? 'kept up' : `fell behind by ${backlogAfter} samples`}`,
  );
  console.log(`anomaly alarms raised: ${raised.length}`);
  if (env.BENCH_TIMELINE) {
    const bySecond = new Map<number, number[]>();
    for (const r of raised) {
      const sec = Math.floor((r.atMs - t0) / 1000);
      bySecond.set(sec, [...(bySecond.get(sec) ?? []), r.fromSample]);
    }
    const line = [...bySecond.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([sec, xs]) => `${sec}s:${(median(xs) / 1000).toFixed(0)}`);
    console.log(`median latency (ms) by second of the run: ${line.join(' ')}`);
  }
  console.log(
    `latency sample time -> alarm received: p50 ${ms(pct(fromSample, 50))}  p90 ${ms(pct(fromSample, 90))}  p99 ${ms(pct(fromSample, 99))}  max ${ms(pct(fromSample, 100))}`,
  );
  console.log(
    `latency batch publish -> alarm received: p50 ${ms(pct(fromPublish, 50))}  p90 ${ms(pct(fromPublish, 90))}  p99 ${ms(pct(fromPublish, 99))}`,
  );
  // The service's own view (sample time -> publish confirmed), from its histogram: counts from before
  // the measurement are subtracted; quantiles are bucket upper bounds.
  const lagQ = (q: number) => {
    const b = svc.lagBuckets.map(([le, c]) => [le, c - (lagBefore.get(le) ?? 0)] as [number, number]);
    const total = b.reduce((m, [, c]) => Math.max(m, c), 0); // cumulative: the +Inf bucket
    const hit = b.find(([, c]) => c >= q * total);
    return hit === undefined || total === 0 ? 'n/a' : hit[0] >= 1e9 ? '> 120 s' : `<= ${hit[0] * 1000} ms`;
  };
  console.log(
    `service-side lag (sample time -> alarm publish confirmed): p50 ${lagQ(0.5)}  p90 ${lagQ(0.9)}  p99 ${lagQ(0.99)}`,
  );
  console.log(
    `(sensor-side batching alone puts a sample up to ${ms(batchUs - 1e6 / hz)} behind its publish; load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores)`,
  );
  console.log(`target p99 < 500 ms: ${pct(fromSample, 99) < 500_000 ? 'met' : 'NOT met'}`);
  await svc.stop();
}

// ---------- 2. capacity on one core ----------
async function preload(messages: number): Promise<number> {
  const perSensor = Math.ceil(messages / SENSORS);
  const base = Date.now() * 1000 - perSensor * batchUs;
  let n = 0;
  for (let k = 0; k < perSensor; k++) {
    const out: Promise<void>[] = [];
    for (let i = 0; i < SENSORS && n < messages; i++, n++) {
      const serial = `cap-${i}`;
      const b = vibrationBatch(serial, k + 1, base + k * batchUs, BATCH, hz, noise);
      out.push(bus.publish(routingKeys.data(serial), measurementBatchCodec.encode(b)));
    }
    await Promise.all(out);
  }
  return n * BATCH;
}

async function drain(mode: 'service' | 'decode'): Promise<number> {
  const total = await preload(BACKLOG);
  const w = await startWorker(mode);
  await until(() => w.samples > 0, 30_000);
  const start = performance.now();
  const startSamples = w.samples;
  await until(() => w.samples >= total, 300_000);
  const rate = (w.samples - startSamples) / ((performance.now() - start) / 1000);
  await w.stop();
  return rate;
}

if (ONLY.has('capacity')) {
  const service: number[] = [];
  const baseline: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    baseline.push(await drain('decode'));
    service.push(await drain('service'));
    console.log(
      `run ${r + 1}: decode-only ${baseline.at(-1)?.toFixed(0)} samples/s, service ${service.at(-1)?.toFixed(0)} samples/s`,
    );
  }
  const ms_ = median(service);
  const mb = median(baseline);
  console.log(
    `capacity (one core, ${BATCH}-sample messages, median of ${REPEAT}): service ${ms_.toFixed(0)} samples/s (${(ms_ / BATCH).toFixed(0)} msg/s), decode-only baseline ${mb.toFixed(0)} samples/s, ratio ${(ms_ / mb).toFixed(2)}`,
  );
}

// ---------- 3. CPU cost without the broker ----------
if (ONLY.has('cpu')) {
  const engineRules = parseRuleFile(rules, 'yaml');
  const bodies: Buffer[] = [];
  const base = Date.now() * 1000;
  for (let k = 0; k < 40; k++) {
    for (let i = 0; i < SENSORS; i++) {
      bodies.push(
        measurementBatchCodec.encode(vibrationBatch(`cpu-${i}`, k + 1, base + k * batchUs, BATCH, hz, noise)),
      );
    }
  }
  const decodeUs: number[] = [];
  const engineUs: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    let t = performance.now();
    for (const b of bodies) measurementBatchCodec.decode(b);
    decodeUs.push(((performance.now() - t) * 1000) / bodies.length);
    const engine = new RuleEngine({ rules: engineRules });
    t = performance.now();
    for (const b of bodies) engine.onBatch(measurementBatchCodec.decode(b), Date.now() * 1000);
    engineUs.push(((performance.now() - t) * 1000) / bodies.length);
  }
  const d = median(decodeUs);
  const e = median(engineUs);
  console.log(
    `CPU, in process, no broker (median of ${REPEAT}): decode ${d.toFixed(1)} µs/msg, decode + rules ${e.toFixed(1)} µs/msg = ${((BATCH * 1e6) / e).toFixed(0)} samples/s per core (decode-only ${((BATCH * 1e6) / d).toFixed(0)}, ratio ${(d / e).toFixed(2)})`,
  );
}

await bus.stop();
await Promise.all([vhost.drop(), db.drop(), rm(dir, { recursive: true, force: true })]);
