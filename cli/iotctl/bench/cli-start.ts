/**
 * Benchmark (not a test): how fast `iotctl` starts and answers, against node's own start measured in the
 * same run, interleaved run by run so both see the same machine load.
 *
 *   pnpm bench:cli                       (BENCH_RUNS=20, BENCH_SLEEP_RUNS=10)
 *
 * 1. `iotctl --version` (the installed command: bin/iotctl.js, the stale check, the bundle) vs `node -e 0`:
 *    medians of BENCH_RUNS wall times; target ratio <= 2.5.
 * 2. `iotctl sleep <serial>` wall time vs node's start plus the command's own round trip (printed by iotctl):
 *    a fake sensor in this process acks every command at once, in a vhost of its own (dropped at the end);
 *    the budget is 2.5 x node's start + the round trip.
 * The last line is exactly `cli: version <x> ms, node <y> ms, ratio <r>`.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { commandQueue, createBus } from '@sensor-streaming/bus';
import { createTestVhost } from '@sensor-streaming/bus/testing';
import { commandAckCodec, commandCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';

const IOTCTL = fileURLToPath(new URL('../bin/iotctl.js', import.meta.url));
const TARGET_RATIO = 2.5;

function envInt(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new Error(`${name} must be an integer from 1 to 1000, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const RUNS = envInt('BENCH_RUNS', 20);
const SLEEP_RUNS = envInt('BENCH_SLEEP_RUNS', 10);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Wall time of one run, in ms (spawn to exit); throws when it fails. Asynchronous: the fake sensor of this
 * process must keep answering while iotctl runs.
 */
function wall(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr}${stdout}`));
      else resolve({ ms, stdout });
    });
  });
}

const f1 = (v: number) => v.toFixed(1);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const env = { ...process.env, NO_COLOR: '1' };
  // first run: builds the bundle if it is stale, and warms the file cache for both
  await wall([IOTCTL, '--version'], env);
  await wall(['-e', '0']);

  const version: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    node.push((await wall(['-e', '0'])).ms);
    version.push((await wall([IOTCTL, '--version'], env)).ms);
  }
  const v = median(version);
  const n = median(node);
  process.stdout.write(
    `version: ${RUNS} runs each, interleaved; load average ${load()}\n` +
      `  iotctl --version median ${f1(v)} ms (min ${f1(Math.min(...version))}), node -e 0 median ${f1(n)} ms (min ${f1(Math.min(...node))})\n`,
  );

  // iotctl sleep against a sensor that acks at once
  const logger = createLogger({ service: 'iotctl-bench-cli', level: 'warn', pretty: false });
  const vhost = await createTestVhost('iotctl-bench-cli');
  const sensor = createBus({ url: vhost.url, connectionName: 'iotctl-bench-cli-sensor', logger });
  try {
    await sensor.start();
    await sensor.consume({
      queue: commandQueue('bench-1', 60_000),
      handler: async (d) => {
        const c = commandCodec.decode(d.body, d.contentType);
        await sensor.publish(
          routingKeys.acks(c.serial),
          commandAckCodec.encode({
            commandId: c.commandId,
            serial: c.serial,
            status: 'APPLIED',
            reason: '',
            state: c.type === 'sleep' ? 'ASLEEP' : 'AWAKE',
            sampleFrequencyHz: 10,
            timeUs: Date.now() * 1000,
            type: c.type,
          }),
        );
      },
    });
    const sleepWall: number[] = [];
    const rtt: number[] = [];
    const nodeAgain: number[] = [];
    for (let i = 0; i < SLEEP_RUNS; i++) {
      nodeAgain.push((await wall(['-e', '0'])).ms);
      const r = await wall(
        [IOTCTL, '--amqp-url', vhost.url, i % 2 === 0 ? 'sleep' : 'awake', 'bench-1'],
        env,
      );
      const m = /APPLIED\s+([\d.]+) ms/.exec(r.stdout);
      if (m === null) throw new Error(`no APPLIED round trip in: ${r.stdout}`);
      sleepWall.push(r.ms);
      rtt.push(Number(m[1]));
    }
    const w = median(sleepWall);
    const rt = median(rtt);
    const n2 = median(nodeAgain);
    const budget = TARGET_RATIO * n2 + rt;
    process.stdout.write(
      `sleep/awake: ${SLEEP_RUNS} runs; load average ${load()}\n` +
        `  iotctl sleep bench-1 wall median ${f1(w)} ms; node -e 0 ${f1(n2)} ms, round trip ${f1(rt)} ms; ` +
        `budget ${TARGET_RATIO} x node + round trip = ${f1(budget)} ms: ${w <= budget ? 'within' : 'OVER'} ` +
        `(wall / (node + round trip) = ${(w / (n2 + rt)).toFixed(2)})\n`,
    );
  } finally {
    await sensor.stop().catch(() => undefined);
    await vhost.drop().catch(() => undefined);
  }
  const ratio = v / n;
  if (ratio > TARGET_RATIO) process.stdout.write(`version ratio above the ${TARGET_RATIO} target\n`);
  process.stdout.write(`cli: version ${f1(v)} ms, node ${f1(n)} ms, ratio ${ratio.toFixed(2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:cli failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
