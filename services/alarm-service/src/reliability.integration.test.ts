import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus, urlUser } from '@sensor-streaming/bus';
import {
  createTestVhost,
  managementRequest,
  queueMessageCount,
  type TestVhost,
} from '@sensor-streaming/bus/testing';
import { type AlarmClient, createAlarmClient } from '@sensor-streaming/control';
import { listAlarmTransitions } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  type Alarm,
  alarmCodec,
  type LogEntry,
  logBatchCodec,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AlarmService, createAlarmService } from './alarm-service.js';
import { loadConfig } from './config.js';
import type { AlarmNotification } from './notify/notification.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './notify/webhook.js';
import { type ChildService, startChildService } from './testing/child-service.js';
import { logEntry } from './testing/signals.js';

/*
 * Nothing forgotten (issue 11), on the real broker and database: an error burst across a restart and
 * across a crash failover is raised once; a transition whose publish failed is streamed once after
 * recovery (outbox); a shelved alarm does not notify and comes back when its shelf expires.
 */
const RULES = `
version: rel-1
rules:
  - id: burst
    type: error-burst
    window: 1m
    allowedLateness: 3s
    raise: ">= 10"
    clear: "< 3"
    severity: MAJOR
  - id: hot
    type: threshold
    channel: temp
    window: 1s
    raise: "> 30"
    clear: "<= 30"
    severity: WARNING
`;
const SECRET = 'reliability-test-hmac-key';
const logger = createLogger({ service: 'rel-it', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let webhook: Server;
let probe: Bus;
let client: AlarmClient;
const hooks: AlarmNotification[] = [];
const published: Array<{ alarm: Alarm; messageId: string | undefined }> = [];
const services: AlarmService[] = [];
const children: ChildService[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function env(name: string, amqpUrl = vhost.url): Record<string, string> {
  return {
    AMQP_URL: amqpUrl,
    DATABASE_URL: db.url,
    RULES_FILE: join(dir, 'rules.yaml'),
    METRICS_PORT: '0',
    WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
    WEBHOOK_SECRET: SECRET,
    TICK_INTERVAL_MS: '100',
    LEADER_RETRY_MS: '200',
    CONSUME_WAIT_MS: '5',
    OUTBOX_RETRY_MS: '500',
    NOTIFY_POLL_MS: '200',
    SERVICE_NAME: name,
  };
}

async function startService(
  name: string,
  amqpUrl?: string,
): Promise<{ svc: AlarmService; registry: Registry }> {
  const registry = new Registry();
  const svc = createAlarmService({ config: loadConfig(env(name, amqpUrl)), logger, registry });
  services.push(svc);
  await svc.start();
  return { svc, registry };
}

async function stopService(svc: AlarmService): Promise<void> {
  await svc.stop();
  services.splice(services.indexOf(svc), 1);
}

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('rel-it'),
    createTestDatabase({ prefix: 'rel_it' }),
    mkdtemp(join(tmpdir(), 'rel-it-')),
  ]);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const ts = String(req.headers[TIMESTAMP_HEADER]);
      if (req.headers[SIGNATURE_HEADER] !== signWebhook(SECRET, ts, body)) {
        res.writeHead(401).end();
        return;
      }
      hooks.push(JSON.parse(body) as AlarmNotification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  probe = createBus({ url: vhost.url, connectionName: 'rel-it-probe', logger });
  await probe.start();
  client = createAlarmClient(probe, { timeoutMs: 10_000 });
  await probe.consume({
    queue: {
      name: 'rel-it-alarms',
      type: 'classic',
      bindings: ['sensor.*.alarms.*'],
      exclusive: true,
      autoDelete: true,
    },
    handler: async (d) => {
      published.push({ alarm: alarmCodec.decode(d.body, d.contentType), messageId: d.messageId });
    },
  });
}, 60_000);

// One active evaluator per database: a test that failed must not leave its leader behind.
afterEach(async () => {
  for (const s of [...services]) await stopService(s).catch(() => undefined);
});

