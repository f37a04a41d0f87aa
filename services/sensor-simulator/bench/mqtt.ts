/**
 * MQTT fleet benchmark (not a test): N provisioned MQTT devices (one MQTT connection
 * each, own credential) streaming at 1 Hz from simulator processes (the real service,
 * src/main.ts, one child process per share of the fleet), on a throwaway RabbitMQ node
 * (MQTT plugin, anonymous MQTT refused, open-files limit raised) so the machine's shared
 * broker is not loaded. Measures, in the same run:
 * - connection set-up rate with authentication (CONNECT, command subscription, birth);
 * - that every device is connected (MQTT connections counted by the broker, one per
 *   device user) and streaming (per-serial arrivals, before and after the commands);
 * - command round trip (publish to ack, through packages/control) to a sample of the
 *   MQTT devices and to AMQP sensors in their own simulator process (the baseline),
 *   in the same waves, alternating which transport goes first;
 * - broker memory per MQTT connection: the node's Erlang memory without message
 *   binaries (rabbitmq memory breakdown), before and after the fleet connected.
 * Rounds: the waves are split into rounds; p50/p99 and the ratio are the medians over rounds.
 *
 *   pnpm bench:mqtt [-- --devices 10000 --processes 4 --rounds 3 --waves 4 --sample 100 --flush-ms 1000]
 *
 * BENCH_METRICS_BASE=<port>: simulator i serves /metrics on <port>+i (to profile a run).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createBus } from '@sensor-streaming/bus';
import { type CommandOutcome, createCommander } from '@sensor-streaming/control';
import { brokerDefinitions, createBrokerAdmin, rabbitPasswordHash } from '@sensor-streaming/identity';
import { startThrowawayBroker } from '@sensor-streaming/identity/testing';
import { bindingPatterns, commandAckCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';

const { values: raw } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    devices: { type: 'string', default: '10000' },
    processes: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    waves: { type: 'string', default: '4' },
    sample: { type: 'string', default: '100' },
    amqp: { type: 'string', default: '100' },
    'flush-ms': { type: 'string', default: '1000' },
  },
  strict: true,
});
const int = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new RangeError(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
};
const N = int('devices', raw.devices, 1);
const PROCS = Math.min(N, int('processes', raw.processes, 1));
const ROUNDS = int('rounds', raw.rounds, 1);
const WAVES = int('waves', raw.waves, 1);
const SAMPLE = Math.min(int('sample', raw.sample, 1), N);
const AMQP_SENSORS = int('amqp', raw.amqp, 1);
// Devices sample at 1 Hz; each publishes what it sampled every FLUSH_MS (1000: one message a second).
const FLUSH_MS = int('flush-ms', raw['flush-ms'], 100);

const logger = createLogger({ service: 'bench-mqtt', level: 'warn', pretty: false });
const say = (s: string) => void process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const median = (xs: number[]) => pct(xs, 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// The node gets the highest open-files limit this process may give (its hard limit; more needs
// CAP_SYS_RESOURCE), not the 1024 that `su` leaves a node started by /usr/sbin/rabbitmq-server.
const nofile = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim());
if (Number.isFinite(nofile) && nofile < N + 2000)
  throw new Error(
    `open-files hard limit ${nofile} is too low for ${N} MQTT connections on the node (need >= ${N + 2000}); raise it (ulimit -Hn) or use fewer --devices`,
  );
// Statistics every 30 s, not 5: see ThrowawayBrokerOptions.statisticsIntervalMs.
const broker = await startThrowawayBroker({
  ...(Number.isFinite(nofile) ? { nofile: Math.min(nofile, 1_048_576) } : {}),
  statisticsIntervalMs: 30_000,
});
const dir = mkdtempSync(path.join(tmpdir(), 'bench-mqtt-'));
const children: ChildProcess[] = [];
let stopping = false;
const stopChildren = async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 30_000).unref();
        }),
    ),
  );
};
// Never leave the throwaway node or a simulator running: on a signal or past the deadline, clean up and exit.
let abandoned = false;
const abandon = (why: string) => {
  if (abandoned) return;
  abandoned = true;
  say(`bench:mqtt: ${why}; stopping the simulators and destroying the throwaway broker`);
  void stopChildren()
    .then(() => broker.destroy())
    .finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(1);
    });
};
process.once('SIGINT', () => abandon('interrupted'));
process.once('SIGTERM', () => abandon('terminated'));
const deadlineS = 300 + Math.ceil(N / 20);
const deadline = setTimeout(() => abandon(`gave up after ${deadlineS} s`), deadlineS * 1000);

const vhost = 'bench';
const mgmt = new URL(broker.managementUrl);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
mgmt.username = '';
mgmt.password = '';
/**
 * One management API request. A loaded node's API drops requests (`fetch failed`) or answers 5xx now and then
 * (a 1 Hz run of 10,000 devices died on one after all had connected): those are retried, up to 5 attempts,
 * since every request here is a read or an idempotent write.
 */
