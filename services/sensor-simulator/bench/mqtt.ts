/**
 * MQTT fleet benchmark (not a test): N provisioned MQTT devices (one MQTT connection
 * each, own credential) streaming at 1 Hz from simulator processes, on a throwaway
 * RabbitMQ node (MQTT plugin, production config) so the machine's shared broker is not
 * loaded. Measures, in the same run: connection set-up rate with authentication, that
 * every device streams, command round-trip p50/p99 over MQTT against 100 AMQP sensors
 * (the baseline) through the one command path, and broker memory per MQTT connection.
 *
 *   pnpm bench:mqtt -- --devices 1000 [--rounds 5] [--sample 100]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createBus } from '@sensor-streaming/bus';
import { type CommandOutcome, createCommander } from '@sensor-streaming/control';
import { brokerDefinitions, createBrokerAdmin, rabbitPasswordHash } from '@sensor-streaming/identity';
import { startThrowawayBroker } from '@sensor-streaming/identity/testing';
import { bindingPatterns, measurementBatchCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config.js';
import { createSimulator, type Simulator } from '../src/simulator.js';

const { values: raw } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    devices: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    sample: { type: 'string', default: '100' },
    processes: { type: 'string', default: '1' },
  },
  strict: false,
});
const N = Number(raw.devices);
const ROUNDS = Number(raw.rounds);
const SAMPLE = Math.min(Number(raw.sample), N);
const PROCS = Math.max(1, Number(raw.processes));
const logger = createLogger({ service: 'bench-mqtt', level: 'warn', pretty: false });
const say = (s: string) => void process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const broker = await startThrowawayBroker();
const dir = mkdtempSync(path.join(tmpdir(), 'bench-mqtt-'));
// Never leave the throwaway node running: on a signal or past the deadline, destroy it and exit.
const abandon = (why: string) => {
  say(`bench:mqtt: ${why}; destroying the throwaway broker`);
  void broker.destroy().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
};
process.once('SIGINT', () => abandon('interrupted'));
process.once('SIGTERM', () => abandon('terminated'));
const deadline = setTimeout(() => abandon('gave up after 300 s'), 300_000);
const sims: Simulator[] = [];
const vhost = 'bench';
const mgmt = new URL(broker.managementUrl);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
mgmt.username = '';
mgmt.password = '';
const api = async (method: string, p: string, body?: unknown) => {
  const r = await fetch(`${mgmt.toString().replace(/\/$/, '')}/api${p}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const t = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${t}`);
  return t === '' ? undefined : JSON.parse(t);
};
// The management API refreshes node stats every 5 s: wait past a refresh before reading.
const memUsed = async () => {
  await new Promise((r) => setTimeout(r, 6000));
  return ((await api('GET', '/nodes')) as Array<{ mem_used: number }>)[0]!.mem_used;
};

try {
  await api(
    'POST',
    '/definitions',
    brokerDefinitions({ vhost, passwordHashes: { viewer: rabbitPasswordHash(randomUUID()) } }),
  );
  await api('PUT', `/permissions/${vhost}/guest`, { configure: '.*', write: '.*', read: '.*' });
  const amqpUrl = `${broker.amqpUrl}/${vhost}`;
  const admin = createBrokerAdmin({ managementUrl: broker.managementUrl, vhost });
  const serials = Array.from({ length: N }, (_, i) => `mq-${i}`);
  const t0 = performance.now();
  const creds = await admin.provision(serials.map((serial) => ({ serial })));
  const provisionS = (performance.now() - t0) / 1000;
  say(`provisioned ${N} devices in ${provisionS.toFixed(1)} s`);
  const file = path.join(dir, 'secrets.csv');
  writeFileSync(
    file,
    `serial,username,password\n${creds.map((c) => `${c.serial},${c.mqttUsername},${c.secret}`).join('\n')}\n`,
    {
      mode: 0o600,
    },
  );

  // Observer: which serials streamed in the last window.
  const bus = createBus({ url: amqpUrl, connectionName: 'bench-observer', logger });
  await bus.start();
  let seen = new Set<string>();
  await bus.consume({
    queue: {
      name: `seen-${randomUUID()}`,
      type: 'classic',
      bindings: [bindingPatterns.data],
      exclusive: true,
      autoDelete: true,
    },
    prefetch: 2000,
    handler: async (d) => void seen.add(measurementBatchCodec.decode(d.body, d.contentType).serial),
  });

  const memBefore = await memUsed();
  const common = {
    AMQP_URL: amqpUrl,
    MQTT_URL: broker.mqttUrl,
    SENSOR_KINDS: 'environment:1',
    SAMPLE_FREQUENCY_HZ: '1',
    FLUSH_INTERVAL_MS: '1000',
    HEARTBEAT_INTERVAL_MS: '60000',
    METRICS_PORT: '0',
  };
  const t1 = performance.now();
  const per = Math.ceil(N / PROCS);
  for (let p = 0; p < PROCS; p++) {
    const mine = serials.slice(p * per, (p + 1) * per);
    if (mine.length === 0) continue;
    const sim = createSimulator({
      config: loadConfig({
        ...common,
        TRANSPORT: 'mqtt',
        SENSOR_SERIALS: mine.join(','),
        MQTT_CREDENTIALS_FILE: file,
      }),
      logger,
      registry: new Registry(),
    });
    sims.push(sim);
  }
  await Promise.all(sims.map((s) => s.start()));
  const connectS = (performance.now() - t1) / 1000;
  say(`${N} MQTT devices connected, subscribed and born in ${connectS.toFixed(1)} s`);
  const memAfter = await memUsed();

  // The AMQP baseline: 100 AMQP sensors in the same run.
  const amqpSerials = Array.from({ length: 100 }, (_, i) => `aq-${i}`);
  const amqpSim = createSimulator({
    config: loadConfig({ ...common, SENSOR_SERIALS: amqpSerials.join(',') }),
    logger,
    registry: new Registry(),
  });
  sims.push(amqpSim);
  await amqpSim.start();

  // Every device streaming: all N seen within a 5 s window.
  seen = new Set();
  const windowStart = performance.now();
  while (performance.now() - windowStart < 15_000 && [...serials].some((s) => !seen.has(s)))
    await new Promise((r) => setTimeout(r, 500));
  const streaming = serials.filter((s) => seen.has(s)).length;
  say(`${streaming}/${N} MQTT devices streaming`);

  const commander = createCommander(bus);
  const rtt = { mqtt: [] as number[], amqp: [] as number[] };
  const step = Math.max(1, Math.floor(N / SAMPLE));
  const mqttSample = serials.filter((_, i) => i % step === 0).slice(0, SAMPLE);
  const collect = (os: CommandOutcome[], into: number[]) => {
    for (const o of os)
      if (o.rttMs !== null && (o.status === 'APPLIED' || o.status === 'REJECTED')) into.push(o.rttMs);
  };
  for (let r = 0; r < ROUNDS; r++) {
    const type = r % 2 === 0 ? 'sleep' : 'awake';
    // alternate which transport goes first, so neither always sees a quieter broker
    const order = r % 2 === 0 ? (['mqtt', 'amqp'] as const) : (['amqp', 'mqtt'] as const);
    for (const t of order) {
      const os = await commander.issue(
        t === 'mqtt' ? mqttSample : amqpSerials,
        { type },
        { issuedBy: 'bench', timeoutMs: 30_000 },
      );
      collect(os, rtt[t]);
    }
  }
  await commander.close();
  await bus.stop();
  const mqttP99 = pct(rtt.mqtt, 99);
  const amqpP99 = pct(rtt.amqp, 99);
  const kb = (memAfter - memBefore) / N / 1024;
  say(
    `commands: MQTT p50 ${pct(rtt.mqtt, 50).toFixed(1)} ms p99 ${mqttP99.toFixed(1)} ms (${rtt.mqtt.length} acks); AMQP p50 ${pct(rtt.amqp, 50).toFixed(1)} ms p99 ${amqpP99.toFixed(1)} ms (${rtt.amqp.length} acks)`,
  );
  say(
    `provision ${Math.round(N / provisionS)}/s; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  process.stdout.write(
    `mqtt: ${streaming} devices, connect ${(N / connectS).toFixed(0)}/s, command p99 ${mqttP99.toFixed(1)} ms, amqp p99 ${amqpP99.toFixed(1)} ms, ratio ${(mqttP99 / amqpP99).toFixed(2)}, ${kb.toFixed(1)} KB/connection\n`,
  );
} finally {
  for (const s of sims.reverse()) await s.stop().catch(() => undefined);
  clearTimeout(deadline);
  await broker.destroy();
  rmSync(dir, { recursive: true, force: true });
}
