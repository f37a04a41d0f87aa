import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Replicas of the real service (main.ts, separate processes) join and leave a sharded data path under load:
// one is added, another added, one stopped with SIGTERM, one killed with SIGKILL mid-batch. Every sample
// published is stored exactly once, and each replica took a share.
const logger = createLogger({ service: 'mi-replicas-test', level: 'silent' });
const SHARDS = 3;
const SERIALS = 30;
const SAMPLES = 20;
const WRITTEN = 'sensor_streaming_samples_written_total';

let vhost: TestVhost;
let db: TestDatabase;
let publisher: Bus;
const children = new Set<ChildProcess>();

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

interface Replica {
  name: string;
  child: ChildProcess;
  port: number;
  exited: Promise<unknown[]>;
  /** Samples this replica wrote, from its /metrics (last value read). */
  written: number;
}

async function startReplica(name: string): Promise<Replica> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        METRICS_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        SERVICE_NAME: `mi-replica-${name}`,
        INGEST_SHARDS: String(SHARDS),
        MAX_BATCH_MESSAGES: '10',
        MAX_BATCH_WAIT_MS: '20',
        STORAGE_MAINTENANCE_INTERVAL: '0',
      },
      stdio: 'ignore',
    },
  );
  children.add(child);
  const exited = once(child, 'exit');
  void exited.then(() => children.delete(child));
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true,
    `replica ${name} to be ready`,
    60_000,
  );
  return { name, child, port, exited, written: 0 };
}

/** Reads the replica's samples-written counter; resolves once it exceeds `above`. */
async function waitWritten(r: Replica, above: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n'))
        if (line.startsWith(`${WRITTEN}{`)) sum += Number(line.split(' ').pop());
      r.written = sum;
      return sum > above;
    },
    `replica ${r.name} to write more than ${above} samples`,
    timeoutMs,
  );
}

beforeAll(async () => {
  vhost = await createTestVhost('mi-replicas');
  db = await createTestDatabase({ prefix: 'mi_replicas' });
  publisher = createBus({ url: vhost.url, connectionName: 'mi-replicas-publisher', logger });
  await publisher.start();
}, 180_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await publisher?.stop();
  await db?.drop();
  await vhost?.drop();
}, 60_000);

describe('measurements-ingester replicas on a sharded data path', () => {
  it('adding replicas and removing them (SIGTERM, SIGKILL) under load loses and duplicates nothing', async () => {
    const a = await startReplica('a');
    // load: SERIALS sensors, each a stream of SAMPLES-sample batches contiguous in time, paced (~250 msg/s)
    const t0 = (Date.now() - 3_600_000) * 1000;
    const perSerial = new Array<number>(SERIALS).fill(0);
    let stop = false;
    let published = 0;
    let failed: unknown;
    const inFlight = new Set<Promise<void>>();
    const publishing = (async () => {
      for (let n = 0; !stop && failed === undefined; n++) {
        const k = n % SERIALS;
        const seq = ++perSerial[k]!;
        const serial = `rep-${k}`;
        const body = measurementBatchCodec.encode({
          serial,
          channel: 'vibration',
          unit: 'mm/s',
          sequence: seq,
          firstSampleTimeUs: t0 + seq * SAMPLES * 1000,
          samplePeriodNs: 1_000_000,
          values: Array.from({ length: SAMPLES }, (_, i) => seq + i / 100),
        });
        const p = publisher
          .publish(routingKeys.data(serial), body, { contentType: CONTENT_TYPE_PROTOBUF })
          .then(
            () => {
              published++;
            },
            (err: unknown) => {
              failed = err;
            },
          );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= 200) await Promise.race(inFlight);
        if (n % 5 === 4) await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(inFlight);
    })();

    await waitWritten(a, 0);
    const b = await startReplica('b'); // added under load
    await waitWritten(b, 0);
    const c = await startReplica('c'); // added under load
    await waitWritten(c, 0);

    b.child.kill('SIGTERM'); // removed gracefully: finishes its batches, acks, exits 143
    const [bCode, bSignal] = await b.exited;
    expect({ code: bCode, signal: bSignal }).toEqual({ code: 143, signal: null });

    await waitWritten(c, c.written); // c is still writing: it dies holding deliveries
    c.child.kill('SIGKILL');
    const [, cSignal] = await c.exited;
    expect(cSignal).toBe('SIGKILL');

    await waitWritten(a, a.written + 1000); // the load goes on with one replica
    stop = true;
    await publishing;
    expect(failed).toBeUndefined();
    const expected = published * SAMPLES;
    const count = async () =>
      Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM measurements')).rows[0]?.n);
    // which batches are not stored, per sensor: a loss tells its shape (one shard? one moment?)
    const missingBatches = async (): Promise<string> => {
      const { rows } = await db.pool.query<{ serial: string; seq: string }>(
        `SELECT s.serial, ((extract(epoch FROM m.time) * 1000000)::bigint - $1::bigint) / ${SAMPLES * 1000} AS seq
         FROM measurements m JOIN sensors s ON s.id = m.sensor_id GROUP BY 1, 2`,
        [t0],
      );
      const have = new Set(rows.map((r) => `${r.serial}/${r.seq}`));
      const out: string[] = [];
      perSerial.forEach((seqs, k) => {
        const miss: number[] = [];
        for (let q = 1; q <= seqs; q++) if (!have.has(`rep-${k}/${q}`)) miss.push(q);
        if (miss.length > 0) out.push(`rep-${k}: ${miss.join(' ')}`);
      });
      return out.join('; ') || 'none';
    };
    // the one replica left works off the backlog at whatever speed the shared machine allows: wait while the
    // count grows, fail when it stops short (a loss) for 60 s
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const n = await count();
      if (n >= expected) break;
      if (n !== last) {
        last = n;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 60_000) {
        const depths = await Promise.all(
          Array.from({ length: SHARDS }, (_, i) =>
            queueMessageCount(vhost.url, `measurements-ingester.shard-${i}`),
          ),
        );
        throw new Error(
          `stuck at ${n} of ${expected} samples for 60 s; shard depths ${depths.join(', ')}, dead letters ${await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)}; missing batches (serial: sequence numbers): ${await missingBatches()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }

    // exactly once: per sensor, every sample of every batch published, no more
    const { rows } = await db.pool.query<{ serial: string; n: string; distinct_t: string }>(
      `SELECT s.serial, count(*) AS n, count(DISTINCT m.time) AS distinct_t
       FROM measurements m JOIN sensors s ON s.id = m.sensor_id GROUP BY s.serial`,
    );
    const got = Object.fromEntries(rows.map((r) => [r.serial, Number(r.n)]));
    const want = Object.fromEntries(perSerial.map((seqs, k) => [`rep-${k}`, seqs * SAMPLES]));
    expect(got).toEqual(want);
    for (const r of rows) expect(r.distinct_t).toBe(r.n);
    expect(await count()).toBe(expected);
    for (let i = 0; i < SHARDS; i++)
      expect(await queueMessageCount(vhost.url, `measurements-ingester.shard-${i}`)).toBe(0);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
    // each replica took a share while it ran
    expect(Math.min(a.written, b.written, c.written)).toBeGreaterThan(0);

    a.child.kill('SIGTERM');
    const [aCode] = await a.exited;
    expect(aCode).toBe(143);
  }, 420_000);
});