const api = async (method: string, p: string, body?: unknown) => {
  for (let attempt = 1; ; attempt++) {
    let r: Response;
    try {
      r = await fetch(`${mgmt.toString().replace(/\/$/, '')}/api${p}`, {
        method,
        headers: { authorization: auth, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      continue;
    }
    const t = await r.text();
    if (r.status >= 500 && attempt < 5) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      continue;
    }
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${t}`);
    return t === '' ? undefined : JSON.parse(t);
  }
};

/** MQTT connections the broker holds now, and how many distinct users (device credentials) they use. */
const mqttConnections = async () => {
  const cs = (await api('GET', '/connections?columns=protocol,user')) as Array<{
    protocol: string;
    user: string;
  }>;
  const mqtt = cs.filter((c) => c.protocol.startsWith('MQTT'));
  return { connections: mqtt.length, users: new Set(mqtt.map((c) => c.user)).size };
};

/**
 * The node's Erlang memory without message binaries (`binary` follows the messages
 * in flight, which a 1 Hz stream makes jitter by megabytes). Median of 3 samples.
 */
const memory = async () => {
  const node = ((await api('GET', '/nodes')) as Array<{ name: string }>)[0]!.name;
  const xs: Array<{ bytes: number; parts: Record<string, number> }> = [];
  for (let i = 0; i < 3; i++) {
    const m = (
      (await api('GET', `/nodes/${encodeURIComponent(node)}/memory`)) as {
        memory: Record<string, number | { erlang: number }>;
      }
    ).memory;
    const n = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : 0);
    const erlang = (m.total as { erlang: number }).erlang;
    xs.push({
      bytes: erlang - n('binary'),
      parts: {
        connections:
          n('connection_readers') +
          n('connection_writers') +
          n('connection_channels') +
          n('connection_other'),
        queues: n('queue_procs'),
        ets: n('mnesia') + n('other_ets') + n('metrics') + n('mgmt_db'),
      },
    });
    if (i < 2) await sleep(2000);
  }
  return xs.sort((a, b) => a.bytes - b.bytes)[1]!;
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
  const fleet = new Set(serials);
  const t0 = performance.now();
  const creds = await admin.provision(
    serials.map((serial) => ({ serial })),
    (done, total) => {
      if (done % 2000 === 0 || done === total) say(`provisioned ${done}/${total}`);
    },
  );
  const provisionS = (performance.now() - t0) / 1000;
  say(`provisioned ${N} devices in ${provisionS.toFixed(1)} s (${Math.round(N / provisionS)}/s)`);
  const file = path.join(dir, 'secrets.csv');
  writeFileSync(
    file,
    `serial,username,password\n${creds.map((c) => `${c.serial},${c.mqttUsername},${c.secret}`).join('\n')}\n`,
    { mode: 0o600 },
  );

  // Observer: which serials streamed in a window (from the routing key: no decoding). Its queue
  // exists only during the window, so the bench process does not take 10,000 messages a second
  // while it measures command round trips.
  const bus = createBus({ url: amqpUrl, connectionName: 'bench-observer', logger });
  await bus.start();
  /** How many of `serials` published data within 15 s (stops early once all have). */
  const streamingNow = async (): Promise<number> => {
    const seen = new Set<string>();
    const observer = await bus.consume({
      queue: {
        name: `seen-${randomUUID()}`,
        type: 'classic',
        bindings: [bindingPatterns.data],
        exclusive: true,
        autoDelete: true,
      },
      prefetch: 2000,
      handler: async (d) => {
        const serial = d.routingKey.split('.')[1]!;
        if (fleet.has(serial)) seen.add(serial);
      },
    });
    const start = performance.now();
    while (performance.now() - start < 15_000 && seen.size < N) await sleep(250);
    await observer.stop();
    const missing = serials.filter((s) => !seen.has(s));
    if (missing.length > 0)
      say(`not streaming: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`);
    return N - missing.length;
  };
  // Where a round trip goes: each CommandAck carries the device's clock when it handled the
  // command (same machine, same clock); its arrival here splits the round trip into the
  // command's way to the device and the ack's way back.
  const ackSeen = new Map<string, { arrivedMs: number; handledMs: number }>();
  await bus.consume({
    queue: {
      name: `acks-${randomUUID()}`,
      type: 'classic',
      bindings: [bindingPatterns.acks],
      exclusive: true,
      autoDelete: true,
    },
    prefetch: 1000,
    handler: async (d) => {
      const ack = commandAckCodec.decode(d.body, d.contentType);
      ackSeen.set(ack.commandId, { arrivedMs: Date.now(), handledMs: ack.timeUs / 1000 });
    },
  });

  const memBefore = await memory();
  const common: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AMQP_URL: amqpUrl,
    MQTT_URL: broker.mqttUrl,
    // One channel: one data message a second from each device.
    SENSOR_KINDS: 'vibration:1',
    SAMPLE_FREQUENCY_HZ: '1',
    FLUSH_INTERVAL_MS: String(FLUSH_MS),
    HEARTBEAT_INTERVAL_MS: '60000',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  };
  const started = new Set<number>();
  const spawnSim = (index: number, env: NodeJS.ProcessEnv) => {
    const c = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main], {
      env: {
        ...common,
        ...env,
        SIMULATOR_INDEX: String(index),
        ...(process.env.BENCH_METRICS_BASE
          ? { METRICS_PORT: String(Number(process.env.BENCH_METRICS_BASE) + index) }
          : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(c);
    // Keep what matters from the JSON log: that it started, and warnings (level >= 40).
    createInterface({ input: c.stdout! }).on('line', (line) => {
      if (line.includes('"simulator started"')) started.add(index);
      try {
        const e = JSON.parse(line) as { level?: number; msg?: string };
        if ((e.level ?? 0) >= 40) say(`simulator ${index}: ${line.slice(0, 400)}`);
      } catch {
        say(`simulator ${index}: ${line.slice(0, 400)}`);
      }
    });
    c.once('exit', (code, signal) => {
      if (!stopping) abandon(`simulator ${index} exited (${code ?? signal})`);
    });
  };
  const t1 = performance.now();
  const per = Math.ceil(N / PROCS);
  for (let p = 0; p < PROCS; p++) {
    const mine = serials.slice(p * per, (p + 1) * per);
    spawnSim(p, {
      TRANSPORT: 'mqtt',
      SENSOR_SERIALS: mine.join(','),
      MQTT_CREDENTIALS_FILE: file,
      // about 32 sessions being set up at once over all processes (the broker does them in turn)
      MQTT_CONNECT_CONCURRENCY: String(Math.max(1, Math.round(32 / PROCS))),
    });
  }
  let firstConnAt: number | undefined;
  let lastProgress = 0;
  while (started.size < PROCS) {
    await sleep(1000);
    const o = (await api('GET', '/overview')) as { object_totals: { connections: number } };
    const conns = Math.max(0, o.object_totals.connections - 1); // minus the observer
    if (conns > 0 && firstConnAt === undefined) firstConnAt = performance.now();
    if (performance.now() - lastProgress > 5000) {
      lastProgress = performance.now();
      const s = (performance.now() - t1) / 1000;
      say(
        `connecting: ~${conns}/${N} connections after ${s.toFixed(0)} s, ${started.size}/${PROCS} simulators up`,
      );
    }
  }
  // Set-up rate: from the first connection the broker saw to the last simulator up (every device
  // connected with its own credential, subscribed to its commands and born): child start-up excluded.
  const connectS = (performance.now() - (firstConnAt ?? t1)) / 1000;
  const connectRate = N / connectS;
  // The management API lists connections from its statistics (refreshed every 5 s): wait for them.
  let counted = await mqttConnections();
  for (let i = 0; i < 45 && counted.connections < N; i++) {
    await sleep(1000);
    counted = await mqttConnections();
  }
  say(
    `${N} MQTT devices connected, subscribed and born in ${connectS.toFixed(1)} s (${connectRate.toFixed(0)}/s); broker: ${counted.connections} MQTT connections, ${counted.users} device users`,
  );

  // The AMQP baseline: sensors in a simulator process of their own, streaming as the devices do.
  const amqpSerials = Array.from({ length: AMQP_SENSORS }, (_, i) => `aq-${i}`);
  spawnSim(PROCS, { TRANSPORT: 'amqp', SENSOR_SERIALS: amqpSerials.join(',') });
  while (started.size < PROCS + 1) await sleep(250);

  const streamingBefore = await streamingNow();
  say(`${streamingBefore}/${N} MQTT devices streaming (load average ${load()})`);
  const memAfter = await memory();
  const kb = (memAfter.bytes - memBefore.bytes) / counted.connections / 1024;
  const partsKb = Object.entries(memAfter.parts)
    .map(([k, v]) => `${k} ${((v - memBefore.parts[k]!) / counted.connections / 1024).toFixed(1)}`)
    .join(', ');
  say(`broker memory per MQTT connection: ${kb.toFixed(1)} KB (${partsKb} KB; message binaries not counted)`);

  const commander = createCommander(bus);
  const step = Math.max(1, Math.floor(N / SAMPLE));
  const mqttSample = serials.filter((_, i) => i % step === 0).slice(0, SAMPLE);
  const amqpSample = amqpSerials.slice(0, SAMPLE);
  const results: Array<{ mqtt: number[]; amqp: number[] }> = [];
  let failures = 0;
  const split = {
    mqtt: { there: [] as number[], back: [] as number[] },
    amqp: { there: [] as number[], back: [] as number[] },
  };
  let wave = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const rtt = { mqtt: [] as number[], amqp: [] as number[] };
    for (let w = 0; w < WAVES; w++, wave++) {
      const type = wave % 2 === 0 ? 'sleep' : 'awake';
      // alternate which transport goes first, so neither always sees a quieter broker
      const order = wave % 2 === 0 ? (['mqtt', 'amqp'] as const) : (['amqp', 'mqtt'] as const);
      for (const t of order) {
        const os: CommandOutcome[] = await commander.issue(
          t === 'mqtt' ? mqttSample : amqpSample,
          { type },
          { issuedBy: 'bench', timeoutMs: 30_000 },
        );
        for (const o of os) {
          if (o.rttMs !== null && o.status === 'APPLIED') {
            rtt[t].push(o.rttMs);
            const a = ackSeen.get(o.commandId);
            if (a !== undefined) {
              const back = a.arrivedMs - a.handledMs;
              split[t].back.push(back);
              split[t].there.push(o.rttMs - back);
            }
          } else failures++;
        }
        ackSeen.clear();
      }
    }
    results.push(rtt);
    say(
      `round ${r + 1}: MQTT p50 ${pct(rtt.mqtt, 50).toFixed(1)} p99 ${pct(rtt.mqtt, 99).toFixed(1)} ms (${rtt.mqtt.length} acks); AMQP p50 ${pct(rtt.amqp, 50).toFixed(1)} p99 ${pct(rtt.amqp, 99).toFixed(1)} ms (${rtt.amqp.length} acks); ratio ${(pct(rtt.mqtt, 99) / pct(rtt.amqp, 99)).toFixed(2)}; load average ${load()}`,
    );
  }
  await commander.close();
  for (const t of ['mqtt', 'amqp'] as const)
    say(
      `${t}: command to the device p50 ${pct(split[t].there, 50).toFixed(1)} p99 ${pct(split[t].there, 99).toFixed(1)} ms; ack back p50 ${pct(split[t].back, 50).toFixed(1)} p99 ${pct(split[t].back, 99).toFixed(1)} ms`,
    );
  const streamingAfter = await streamingNow();
  await bus.stop();
  const streaming = Math.min(streamingBefore, streamingAfter);
  const m = (t: 'mqtt' | 'amqp', p: number) => median(results.map((x) => pct(x[t], p)));
  const ratio = median(results.map((x) => pct(x.mqtt, 99) / pct(x.amqp, 99)));
  say(
    `medians of ${ROUNDS} rounds (${WAVES} waves of ${SAMPLE} MQTT + ${amqpSample.length} AMQP commands each): MQTT p50 ${m('mqtt', 50).toFixed(1)} p99 ${m('mqtt', 99).toFixed(1)} ms; AMQP p50 ${m('amqp', 50).toFixed(1)} p99 ${m('amqp', 99).toFixed(1)} ms; ${failures} commands not APPLIED`,
  );
  say(
    `${streamingAfter}/${N} streaming after the commands; ${PROCS} MQTT simulator processes; one data message per device every ${FLUSH_MS} ms; load average ${load()}`,
  );
  process.stdout.write(
    `mqtt: ${streaming} devices, connect ${connectRate.toFixed(0)}/s, command p99 ${m('mqtt', 99).toFixed(1)} ms, amqp p99 ${m('amqp', 99).toFixed(1)} ms, ratio ${ratio.toFixed(2)}, ${kb.toFixed(1)} KB/connection\n`,
  );
  stopping = true;
} finally {
  stopping = true;
  await stopChildren();
  clearTimeout(deadline);
  await broker.destroy();
  rmSync(dir, { recursive: true, force: true });
}