afterAll(async () => {
  for (const c of children) await c.stop(0).catch(() => undefined);
  for (const s of [...services]) await s.stop().catch(() => undefined);
  await probe?.stop();
  await new Promise((r) => webhook?.close(r));
  await Promise.all([vhost?.drop(), db?.drop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

/** An aligned minute two minutes ago: its window closes only when we say so. */
function pastMinute(): number {
  return Math.floor((Date.now() * 1000) / 60e6) * 60e6 - 120e6;
}

async function sendLogs(serial: string, entries: LogEntry[]): Promise<void> {
  await probe.publish(routingKeys.logs(serial), logBatchCodec.encode({ serial, sequence: 1, entries }));
}

async function savedErrorCount(serial: string): Promise<number> {
  const { rows } = await db.pool.query<{ state: { windows: Array<[number, Array<[string, number]>]> } }>(
    `SELECT w.state FROM alarm_window_state w JOIN sensors s ON s.id = w.sensor_id
     WHERE s.serial = $1 AND w.rule = 'burst'`,
    [serial],
  );
  return (rows[0]?.state.windows ?? []).flatMap(([, codes]) => codes).reduce((n, [, c]) => n + c, 0);
}

const errors = (T: number, fromS: number, n: number) =>
  Array.from({ length: n }, (_, i) => logEntry(T + (fromS + i) * 1e6, 'ERROR', 'C004_OUT_OF_RANGE'));

describe('nothing forgotten', () => {
  it('an error burst split by a restart (SIGTERM) is raised once, with every error counted', async () => {
    const serial = 'BURST-RESTART';
    const T = pastMinute();
    const a = await startService('rel-a');
    await waitFor('leader', () => a.svc.isLeader);
    await sendLogs(serial, errors(T, 1, 6));
    await waitFor('6 errors saved', async () => (await savedErrorCount(serial)) === 6);
    await stopService(a.svc);

    const b = await startService('rel-b');
    await waitFor('leader', () => b.svc.isLeader);
    await sendLogs(serial, [...errors(T, 30, 6), logEntry(T + 64e6, 'INFO')]);
    const raised = await waitFor('burst raised', () => published.find((p) => p.alarm.serial === serial));
    expect(raised.alarm).toMatchObject({ rule: 'burst', transition: 'RAISED', value: 12, timeUs: T + 60e6 });
    await sleep(500);
    expect(published.filter((p) => p.alarm.serial === serial)).toHaveLength(1);
    await stopService(b.svc);
  }, 60_000);

  it('an error burst split by a crash of the leader (SIGKILL) is raised once by the standby', async () => {
    const serial = 'BURST-CRASH';
    const T = pastMinute();
    // the leader is its own process, so it can really die
    const leader = startChildService('services/alarm-service/src/main.ts', {
      ...env('rel-crash-a'),
      LOG_LEVEL: 'info',
    });
    children.push(leader);
    await waitFor(
      'the child is the active evaluator',
      () => leader.output().includes('evaluating the live stream'),
      60_000,
    );
    const standby = await startService('rel-crash-b');
    expect(standby.svc.isLeader).toBe(false);
    await sendLogs(serial, errors(T, 1, 6));
    await waitFor('6 errors saved by the leader', async () => (await savedErrorCount(serial)) === 6);
    await leader.stop(0); // SIGKILL: no stand-down, no goodbye
    await waitFor('the standby takes over', () => standby.svc.isLeader, 30_000);
    await sendLogs(serial, [...errors(T, 30, 6), logEntry(T + 64e6, 'INFO')]);
    const raised = await waitFor('burst raised', () => published.find((p) => p.alarm.serial === serial));
    expect(raised.alarm).toMatchObject({ rule: 'burst', transition: 'RAISED', value: 12 });
    await sleep(500);
    expect(published.filter((p) => p.alarm.serial === serial)).toHaveLength(1);
    expect((await listAlarmTransitions(db.pool, { serial })).map((t) => t.transition)).toEqual(['RAISED']);
    await stopService(standby.svc);
  }, 120_000);
});

function tempBatch(serial: string, startUs: number, values: number[], seq: number): MeasurementBatch {
  return {
    serial,
    channel: 'temp',
    unit: 'degC',
    sequence: seq,
    firstSampleTimeUs: startUs,
    samplePeriodNs: 1e8,
    values,
  };
}

/** One 1-second window of `level` (10 samples at 10 Hz) starting at `startUs`, closed by the next sample. */
async function sendWindow(serial: string, startUs: number, level: number, seq: number): Promise<void> {
  await probe.publish(
    routingKeys.data(serial),
    measurementBatchCodec.encode(tempBatch(serial, startUs, Array(10).fill(level), seq)),
  );
  await probe.publish(
    routingKeys.data(serial),
    measurementBatchCodec.encode(tempBatch(serial, startUs + 1e6, [level], seq + 1)),
  );
}

describe('outbox', () => {
  it('a transition whose publish fails is streamed exactly once after the broker accepts it again', async () => {
    // Its own vhost, where the only queue for this sensor's alarms is the observer's: while a policy
    // makes that queue refuse messages (max-length 0, reject-publish) the broker nacks every publish.
    const own = await createTestVhost('rel-outbox');
    const v = encodeURIComponent(own.vhost);
    const serial = 'PUB-1';
    const observer = 'outbox-observer';
    try {
      const svc = await startService('rel-pub', own.url);
      await waitFor('leader', () => svc.svc.isLeader);
      await managementRequest('PUT', `/queues/${v}/${observer}`, { durable: true });
      await managementRequest('POST', `/bindings/${v}/e/sensor_streaming/q/${observer}`, {
        routing_key: `sensor.${serial}.alarms.*`,
      });
      await managementRequest('PUT', `/policies/${v}/refuse`, {
        pattern: `^${observer}$`,
        definition: { 'max-length': 0, overflow: 'reject-publish' },
        'apply-to': 'queues',
      });
      const feeder = createBus({ url: own.url, connectionName: 'rel-outbox-feeder', logger });
      await feeder.start();
      const t0 = Math.floor(Date.now() / 1000) * 1e6 - 5e6;
      for (const [b, seq] of [
        [tempBatch(serial, t0, Array(10).fill(50), 1), 1],
        [tempBatch(serial, t0 + 1e6, [50], 2), 2],
      ] as const)
        await feeder.publish(routingKeys.data(serial), measurementBatchCodec.encode({ ...b, sequence: seq }));
      await feeder.stop();
      const stored = await waitFor(
        'RAISED stored',
        async () => (await listAlarmTransitions(db.pool, { serial }))[0],
      );
      const nacks = async () => {
        const m = (await svc.registry.getMetricsAsJSON()).find(
          (x) => x.name === 'sensor_streaming_bus_publish_nacks_total',
        );
        return (m?.values as Array<{ value: number }> | undefined)?.reduce((s, x) => s + x.value, 0) ?? 0;
      };
      // the publish after the commit and at least one outbox retry were refused
      await waitFor('publish refused twice', async () => (await nacks()) >= 2);
      const pending = await db.pool.query('SELECT published_at FROM alarm_outbox WHERE transition_id = $1', [
        stored.id,
      ]);
      expect(pending.rows).toEqual([{ published_at: null }]);
      expect(await queueMessageCount(own.url, observer)).toBe(0);

      await managementRequest('DELETE', `/policies/${v}/refuse`); // the broker accepts again
      await waitFor('marked published', async () => {
        const r = await db.pool.query('SELECT published_at FROM alarm_outbox WHERE transition_id = $1', [
          stored.id,
        ]);
        return r.rows[0]?.published_at !== null;
      });
      await sleep(1500); // three more relay rounds: nothing more may come
      expect(await queueMessageCount(own.url, observer)).toBe(1);
      const got = (await managementRequest('POST', `/queues/${v}/${observer}/get`, {
        count: 10,
        ackmode: 'ack_requeue_false',
        encoding: 'base64',
      })) as Array<{ payload: string; properties: { message_id?: string } }>;
      expect(got).toHaveLength(1);
      expect(got[0]?.properties.message_id).toBe(`alarm-transition-${stored.id}`);
      const alarm = alarmCodec.decode(Buffer.from(got[0]?.payload ?? '', 'base64'), 'application/x-protobuf');
      expect(alarm).toMatchObject({ serial, rule: 'hot', transition: 'RAISED', value: 50 });
    } finally {
      for (const s of [...services]) await stopService(s).catch(() => undefined);
      await own.drop();
    }
  }, 60_000);
});

describe('shelving', () => {
  it('a shelved alarm does not notify; it comes back (notified) when the shelf expires', async () => {
    const serial = 'SHELF-1';
    const svc = await startService('rel-shelf');
    await waitFor('leader', () => svc.svc.isLeader);
    const t0 = Math.floor(Date.now() / 1000) * 1e6 - 30e6;
    await sendWindow(serial, t0, 50, 1);
    const first = await waitFor('raised, notified', () =>
      hooks.find((h) => h.alarm.serial === serial && h.event === 'alarm.raised'),
    );
    const shelf = await client.shelve({
      alarmId: first.alarm.alarmId,
      reason: 'sensor being recalibrated',
      forMs: 10_000,
    });
    expect(shelf).toMatchObject({
      serial,
      rule: 'hot',
      reason: 'sensor being recalibrated',
      shelvedBy: urlUser(vhost.url),
    });
    expect((await client.shelves()).map((s) => s.alarmId)).toEqual([first.alarm.alarmId]);
    const listed = await client.listAlarms({ serial, active: true });
    expect(listed.map((a) => a.shelvedUntil)).toEqual([shelf.expiresAt]);

    // while shelved it clears and is raised again: stored, streamed, but not notified
    await sendWindow(serial, t0 + 2e6, 10, 3);
    await sendWindow(serial, t0 + 4e6, 60, 5);
    const again = await waitFor('raised again', () =>
      published.find(
        (p) =>
          p.alarm.serial === serial &&
          p.alarm.transition === 'RAISED' &&
          p.alarm.alarmId !== first.alarm.alarmId,
      ),
    );
    const tr = await listAlarmTransitions(db.pool, { serial });
    expect(tr.map((t) => t.transition)).toEqual(['RAISED', 'SHELVED', 'CLEARED', 'RAISED']);
    const { rows } = await db.pool.query(
      `SELECT a.transition, a.suppressed_by, (SELECT count(*)::int FROM alarm_notifications n WHERE n.transition_id = a.id) AS queued
       FROM alarms a WHERE a.id = ANY($1::bigint[]) ORDER BY a.id`,
      [tr.slice(2).map((t) => t.id)],
    );
    expect(rows).toEqual([
      { transition: 'CLEARED', suppressed_by: 'shelved', queued: 0 },
      { transition: 'RAISED', suppressed_by: 'shelved', queued: 0 },
    ]);
    expect(hooks.filter((h) => h.alarm.serial === serial).map((h) => h.event)).toEqual(['alarm.raised']);

    // the shelf expires: the alarm, still active, comes back and is notified
    const back = await waitFor(
      'back from the shelf',
      () => hooks.find((h) => h.alarm.serial === serial && h.event === 'alarm.unshelved'),
      40_000,
    );
    expect(back.alarm.alarmId).toBe(again.alarm.alarmId);
    expect(await client.shelves()).toEqual([]);
    expect((await client.listAlarms({ serial, active: true }))[0]).not.toHaveProperty('shelvedUntil');
    expect((await listAlarmTransitions(db.pool, { serial })).map((t) => t.transition).at(-1)).toBe(
      'UNSHELVED',
    );
    const stats = await client.stats();
    expect(stats).toMatchObject({ standing: expect.any(Number), shelved: 0 });
    expect(stats.topBadActors.find((b) => b.serial === serial)?.raised).toBe(2);
    await stopService(svc.svc);
  }, 90_000);
});
