// The small-message regime: for k samples per message (1, 10, 100, 1000), with 1 queue and with N shards,
// the end-to-end ingest rate (the real ingester process) beside the raw broker rate (the same publisher and
// topology, consumers that only ack) measured in the same run. Medians of BENCH_ROUNDS rounds.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Consumer, createBus } from '@sensor-streaming/bus';
import { createTestVhost } from '@sensor-streaming/bus/testing';
import type { TestDatabase } from '@sensor-streaming/db/testing';
import { shardQueues } from '@sensor-streaming/ingest';
import { bindingPatterns } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import { parseCounter } from './histogram.js';
import { LoadGenerator } from './load-generator.js';

const QUEUE = 'measurements-ingester';
const WRITTEN = 'sensor_streaming_samples_written_total';

export interface KTableOptions {
  db: TestDatabase;
  logger: Logger;
  ks: number[];
  /** Shard counts to compare, e.g. [1, 4]. */
  shardCounts: number[];
  rounds: number;
  sensors: number;
  /**
   * Load generators publishing at once, each on its own connection (they share this process's event loop). With
   * one, the client capped the raw rate (1 queue and 4 shards alike, ~9k msg/s); with 3 the shards showed.
   */
  publishers: number;
  /** Messages per measurement at most (k = 1, 10), and samples at most (k = 100, 1000). */
  maxMessages: number;
  maxSamples: number;
  /** Extra environment of the ingester process (e.g. MAX_BATCH_MESSAGES). */
  ingesterEnv: Record<string, string>;
  progress(msg: string): void;
}

export interface KRow {
  k: number;
  shards: number;
  /** Medians over the rounds. */
  rawPublishMsgs: number;
  rawMsgs: number;
  e2eMsgs: number;
  e2eSamples: number;
  rounds: { raw: number[]; e2e: number[] };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
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
    await sleep(20);
  }
}

/** The shared broker's management API can take tens of seconds to create a vhost when busy, or time out. */
async function withRetries<T>(fn: () => Promise<T>, what: string, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      console.warn(`${what} failed (${err instanceof Error ? err.message : String(err)}); retrying`);
      await sleep(2000 * i);
    }
  }
}

function messagesFor(o: KTableOptions, k: number): number {
  return Math.max(100, Math.min(o.maxMessages, Math.floor(o.maxSamples / k)));
}

/** Publishes `messages` (split over the generators) as fast as the confirm windows allow; resolves when `done()`. */
async function measure(
  gens: LoadGenerator[],
  messages: number,
  done: () => Promise<boolean>,
): Promise<{ publishS: number; totalS: number }> {
  const t0 = performance.now();
  const each = Math.ceil(messages / gens.length);
  await Promise.all(gens.map((g, i) => g.burst(Math.min(each, messages - i * each), 1_000_000)));
  const publishS = (performance.now() - t0) / 1000;
  await waitUntil(done, 'every message consumed', 300_000);
  return { publishS, totalS: (performance.now() - t0) / 1000 };
}

