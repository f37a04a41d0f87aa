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
 *   MQTT devices and to AMQP sensors (the baseline) living in the SAME simulator processes
 *   (MQTT_SHARE: each process runs its share of the devices over MQTT and of the AMQP
 *   sensors over AMQP), issued together in the same waves: both transports see the same
 *   process, the same broker load and the same moment, only the transport differs;
 * - broker memory per MQTT connection: the node's Erlang memory without message
 *   binaries (rabbitmq memory breakdown), before and after the fleet connected.
 * Rounds: the waves are split into rounds; p50/p99 and the ratio are the medians over rounds.
 * What the bench asks the broker once the fleet is up goes through the RabbitMQ CLI (Erlang
 * distribution) or is retried patiently: a loaded node's management API starves.
 *
 *   pnpm bench:mqtt [-- --devices 10000 --processes 4 --rounds 5 --waves 4 --sample 100 --amqp 100 --flush-ms 1000]
 *                   [--deadline-s <s>]   (the whole run's safety net against a hang; default below)
 *
 * BENCH_METRICS_BASE=<port>: simulator i serves /metrics on <port>+i (to profile a run; the
 * bench then prints each simulator's event-loop delay and CPU time at the end).
 * BENCH_CPU_PROF=<dir>: each simulator runs with --cpu-prof and writes its profile there on exit.
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
import { mqttSerials } from '../src/mqtt-credentials.js';

const { values: raw } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    devices: { type: 'string', default: '10000' },
    processes: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    waves: { type: 'string', default: '4' },
    sample: { type: 'string', default: '100' },
    amqp: { type: 'string', default: '100' },
    'flush-ms': { type: 'string', default: '1000' },
    'deadline-s': { type: 'string' },
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
/** AMQP sensors in all (the baseline), spread over the same simulator processes as the devices. */
const AMQP_SENSORS = int('amqp', raw.amqp, 1);
// Devices sample at 1 Hz; each publishes what it sampled every FLUSH_MS (1000: one message a second).
const FLUSH_MS = int('flush-ms', raw['flush-ms'], 100);
const COMMAND_TIMEOUT_MS = 30_000;
// A safety net against a hang, not a measure. Set-up (provisioning, connecting) took up to N/13 s, a wave up to
// 21 s (a 10,000-device run at 1 Hz on a slow 2-core machine: connect 75/s, rounds of 4 waves 44 - 85 s), and
// the counts at both ends retry for up to a minute: the default is about twice that, so a slow run finishes
// and is reported rather than cut off before its last count (that run was, at the 1,200 s of before).
const deadlineS =
  raw['deadline-s'] === undefined
    ? 300 + Math.ceil(N / 5) + ROUNDS * WAVES * 40
    : int('deadline-s', raw['deadline-s'], 60);

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
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 300);
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// The node gets the highest open-files limit this process may give (its hard limit; more needs
// CAP_SYS_RESOURCE), not the 1024 that `su` leaves a node started by /usr/sbin/rabbitmq-server.
const nofile = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim());
if (Number.isFinite(nofile) && nofile < N + AMQP_SENSORS + 2000)
  throw new Error(
    `open-files hard limit ${nofile} is too low for ${N} MQTT connections on the node (need >= ${N + AMQP_SENSORS + 2000}); raise it (ulimit -Hn) or use fewer --devices`,
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
const deadline = setTimeout(() => abandon(`gave up after ${deadlineS} s`), deadlineS * 1000);

const vhost = 'bench';
const mgmt = new URL(broker.managementUrl);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
mgmt.username = '';
mgmt.password = '';
/**
 * One management API request. A loaded node's API drops requests (`fetch failed`), answers 5xx or
 * not at all now and then (a 1 Hz run of 10,000 devices died on one after all had connected): each
 * attempt has 30 s, and failures are retried `attempts` times with a growing pause, since every
 * request here is a read or an idempotent write.
 */
const api = async (method: string, p: string, body?: unknown, attempts = 8) => {
  for (let attempt = 1; ; attempt++) {
    let r: Response;
    let t: string;
    try {
      r = await fetch(`${mgmt.toString().replace(/\/$/, '')}/api${p}`, {
        method,
        headers: { authorization: auth, 'content-type': 'application/json' },
        signal: AbortSignal.timeout(30_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      t = await r.text();
    } catch (err) {
      if (attempt >= attempts) throw err;
      await sleep(Math.min(5000, 1000 * attempt));
      continue;
    }
    if (r.status >= 500 && attempt < attempts) {
      await sleep(Math.min(5000, 1000 * attempt));
      continue;
    }
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${t}`);
    return t === '' ? undefined : JSON.parse(t);
  }
};
/** A RabbitMQ CLI call against the throwaway node (Erlang distribution, not HTTP), retried patiently. */
const cli = async (tool: 'rabbitmqctl' | 'rabbitmq-diagnostics', args: string[], attempts = 5) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await broker.cli(tool, args, 120_000);
    } catch (err) {
      if (attempt >= attempts) throw err;
      say(`${tool} ${args[0]} failed (attempt ${attempt}: ${errText(err)}); again in ${5 * attempt} s`);
      await sleep(5000 * attempt);
    }
  }
};
const isMqtt = (protocol: unknown) => JSON.stringify(protocol).includes('MQTT');

/**
 * MQTT connections the broker holds now, and how many distinct users (device credentials) they
 * use: asked of the node itself (`rabbitmqctl list_mqtt_connections`, live, no statistics lag); the
 * management API only if the CLI fails. Undefined if neither answers (the run goes on).
 */
const mqttConnections = async (): Promise<
  { connections: number; users: number; via: string } | undefined
> => {
  const count = (cs: Array<{ protocol: unknown; user: string }>, via: string) => {
    const mqtt = cs.filter((c) => isMqtt(c.protocol));
    return { connections: mqtt.length, users: new Set(mqtt.map((c) => c.user)).size, via };
  };
  try {
    // list_connections leaves MQTT connections out (RabbitMQ 3.10): the MQTT plugin's own command lists them
    const out = await cli(
      'rabbitmqctl',
      ['list_mqtt_connections', 'protocol', 'user', '--formatter', 'json'],
      3,
    );
    return count(
      JSON.parse(out) as Array<{ protocol: unknown; user: string }>,
      'rabbitmqctl list_mqtt_connections',
    );
  } catch (err) {
    say(`rabbitmqctl list_mqtt_connections failed (${errText(err)}); asking the management API`);
  }
  try {
    const cs = (await api('GET', '/connections?columns=protocol,user')) as Array<{
      protocol: string;
      user: string;
    }>;
    return count(cs, 'management API (statistics up to 30 s old)');
  } catch (err) {
    say(`management API /connections failed too (${errText(err)})`);
    return undefined;
  }
};

/**
 * The node's Erlang memory without message binaries: `erlang:memory()` total minus binary (the
 * binary allocator follows the messages in flight, which a 1 Hz stream makes jitter by megabytes),
 * asked with `rabbitmqctl eval`: the allocators' own counters, cheap at any load. (RabbitMQ's
 * memory breakdown, rabbit_vm:memory(), walks every process: with 10,000 devices at 1 Hz one call
 * took 5 minutes and slowed the command rounds, and the CLI gave up on it.) Median of 3.
 */
const memory = async () => {
  const xs: Array<{ bytes: number; parts: Record<string, number> }> = [];
  for (let i = 0; i < 3; i++) {
    const out = await cli('rabbitmqctl', ['eval', 'erlang:memory([total, binary, processes, ets]).']);
    const n = (k: string) => {
      const v = new RegExp(`\\{${k},(\\d+)\\}`).exec(out.replace(/\s+/g, ''))?.[1];
      if (v === undefined)
        throw new Error(`erlang:memory(): no ${k} in ${JSON.stringify(out.slice(0, 200))}`);
      return Number(v);
    };
    xs.push({
      bytes: n('total') - n('binary'),
      parts: { processes: n('processes'), ets: n('ets') },
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
  const amqpSerials = Array.from({ length: AMQP_SENSORS }, (_, i) => `aq-${i}`);
  const fleet = new Set(serials);
  const baseline = new Set(amqpSerials);
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
  /** How many MQTT devices (and AMQP sensors) published data within 15 s (stops early once all have). */
  const streamingWindow = async (): Promise<{ mqtt: number; amqp: number }> => {
    const seen = new Set<string>();
    const seenAmqp = new Set<string>();
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
        else if (baseline.has(serial)) seenAmqp.add(serial);
      },
    });
    const start = performance.now();
    while (performance.now() - start < 15_000 && (seen.size < N || seenAmqp.size < AMQP_SENSORS))
      await sleep(250);
    await observer.stop();
    const missing = serials.filter((s) => !seen.has(s));
    if (missing.length > 0)
      say(`not streaming: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`);
    return { mqtt: N - missing.length, amqp: seenAmqp.size };
  };
  /** A window that could not be observed (the observer's queue not declared in time) is tried again. */
  const streamingNow = async (): Promise<{ mqtt: number; amqp: number }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await streamingWindow();
      } catch (err) {
        if (attempt >= 3) throw err;
        say(`streaming window not observed (${errText(err)}); again`);
        await sleep(5000);
      }
    }
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
  const cpuProfDir = process.env.BENCH_CPU_PROF;
  const started = new Set<number>();
  const spawnSim = (index: number, env: NodeJS.ProcessEnv) => {
    const c = spawn(
      process.execPath,
      [
        ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
        '--conditions=source',
        '--import',
        'tsx',
        main,
      ],
      {
        env: {
          ...common,
          ...env,
          SIMULATOR_INDEX: String(index),
          ...(process.env.BENCH_METRICS_BASE
            ? { METRICS_PORT: String(Number(process.env.BENCH_METRICS_BASE) + index) }
            : {}),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
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
  // Each process: its share of the MQTT devices and of the AMQP sensors, interleaved as MQTT_SHARE
  // places them (mqttSerials, the simulator's own rule), so the baseline sensors share the process,
  // its event loop and its broker connections' load with the devices.
  const per = Math.ceil(N / PROCS);
  const amqpPer = Math.ceil(AMQP_SENSORS / PROCS);
  const t1 = performance.now();
  for (let p = 0; p < PROCS; p++) {
    const mine = serials.slice(p * per, (p + 1) * per);
    const mineAmqp = amqpSerials.slice(p * amqpPer, (p + 1) * amqpPer);
    const total = mine.length + mineAmqp.length;
    // (m + 0.5) / n: floor(n * share) is m whatever the rounding
    const share = (mine.length + 0.5) / total;
    const slots = [
      ...mqttSerials(
        Array.from({ length: total }, (_, i) => String(i)),
        share,
      ),
    ];
    const overMqtt = new Set(slots.map(Number));
    if (overMqtt.size !== mine.length)
      throw new Error(`MQTT_SHARE ${share} places ${overMqtt.size} devices, not ${mine.length}`);
    let m = 0;
    let a = 0;
    const list = Array.from({ length: total }, (_, i) => (overMqtt.has(i) ? mine[m++]! : mineAmqp[a++]!));
    spawnSim(p, {
      TRANSPORT: 'mqtt',
      ...(mineAmqp.length > 0 ? { MQTT_SHARE: String(share) } : {}),
      SENSOR_SERIALS: list.join(','),
      MQTT_CREDENTIALS_FILE: file,
      // about 32 sessions being set up at once over all processes (the broker does them in turn)
      MQTT_CONNECT_CONCURRENCY: String(Math.max(1, Math.round(32 / PROCS))),
    });
  }
  // The set-up rate starts at the first MQTT connection the broker lists (the simulators open their
  // AMQP connections first). Progress only: a management API that does not answer is skipped.
  let firstConnAt: number | undefined;
  let lastProgress = 0;
  let apiMisses = 0;
  while (started.size < PROCS) {
    await sleep(1000);
    const now = performance.now();
    if (firstConnAt === undefined) {
      try {
        const cs = (await api('GET', '/connections?columns=protocol', undefined, 1)) as Array<{
          protocol: string;
        }>;
        if (cs.some((c) => isMqtt(c.protocol))) firstConnAt = now;
      } catch {
        apiMisses++;
      }
    }
    if (now - lastProgress > 5000) {
      lastProgress = now;
      let conns = '?';
      try {
        const o = (await api('GET', '/overview', undefined, 1)) as { object_totals: { connections: number } };
        conns = String(o.object_totals.connections);
      } catch {
        apiMisses++;
      }
      say(
        `connecting: ~${conns} connections (AMQP and MQTT) after ${((now - t1) / 1000).toFixed(0)} s, ${started.size}/${PROCS} simulators up`,
      );
    }
  }
  // Set-up rate: from the first MQTT connection the broker saw to the last simulator up (every device
  // connected with its own credential, subscribed to its commands and born): child start-up excluded.
  const connectS = (performance.now() - (firstConnAt ?? t1)) / 1000;
  const connectRate = N / connectS;
  if (apiMisses > 0) say(`(${apiMisses} management API requests unanswered while connecting)`);
  const counted = await mqttConnections();
  say(
    `${N} MQTT devices connected, subscribed and born in ${connectS.toFixed(1)} s (${connectRate.toFixed(0)}/s); broker: ${counted ? `${counted.connections} MQTT connections, ${counted.users} device users (${counted.via})` : 'no count (neither rabbitmqctl nor the management API answered)'}`,
  );

  const streamingBefore = await streamingNow();
  say(
    `${streamingBefore.mqtt}/${N} MQTT devices and ${streamingBefore.amqp}/${AMQP_SENSORS} AMQP sensors streaming (load average ${load()})`,
  );
  // Not fatal: a memory figure the node would not give is reported as missing, the rest of the run goes on.
  const memAfter = await memory().catch((err: unknown) => {
    say(`broker memory not measured: ${errText(err)}`);
    return undefined;
  });
  const divisor = counted !== undefined && counted.connections > 0 ? counted.connections : N;
  const kb = memAfter === undefined ? Number.NaN : (memAfter.bytes - memBefore.bytes) / divisor / 1024;
  if (memAfter !== undefined) {
    const partsKb = Object.entries(memAfter.parts)
      .map(([k, v]) => `${k} ${((v - memBefore.parts[k]!) / divisor / 1024).toFixed(1)}`)
      .join(', ');
    say(
      `broker memory per MQTT connection: ${kb.toFixed(1)} KB (${partsKb} KB; message binaries not counted${counted ? '' : `; divided by ${N}, the connections were not counted`})`,
    );
  }

  const commander = createCommander(bus);
  const step = Math.max(1, Math.floor(N / SAMPLE));
  const mqttSample = serials.filter((_, i) => i % step === 0).slice(0, SAMPLE);
  const amqpSample = amqpSerials.slice(0, SAMPLE);
  /**
   * One wave: the MQTT and the AMQP sample's commands in ONE issue (packages/control publishes them
   * at once, interleaved; which transport leads alternates), so both meet the same broker moment.
   */
  const issueWave = async (type: 'sleep' | 'awake', mqttFirst: boolean): Promise<CommandOutcome[]> => {
    const [a, b] = mqttFirst ? [mqttSample, amqpSample] : [amqpSample, mqttSample];
    const mixed: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) mixed.push(a[i]!);
      if (i < b.length) mixed.push(b[i]!);
    }
    return commander.issue(mixed, { type }, { issuedBy: 'bench', timeoutMs: COMMAND_TIMEOUT_MS });
  };
  const results: Array<{ mqtt: number[]; amqp: number[] }> = [];
  const notApplied: Record<string, number> = {};
  const split = {
    mqtt: { there: [] as number[], back: [] as number[] },
    amqp: { there: [] as number[], back: [] as number[] },
  };
  let wave = 0;
  let lastType: 'sleep' | 'awake' = 'awake';
  for (let r = 0; r < ROUNDS; r++) {
    const rtt = { mqtt: [] as number[], amqp: [] as number[] };
    const tr = performance.now();
    for (let w = 0; w < WAVES; w++, wave++) {
      lastType = wave % 2 === 0 ? 'sleep' : 'awake';
      // A wave packages/control could not issue (the broker refused a channel, say) counts as failed, not fatal.
      const os = await issueWave(lastType, Math.floor(wave / 2) % 2 === 0).catch((err: unknown) => {
        say(`wave ${wave + 1} (${lastType}) not issued: ${errText(err)}`);
        notApplied['wave not issued'] = (notApplied['wave not issued'] ?? 0) + 1;
        return [] as CommandOutcome[];
      });
      for (const o of os) {
        const t = fleet.has(o.serial) ? 'mqtt' : 'amqp';
        if (o.rttMs !== null && o.status === 'APPLIED') {
          rtt[t].push(o.rttMs);
          const a = ackSeen.get(o.commandId);
          if (a !== undefined) {
            const back = a.arrivedMs - a.handledMs;
            split[t].back.push(back);
            split[t].there.push(o.rttMs - back);
          }
        } else {
          const k = `${t} ${o.status}`;
          notApplied[k] = (notApplied[k] ?? 0) + 1;
        }
      }
      ackSeen.clear();
    }
    results.push(rtt);
    say(
      `round ${r + 1}: MQTT p50 ${pct(rtt.mqtt, 50).toFixed(1)} p99 ${pct(rtt.mqtt, 99).toFixed(1)} ms (${rtt.mqtt.length} acks); AMQP p50 ${pct(rtt.amqp, 50).toFixed(1)} p99 ${pct(rtt.amqp, 99).toFixed(1)} ms (${rtt.amqp.length} acks); ratio ${(pct(rtt.mqtt, 99) / pct(rtt.amqp, 99)).toFixed(2)}; ${((performance.now() - tr) / 1000).toFixed(1)} s; load average ${load()}`,
    );
  }
  // An odd number of waves leaves the sample asleep: wake it (not measured) before the streaming check.
  if (lastType === 'sleep')
    await issueWave('awake', true).catch((err: unknown) => say(`final awake not issued: ${errText(err)}`));
  await commander.close();
  for (const t of ['mqtt', 'amqp'] as const)
    say(
      `${t}: command to the device p50 ${pct(split[t].there, 50).toFixed(1)} p99 ${pct(split[t].there, 99).toFixed(1)} ms; ack back p50 ${pct(split[t].back, 50).toFixed(1)} p99 ${pct(split[t].back, 99).toFixed(1)} ms`,
    );
  const streamingAfter = await streamingNow();
  const countedAfter = await mqttConnections();
  await bus.stop();
  if (process.env.BENCH_METRICS_BASE) {
    // Our side of the round trip: how long each simulator's event loop kept callbacks waiting.
    for (let p = 0; p < PROCS; p++) {
      const port = Number(process.env.BENCH_METRICS_BASE) + p;
      try {
        const text = await (
          await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
        ).text();
        const metric = (name: string) =>
          Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1]);
        say(
          `simulator ${p}: event-loop delay p50 ${(metric('nodejs_eventloop_lag_p50_seconds') * 1000).toFixed(1)} p99 ${(metric('nodejs_eventloop_lag_p99_seconds') * 1000).toFixed(1)} max ${(metric('nodejs_eventloop_lag_max_seconds') * 1000).toFixed(1)} ms; CPU ${metric('process_cpu_seconds_total').toFixed(0)} s`,
        );
      } catch (err) {
        say(`simulator ${p}: no metrics on ${port} (${errText(err)})`);
      }
    }
  }
  const streaming = Math.min(streamingBefore.mqtt, streamingAfter.mqtt);
  const m = (t: 'mqtt' | 'amqp', p: number) => median(results.map((x) => pct(x[t], p)));
  const ratio = median(results.map((x) => pct(x.mqtt, 99) / pct(x.amqp, 99)));
  const failures = Object.entries(notApplied)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  say(
    `medians of ${ROUNDS} rounds (${WAVES} waves of ${mqttSample.length} MQTT + ${amqpSample.length} AMQP commands issued together, each): MQTT p50 ${m('mqtt', 50).toFixed(1)} p99 ${m('mqtt', 99).toFixed(1)} ms; AMQP p50 ${m('amqp', 50).toFixed(1)} p99 ${m('amqp', 99).toFixed(1)} ms; commands not APPLIED: ${failures || 'none'}`,
  );
  say(
    `after the commands: ${streamingAfter.mqtt}/${N} MQTT devices and ${streamingAfter.amqp}/${AMQP_SENSORS} AMQP sensors streaming; broker: ${countedAfter ? `${countedAfter.connections} MQTT connections, ${countedAfter.users} device users` : 'no count'}; ${PROCS} simulator processes, each with ${per} MQTT devices and ~${amqpPer} AMQP sensors; one data message per sensor every ${FLUSH_MS} ms; load average ${load()}`,
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
