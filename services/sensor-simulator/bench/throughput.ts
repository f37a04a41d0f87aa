/**
 * Throughput benchmark of one simulator process (not a test): 10,000 sensors
 * at 10 Hz (100,000 samples/s) for ~30 s against the RabbitMQ on this
 * machine, in a throwaway vhost. Prints samples/s achieved vs target, publish
 * msgs/s, CPU time per sample and peak RSS (medians over the run), and a
 * baseline measured in the same run: the raw rate at which the same bus
 * publishes pre-encoded MeasurementBatches.
 *
 *   pnpm --filter @sensor-streaming/sensor-simulator bench -- --sensors 10000 --hz 10 --seconds 30
 *
 * Options: --sensors N, --hz F, --seconds S, --flush-ms MS, --kinds MIX (default vibration),
 * --transport bus|null (null: batches are generated and encoded but not sent, to measure the
 * simulator's own ceiling apart from the broker; commands still go through RabbitMQ),
 * --sink queue|none (default queue: a bounded queue bound to sensor.*.data, so the broker routes
 * and enqueues every batch as it would for an ingester; none: data is unroutable and dropped).
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createBus } from '@sensor-streaming/bus';
import { createTestVhost } from '@sensor-streaming/bus/testing';
import {
  type Command,
  commandAckCodec,
  commandCodec,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { connect } from 'amqplib';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config.js';
import { createSimulator } from '../src/simulator.js';
import type { SensorTransport } from '../src/transport.js';

const { values: raw } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  // bench/run.sh passes the same arguments to every bench of the package: ignore the others' options.
  strict: false,
  options: {
    sensors: { type: 'string', default: '10000' },
    hz: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '30' },
    'flush-ms': { type: 'string', default: '1000' },
    kinds: { type: 'string', default: 'vibration' },
    sink: { type: 'string', default: 'queue' },
    'baseline-seconds': { type: 'string', default: '5' },
    transport: { type: 'string', default: 'bus' },
  },
});
const args = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)])) as Record<
  'sensors' | 'hz' | 'seconds' | 'flush-ms' | 'kinds' | 'sink' | 'baseline-seconds' | 'transport',
  string
>;
const SENSORS = Number(args.sensors);
const HZ = Number(args.hz);
const SECONDS = Number(args.seconds);
const WARMUP_S = 3;
const logger = createLogger({
  service: 'sensor-simulator-bench',
  level: process.env.LOG_LEVEL ?? 'warn',
  pretty: false,
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function declareSink(url: string): Promise<void> {
  const conn = await connect(url);
  const ch = await conn.createChannel();
  await ch.assertExchange('sensor_streaming', 'topic', { durable: true });
  // Bounded so that 30 s of data cannot fill the disk: at steady state each publish also drops the oldest.
  await ch.assertQueue('bench.data', {
    durable: true,
    arguments: { 'x-max-length': 20_000, 'x-overflow': 'drop-head' },
  });
  await ch.bindQueue('bench.data', 'sensor_streaming', 'sensor.*.data');
  await conn.close();
}

/** Raw publish rate of pre-encoded batches (same size as the simulator's) through a bus. */
async function baseline(
  url: string,
  concurrency: number,
  seconds: number,
): Promise<{ msgsPerS: number; cpuUsPerMsg: number }> {
  const bus = createBus({
    url,
    connectionName: 'bench-baseline',
    logger,
    registry: new Registry(),
    confirmWindow: Math.max(1000, concurrency),
  });
  await bus.start();
  const perMsg = Math.max(1, Math.round(HZ * (Number(args['flush-ms']) / 1000)));
  const bodies: Array<[string, Buffer]> = [];
  for (let i = 0; i < 1000; i++) {
    const b: MeasurementBatch = {
      serial: `base-${i}`,
      channel: 'vibration',
      unit: 'mm/s',
      sequence: 1,
      firstSampleTimeUs: Date.now() * 1000,
      samplePeriodNs: Math.round(1e9 / HZ),
      values: Array.from({ length: perMsg }, () => Math.random() * 10),
    };
    bodies.push([routingKeys.data(b.serial), measurementBatchCodec.encode(b)]);
  }
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const [key, body] = bodies[sent++ % bodies.length]!;
        await bus.publish(key, body);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await bus.stop();
  return { msgsPerS: sent / elapsed, cpuUsPerMsg: (cpu.user + cpu.system) / sent };
}

