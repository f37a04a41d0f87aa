#!/usr/bin/env node
// `pnpm soak --minutes N`: the whole platform under steady load on a broker and database of its own;
// every 10 s it samples each service's RSS and event-loop delay (p99) and every queue's depth, and fails
// if one of them keeps growing. The last line is the verdict.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createOwnedEnvironment } from '../environments.js';
import { sleep } from '../run-command.js';
import { ServiceProcess } from '../service-process.js';
import { judgeGrowth, type SoakSeries } from '../soak.js';

const USAGE = 'usage: pnpm soak --minutes N [--sensors N] [--hz N] [--interval-s S]';
const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function positive(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive number, got ${JSON.stringify(v)}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

let values: Record<string, unknown>;
try {
  values = parseArgs({
    options: {
      minutes: { type: 'string' },
      sensors: { type: 'string' },
      hz: { type: 'string' },
      'interval-s': { type: 'string' },
    },
    strict: true,
  }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.minutes === undefined) {
  process.stderr.write(`--minutes is required\n${USAGE}\n`);
  process.exit(2);
}
const minutes = positive('minutes', values.minutes, 10);
const sensors = positive('sensors', values.sensors, 50);
const hz = positive('hz', values.hz, 100);
const intervalMs = positive('interval-s', values['interval-s'], 10) * 1000;

const owned = await createOwnedEnvironment({ consumerTimeoutMs: 300_000, print });
const logDir = await mkdtemp(join(tmpdir(), 'soak-logs-'));
const env = owned.env;
const common = { AMQP_URL: env.amqpUrl, DATABASE_URL: env.databaseUrl };
const services = [
  ['measurements-ingester', 'services/measurements-ingester/src/main.ts', {}],
  ['logs-ingester', 'services/logs-ingester/src/main.ts', {}],
  ['sensor-registry', 'services/sensor-registry/src/main.ts', {}],
  ['alarm-service', 'services/alarm-service/src/main.ts', {}],
  [
    'sensor-simulator',
    'services/sensor-simulator/src/main.ts',
    {
      SENSOR_COUNT: String(sensors),
      SAMPLE_FREQUENCY_HZ: String(hz),
      SENSOR_SERIAL_PREFIX: 'soak',
      FAULTS: 'spike:0.001,errorburst:0.001',
    },
  ],
].map(
  ([name, entry, extra]) =>
    new ServiceProcess({
      name: name as string,
      entry: entry as string,
      env: { ...common, ...(extra as Record<string, string>), SERVICE_NAME: `soak-${name}` },
      logFile: join(logDir, `${name}.log`),
    }),
);

let exitCode = 1;
let verdict = 'soak: failed before its verdict';
const stop = (sig: string): void => {
  print(`soak: ${sig}, tearing down`);
  void Promise.all(services.map((s) => s.close())).finally(
    () => void owned.teardown().finally(() => process.exit(130)),
  );
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));
try {
  for (const s of services) await s.start();
  for (const s of services) await s.waitReady(180_000);
  print(
    `soak: ${services.length} services ready; ${sensors} sensors at ${hz} Hz for ${minutes} min, a sample every ${intervalMs / 1000} s; logs in ${logDir}`,
  );
  const series = new Map<string, SoakSeries>();
  const record = (name: string, unit: SoakSeries['unit'], v: number): void => {
    let s = series.get(name);
    if (!s) {
      s = { name, unit, values: [] };
      series.set(name, s);
    }
    s.values.push(v);
  };
  const started = Date.now();
  const end = started + minutes * 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(intervalMs, Math.max(0, end - Date.now())));
    const parts: string[] = [];
    for (const s of services) {
      const rss = (await s.metric('process_resident_memory_bytes')) / 1e6;
      const lag = (await s.metric('nodejs_eventloop_lag_p99_seconds')) * 1000;
      record(`${s.name} rss`, 'MB', rss);
      record(`${s.name} event-loop p99`, 'ms', lag);
      parts.push(`${s.name} ${rss.toFixed(0)} MB ${lag.toFixed(1)} ms`);
    }
    let queues = '';
    try {
      const depths = await owned.rabbit.queueDepths();
      for (const [q, d] of depths) {
        if (q.startsWith('sensor.') && q.endsWith('.commands')) continue; // one per sensor, idle
        record(`queue ${q}`, 'messages', d.ready + d.unacked);
      }
      queues = [...depths]
        .filter(([q]) => !(q.startsWith('sensor.') && q.endsWith('.commands')))
        .map(([q, d]) => `${q}=${d.ready + d.unacked}`)
        .join(' ');
    } catch (err) {
      queues = `(queue depths unavailable: ${(err as Error).message.slice(0, 80)})`;
    }
    print(`soak +${Math.round((Date.now() - started) / 1000)}s ${parts.join(', ')}; queues ${queues}`);
  }
  const verdicts = [...series.values()].map(judgeGrowth);
  for (const v of verdicts) print(`soak: ${v.grew ? 'GROWING' : 'bounded'} ${v.name}: ${v.reason}`);
  const exits = services.reduce((n, s) => n + s.unexpectedExits, 0);
  const growing = verdicts.filter((v) => v.grew);
  exitCode = growing.length === 0 && exits === 0 ? 0 : 1;
  verdict =
    `soak: ${minutes} min, ${services.length} services, ${series.size} series: ` +
    (exitCode === 0
      ? 'no unbounded growth, 0 unexpected exits'
      : `${growing.length} growing (${growing.map((g) => g.name).join(', ')}), ${exits} unexpected exits`);
} catch (err) {
  print(`soak: FAILED ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await Promise.all(services.map((s) => s.close()));
  await owned.teardown();
}
print(verdict);
process.exit(exitCode);
