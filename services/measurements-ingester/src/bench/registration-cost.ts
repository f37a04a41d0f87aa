// What closed registration costs the ingester: the same backlog drained by the real ingester (in this
// process) with REGISTRATION=open and with REGISTRATION=closed (every serial provisioned, so the check
// runs on every batch and admits everything), alternating, ROUNDS rounds each; plus the check alone
// (cache hits) per batch. Prints medians and the closed/open ratio measured in the same run.
//
//   node --conditions=source --import tsx services/measurements-ingester/src/bench/registration-cost.ts
//   env: BENCH_SENSORS (200), BENCH_SAMPLES_PER_MESSAGE (1000), BENCH_MESSAGES (3000), BENCH_ROUNDS (3)
import { readFileSync } from 'node:fs';
import { createBus } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount } from '@sensor-streaming/bus/testing';
import { createRegistrationGate, registerSensors } from '@sensor-streaming/db';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { loadConfig } from '../config.js';
import { createMeasurementsIngester } from '../measurements-ingester.js';
import { LoadGenerator } from './load-generator.js';

const env = process.env;
const SENSORS = Number(env.BENCH_SENSORS ?? 200);
const SPM = Number(env.BENCH_SAMPLES_PER_MESSAGE ?? 1000);
const MESSAGES = Number(env.BENCH_MESSAGES ?? 3000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const logger = createLogger({ service: 'bench-registration', level: 'warn' });
const say = (s: string) => void process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const db = await createTestDatabase({ prefix: 'bench_registration', max: 3 });
const vhost = await createTestVhost('bench-registration');
const bus = createBus({ url: vhost.url, connectionName: 'bench-registration-load', logger });
try {
  await bus.start();
  const serials = Array.from({ length: SENSORS }, (_, i) => `bench-${i}`);
  await registerSensors(
    db.pool,
    serials.map((serial) => ({ serial, kind: 'vibration', labels: {} })),
    'bench',
  );
  const gen = new LoadGenerator({ bus, sensors: SENSORS, samplesPerMessage: SPM, serialPrefix: 'bench-' });
  const rates: Record<'open' | 'closed', number[]> = { open: [], closed: [] };

  const ingesterFor = (mode: 'open' | 'closed', registry: Registry) =>
    createMeasurementsIngester({
      config: loadConfig({
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        REGISTRATION: mode,
        LOG_LEVEL: 'warn',
      }),
      logger,
      registry,
    });
  {
    // declares the queue, so the first backlog is routed
    const first = ingesterFor('open', new Registry());
    await first.start();
    await first.stop();
  }

  let lastLookups = 0;
  async function drain(mode: 'open' | 'closed'): Promise<number> {
    await gen.burst(MESSAGES, 1_000_000); // the backlog, before the ingester starts
    const registry = new Registry();
    const ingester = ingesterFor(mode, registry);
    await ingester.start(); // connected and consuming: the drain is timed from here
    const started = performance.now();
    for (;;) {
      const m = await registry.getSingleMetric('sensor_streaming_samples_written_total')?.get();
      const written = (m?.values ?? []).reduce((s, v) => s + v.value, 0);
      if (written >= MESSAGES * SPM) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    const lookups = await registry.getSingleMetric('sensor_streaming_registration_lookups_total')?.get();
    lastLookups = (lookups?.values ?? []).reduce((s, v) => s + v.value, 0);
    await ingester.stop();
    if ((await queueMessageCount(vhost.url, 'measurements-ingester')) !== 0) throw new Error('backlog left');
    return (MESSAGES * SPM) / seconds;
  }

  await drain('open'); // warm-up: JIT, the measurements' first chunks
  for (let r = 1; r <= ROUNDS; r++) {
    for (const mode of r % 2 === 1 ? (['open', 'closed'] as const) : (['closed', 'open'] as const)) {
      const rate = await drain(mode);
      rates[mode].push(rate);
      say(
        `round ${r} ${mode.padEnd(6)} ${Math.round(rate).toLocaleString('en')} samples/s, ${lastLookups} serials looked up (load ${load()})`,
      );
    }
  }

  // The check alone: one batch of 20 messages' serials against a warm cache.
  const gate = createRegistrationGate({
    config: { mode: 'closed', positiveTtlMs: 60_000, negativeTtlMs: 2_000, maxEntries: 200_000 },
    db: db.pool,
  });
  const batch = serials.slice(0, 20);
  await gate.refused(batch);
  const N = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await gate.refused(batch);
  const perBatchUs = ((performance.now() - t0) * 1000) / N;

  const o = median(rates.open);
  const c = median(rates.closed);
  say(
    `registration: open ${Math.round(o).toLocaleString('en')} samples/s, closed ${Math.round(c).toLocaleString('en')} samples/s (medians of ${ROUNDS}), ratio ${(c / o).toFixed(3)}; check ${perBatchUs.toFixed(2)} µs per 20-message batch (cache hits); load ${load()}`,
  );
} finally {
  await bus.stop();
  await db.drop();
  await vhost.drop();
}