async function main(): Promise<void> {
  const vhost = await createTestVhost('bench-sim');
  try {
    if (args.sink === 'queue') await declareSink(vhost.url);
    const config = loadConfig({
      AMQP_URL: vhost.url,
      SENSOR_COUNT: String(SENSORS),
      SENSOR_KINDS: args.kinds,
      SAMPLE_FREQUENCY_HZ: String(HZ),
      FLUSH_INTERVAL_MS: String(args['flush-ms']),
      HEARTBEAT_INTERVAL_MS: '10000',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    });
    console.log(
      `sensor-simulator throughput: ${fmt(SENSORS)} sensors (${args.kinds}) at ${HZ} Hz, flush ${args['flush-ms']} ms, ` +
        `${SECONDS} s, transport=${args.transport}, sink=${args.sink}, publish concurrency ${config.publishConcurrency}, node ${process.version}`,
    );

    const base = await baseline(vhost.url, config.publishConcurrency, Number(args['baseline-seconds']));
    console.log(
      `baseline: raw publish of pre-encoded batches through the bus: ${fmt(base.msgsPerS)} msgs/s, ${fmt(base.cpuUsPerMsg, 1)} µs CPU/msg`,
    );

    const nullTransport: SensorTransport = {
      name: 'amqp',
      start: () => Promise.resolve(),
      publish: () => Promise.resolve(),
      isConnected: () => true,
      canPublish: () => true,
      stop: () => Promise.resolve(),
    };
    const sim = createSimulator({
      config,
      logger,
      registry: new Registry(),
      ...(args.transport === 'null' ? { transport: nullTransport } : {}),
    });
    const t0 = performance.now();
    await sim.start();
    // Command round trips while streaming: `awake` to awake sensors (APPLIED, no change), a few per second.
    const probe = createBus({
      url: vhost.url,
      connectionName: 'bench-probe',
      logger,
      registry: new Registry(),
    });
    await probe.start();
    const waiting = new Map<string, number>();
    const rtts: number[] = [];
    await probe.consume({
      queue: {
        name: `bench-acks-${process.pid}`,
        type: 'classic',
        bindings: ['sensor.*.acks'],
        exclusive: true,
        autoDelete: true,
      },
      prefetch: 100,
      handler: async (d) => {
        const ack = commandAckCodec.decode(d.body, d.contentType);
        const t = waiting.get(ack.commandId);
        if (t !== undefined) {
          rtts.push(performance.now() - t);
          waiting.delete(ack.commandId);
        }
      },
    });
    let probing = true;
    const probeLoop = (async () => {
      let n = 0;
      while (probing) {
        const serial = `sim-0-${(n++ * 7919) % SENSORS}`;
        const nowUs = Date.now() * 1000;
        const cmd: Command = {
          commandId: randomUUID(),
          serial,
          type: 'awake',
          issuedAtUs: nowUs,
          expiresAtUs: nowUs + 60e6,
          issuedBy: 'bench',
        };
        waiting.set(cmd.commandId, performance.now());
        await probe.publish(routingKeys.command(serial, 'awake'), commandCodec.encode(cmd));
        await sleep(200);
      }
    })();
    const startS = (performance.now() - t0) / 1000;
    console.log(
      `started in ${fmt(startS, 2)} s (births + declaring and consuming ${fmt(SENSORS)} command queues)`,
    );

    const rows: Array<{
      samples: number;
      msgs: number;
      cpuUsPerSample: number;
      cpuCores: number;
      rssMb: number;
    }> = [];
    let prev = sim.stats();
    let prevCpu = process.cpuUsage();
    let prevT = performance.now();
    let peakRss = process.memoryUsage().rss;
    let atWarmup = prev;
    let warmupT = prevT;
    for (let s = 1; s <= SECONDS; s++) {
      if (s === WARMUP_S + 1) {
        atWarmup = sim.stats();
        warmupT = performance.now();
      }
      await sleep(1000);
      const now = performance.now();
      const st = sim.stats();
      const cpu = process.cpuUsage(prevCpu);
      const dt = (now - prevT) / 1000;
      const rss = process.memoryUsage().rss;
      peakRss = Math.max(peakRss, rss);
      const samples = (st.samplesPublished - prev.samplesPublished) / dt;
      const msgs = (st.messagesPublished - prev.messagesPublished) / dt;
      const cpuUs = cpu.user + cpu.system;
      rows.push({
        samples,
        msgs,
        cpuUsPerSample: samples > 0 ? cpuUs / dt / samples : Number.NaN,
        cpuCores: cpuUs / 1e6 / dt,
        rssMb: rss / 2 ** 20,
      });
      if (s % 5 === 0 || s === 1) {
        console.log(
          `  t=${String(s).padStart(3)} s  ${fmt(samples).padStart(9)} samples/s  ${fmt(msgs).padStart(7)} msgs/s  ` +
            `cpu ${fmt(cpuUs / 1e6 / dt, 2)} cores  rss ${fmt(rss / 2 ** 20)} MB  failures ${st.publishFailures}  skipped ticks ${st.ticksSkipped}`,
        );
      }
      prev = st;
      prevCpu = process.cpuUsage();
      prevT = now;
    }
    const steady = rows.slice(WARMUP_S);
    const target = SENSORS * HZ * (args.kinds === 'vibration' ? 1 : Number.NaN);
    probing = false;
    await probeLoop;
    await sleep(500);
    await probe.stop();
    const final = sim.stats();
    const meanSamples =
      (final.samplesPublished - atWarmup.samplesPublished) / ((performance.now() - warmupT) / 1000);
    const nowUs = Date.now() * 1000;
    let due = 0;
    for (const sensor of sim.sensors.values()) due += sensor.dueSamples(nowUs);
    const t1 = performance.now();
    await sim.stop();
    const stopS = (performance.now() - t1) / 1000;
    const maxRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
    const medSamples = median(steady.map((r) => r.samples));
    const medMsgs = median(steady.map((r) => r.msgs));
    const medCpuPerSample = median(steady.map((r) => r.cpuUsPerSample));
    const medCores = median(steady.map((r) => r.cpuCores));
    console.log(`\nresults (medians over t=${WARMUP_S + 1}..${SECONDS} s):`);
    console.log(
      `  samples/s        ${fmt(medSamples)}  (target ${Number.isNaN(target) ? 'n/a' : fmt(target)}, ratio ${fmt(medSamples / target, 3)})`,
    );
    console.log(
      `  samples/s mean   ${fmt(meanSamples)}  (confirmed samples / time over the same window; ratio ${fmt(meanSamples / target, 3)})`,
    );
    console.log(
      `  backlog at end   ${fmt(due)} samples due but not yet published (${fmt(due / (SENSORS * HZ), 2)} s of data)`,
    );
    console.log(
      `  publish msgs/s   ${fmt(medMsgs)}  (baseline raw publish ${fmt(base.msgsPerS)}; used ${fmt((100 * medMsgs) / base.msgsPerS, 1)} % of it)`,
    );
    console.log(
      `  CPU per sample   ${fmt(medCpuPerSample, 2)} µs  (CPU per message ${fmt((medCores * 1e6) / medMsgs, 1)} µs vs baseline ${fmt(base.cpuUsPerMsg, 1)} µs: ratio ${fmt((medCores * 1e6) / medMsgs / base.cpuUsPerMsg, 2)})`,
    );
    console.log(`  CPU              ${fmt(medCores, 2)} cores`);
    const sorted = [...rtts].sort((a, b) => a - b);
    const pct = (p: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
    console.log(
      `  command RTT      p50 ${fmt(pct(0.5), 1)} ms, p99 ${fmt(pct(0.99), 1)} ms, max ${fmt(sorted[sorted.length - 1] ?? Number.NaN, 1)} ms over ${rtts.length} commands (${waiting.size} unanswered), publish to ack, while streaming`,
    );
    console.log(`  peak RSS         ${fmt(maxRss / 2 ** 20)} MB`);
    console.log(
      `  machine load     ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (load average 1/5/15 min; ${cpus().length} cores shared)`,
    );
    console.log(
      `  publish failures ${final.publishFailures}, skipped flush ticks ${final.ticksSkipped}, stop ${fmt(stopS, 2)} s`,
    );
  } finally {
    // Deleting a vhost with 10,000 queues can outlast one management API request: retry.
    for (let attempt = 1; ; attempt++) {
      try {
        await vhost.drop();
        break;
      } catch (err) {
        if (attempt >= 5) {
          console.error(`could not delete vhost ${vhost.vhost}; delete it by hand:`, err);
          break;
        }
        await sleep(5000);
      }
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