export async function runKTable(o: KTableOptions): Promise<KRow[]> {
  const out: KRow[] = [];
  for (const shards of o.shardCounts) {
    const vhost = await withRetries(() => createTestVhost(`bench-k-s${shards}`), 'creating the bench vhost');
    const bus = createBus({ url: vhost.url, connectionName: 'bench-k', logger: o.logger });
    const pubs = Array.from({ length: o.publishers }, (_, i) =>
      createBus({ url: vhost.url, connectionName: `bench-k-pub-${i}`, logger: o.logger }),
    );
    const generators = (k: number, prefix: string): LoadGenerator[] =>
      pubs.map(
        (b, i) =>
          new LoadGenerator({
            bus: b,
            sensors: Math.max(1, Math.round(o.sensors / pubs.length)),
            samplesPerMessage: k,
            serialPrefix: `${prefix}p${i}-`,
          }),
      );
    let child: ChildProcess | undefined;
    const logFile = join(tmpdir(), `bench-k-${process.pid}-s${shards}.log`);
    const logStream = createWriteStream(logFile);
    try {
      await bus.start();
      for (const b of pubs) await b.start();
      const queues = shardQueues(QUEUE, bindingPatterns.data, shards);
      const raw = new Map<number, { publish: number[]; consume: number[] }>();
      const e2e = new Map<number, number[]>();

      // 1. Raw broker: the same topology, consumers that only ack (batches of 100, prefetch 1000).
      let consumed = 0;
      const consumers: Consumer[] = [];
      for (const q of queues) {
        consumers.push(
          await bus.consumeBatch({
            queue: q,
            prefetch: 1000,
            maxBatch: 100,
            maxWaitMs: 5,
            handler: async (ds) => {
              consumed += ds.length;
              return { rejected: [] };
            },
          }),
        );
      }
      for (const k of o.ks) {
        const gen = generators(k, `raw-k${k}-`);
        const n = messagesFor(o, k);
        const w0 = consumed;
        const warm = Math.min(n, 2000);
        await measure(gen, warm, async () => consumed - w0 >= warm); // warm-up
        const r = { publish: [] as number[], consume: [] as number[] };
        for (let i = 0; i < o.rounds; i++) {
          const before = consumed;
          const m = await measure(gen, n, async () => consumed - before >= n);
          r.publish.push(n / m.publishS);
          r.consume.push(n / m.totalS);
        }
        raw.set(k, r);
        o.progress(
          `raw   shards=${shards} k=${k}: ${n} msgs/round, consume ${r.consume.map((x) => Math.round(x)).join(' / ')} msg/s`,
        );
      }
      for (const c of consumers) await c.stop();

      // 2. End to end: the real ingester process on the same vhost and topology.
      await o.db.pool.query('TRUNCATE measurements, sensors CASCADE');
      const port = await freePort();
      const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));
      child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', mainTs], {
        env: {
          ...process.env,
          AMQP_URL: vhost.url,
          DATABASE_URL: o.db.url,
          METRICS_PORT: String(port),
          METRICS_HOST: '127.0.0.1',
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
          SERVICE_NAME: 'bench-k-measurements-ingester',
          STORAGE_MAINTENANCE_INTERVAL: '0',
          ...o.ingesterEnv,
          INGEST_SHARDS: String(shards),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.pipe(logStream);
      child.stderr?.pipe(logStream);
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
        'the ingester to be ready',
        60_000,
      );
      const written = async (): Promise<number> =>
        parseCounter(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), WRITTEN);
      for (const k of o.ks) {
        const gen = generators(k, `e2e-k${k}-`);
        const n = messagesFor(o, k);
        const base = await written();
        const warm = Math.min(n, 2000);
        await measure(gen, warm, async () => (await written()) - base >= warm * k); // warm-up
        const rates: number[] = [];
        for (let i = 0; i < o.rounds; i++) {
          const before = await written();
          const m = await measure(gen, n, async () => (await written()) - before >= n * k);
          rates.push(n / m.totalS);
        }
        e2e.set(k, rates);
        o.progress(
          `e2e   shards=${shards} k=${k}: ${n} msgs/round, ${rates.map((x) => Math.round(x)).join(' / ')} msg/s`,
        );
      }
      child.kill('SIGTERM');
      await once(child, 'exit');
      child = undefined;

      for (const k of o.ks) {
        const r = raw.get(k) as { publish: number[]; consume: number[] };
        const e = e2e.get(k) as number[];
        const e2eMsgs = median(e);
        out.push({
          k,
          shards,
          rawPublishMsgs: median(r.publish),
          rawMsgs: median(r.consume),
          e2eMsgs,
          e2eSamples: e2eMsgs * k,
          rounds: { raw: r.consume, e2e: e },
        });
      }
    } finally {
      if (child) {
        child.kill('SIGTERM');
        await once(child, 'exit').catch(() => undefined);
      }
      await bus.stop().catch(() => undefined);
      for (const b of pubs) await b.stop().catch(() => undefined);
      logStream.end();
      await vhost.drop().catch((err: unknown) => console.error('dropping the bench vhost failed:', err));
    }
  }
  return out;
}

/** The table: one line per k and shard count, rates in messages/s and samples/s, e2e beside raw. */
export function formatKTable(rows: KRow[]): string[] {
  const f = (n: number): string => Math.round(n).toLocaleString('en-US');
  const lines = [
    '| k samples/msg | shards | raw publish msg/s | raw publish+consume msg/s | e2e msg/s | e2e samples/s | e2e / raw |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.k} | ${r.shards} | ${f(r.rawPublishMsgs)} | ${f(r.rawMsgs)} | ${f(r.e2eMsgs)} | ${f(r.e2eSamples)} | ${(r.e2eMsgs / r.rawMsgs).toFixed(2)} |`,
    );
  }
  return lines;
}
