import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost } from '@sensor-streaming/bus/testing';
import { createAlarmClient } from '@sensor-streaming/control';
import {
  listAlarmTransitions,
  type SensorLogEntry,
  upsertSensorsBySerial,
  writeMeasurements,
  writeSensorLogs,
} from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  type LogEntry,
  logBatchCodec,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlarmService, createAlarmService } from './alarm-service.js';
import { loadConfig } from './config.js';
import { createNoise, logEntry } from './testing/signals.js';

/*
 * Backtesting (`iotctl rules test`): the same data through the live service and through the backtest
 * (over what is stored) gives the same transitions.
 */
const RULES = `
version: bt-1
rules:
  - id: warm
    type: threshold
    channel: temp
    window: 10s
    raise: "> 30"
    clear: "<= 28"
  - id: fast
    type: rate-of-change
    channel: pressure
    window: 2s
    raise: "> 20"
    clear: "<= 5"
    clearFor: 3s
  - id: errors
    type: error-burst
    raise: ">= 5"
  - id: quiet
    type: silence
    minSilence: 5s
`;
const QUEUE = 'alarm-bt';
const logger = createLogger({ service: 'bt-it', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let probe: Bus;
let service: AlarmService;

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('bt-it'),
    createTestDatabase({ prefix: 'bt_it' }),
    mkdtemp(join(tmpdir(), 'bt-it-')),
  ]);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  probe = createBus({ url: vhost.url, connectionName: 'bt-it-probe', logger });
  await probe.start();
  service = createAlarmService({
    config: loadConfig({
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      RULES_FILE: join(dir, 'rules.yaml'),
      METRICS_PORT: '0',
      TICK_INTERVAL_MS: '100',
      LEADER_RETRY_MS: '200',
      ALARM_QUEUE: QUEUE,
      SERVICE_NAME: 'bt-it',
    }),
    logger,
    registry: new Registry(),
  });
  await service.start();
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await probe?.stop();
  await Promise.all([vhost?.drop(), db?.drop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

/** 4 minutes of two sensors: temperature excursions, a pressure ramp, an error burst. */
function dataset(T: number) {
  const noise = createNoise(9);
  const batches: MeasurementBatch[] = [];
  const logs: Array<{ serial: string; entries: LogEntry[] }> = [];
  for (let s = 0; s < 240; s++) {
    const t0 = T + s * 1e6;
    const temp = (i: number) => {
      const x = s + i / 10;
      const level = (x >= 60 && x < 100) || (x >= 150 && x < 170) ? 40 : 20;
      return level + noise();
    };
    const pressure = (i: number) => {
      const x = s + i / 10;
      return 400 + (x >= 120 ? 30 * Math.min(x - 120, 10) : 0) + noise();
    };
    for (const [serial, channel, f] of [
      ['BT-1', 'temp', temp],
      ['BT-2', 'temp', () => 20 + noise()],
      ['BT-2', 'pressure', pressure],
    ] as const) {
      batches.push({
        serial,
        channel,
        unit: 'x',
        sequence: s,
        firstSampleTimeUs: t0,
        samplePeriodNs: 1e8,
        values: Array.from({ length: 10 }, (_, i) => f(i)),
      });
    }
    if (s % 10 === 0) {
      const entries = [logEntry(t0 + 500_000, 'INFO')];
      if (s >= 60 && s < 120) entries.push(logEntry(t0 + 700_000, 'ERROR', 'C007_SIGNAL_LOST')); // 6 in minute 1
      logs.push({ serial: 'BT-1', entries });
    }
  }
  return { batches, logs };
}

describe('iotctl rules test (backtest)', () => {
  it('gives the same transitions over the stored data as the live service gave on the stream', async () => {
    const T = Math.floor((Date.now() * 1000) / 60e6) * 60e6 - 6 * 60e6;
    const { batches, logs } = dataset(T);
    // live: the stream, in order per sensor (a batch per second, logs every 10 s)
    let li = 0;
    for (const b of batches) {
      await probe.publish(routingKeys.data(b.serial), measurementBatchCodec.encode(b));
      while (li < logs.length && (logs[li]?.entries[0]?.timeUs ?? 0) < b.firstSampleTimeUs + 1e6) {
        const l = logs[li++] as { serial: string; entries: LogEntry[] };
        await probe.publish(
          routingKeys.logs(l.serial),
          logBatchCodec.encode({ serial: l.serial, sequence: li, entries: l.entries }),
        );
      }
    }
    // stored: what the ingesters write (their repository functions)
    const ids = await upsertSensorsBySerial(db.pool, ['BT-1', 'BT-2']);
    await writeMeasurements(
      db.pool,
      batches.map((b) => ({
        sensorId: ids.get(b.serial) as number,
        channel: b.channel,
        timesUs: b.values.map((_, i) => b.firstSampleTimeUs + i * 100_000),
        values: b.values,
      })),
    );
    await writeSensorLogs(
      db.pool,
      logs.map((l) => ({ sensorId: ids.get(l.serial) as number, entries: l.entries as SensorLogEntry[] })),
    );
    // the live service has consumed everything and its clock has closed the last windows
    const end = Date.now() + 60_000;
    let last = -1;
    let stableSince = Date.now();
    for (;;) {
      const n = (await listAlarmTransitions(db.pool, {})).length;
      const queued = await queueMessageCount(vhost.url, QUEUE);
      if (n !== last || queued > 0) {
        last = n;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 2000) break;
      if (Date.now() > end) throw new Error('live service did not settle');
      await new Promise((r) => setTimeout(r, 100));
    }
    const live = (await listAlarmTransitions(db.pool, {}))
      .filter((t) => t.rule !== 'quiet')
      .map((t) => [
        t.transition === 'RAISED' ? 'RAISE' : 'CLEAR',
        t.serial,
        t.rule,
        t.channel,
        t.timeUs,
        t.value,
      ]);
    expect(live.map((l) => `${l[0]} ${l[2]}`)).toEqual(
      expect.arrayContaining([
        'RAISE warm',
        'CLEAR warm',
        'RAISE fast',
        'CLEAR fast',
        'RAISE errors',
        'CLEAR errors',
      ]),
    );

    const client = createAlarmClient(probe, { timeoutMs: 120_000 });
    const result = await client.testRules({
      rules: RULES,
      format: 'yaml',
      fromUs: T,
      toUs: Date.now() * 1000,
    });
    expect(result).toMatchObject({ rulesVersion: 'bt-1', sensors: 2, samples: 7200, logEntries: 30 });
    expect(result.skipped.map((s) => s.rule)).toEqual(['quiet']);
    const backtest = result.transitions.map((t) => [t.kind, t.serial, t.rule, t.channel, t.timeUs, t.value]);
    const order = (a: unknown[], b: unknown[]) => String(a).localeCompare(String(b));
    expect([...backtest].sort(order)).toEqual([...live].sort(order));

    // a selector that matches no sensor replays nothing; a bad rules file is refused with its reason
    const none = await client.testRules({
      rules: RULES,
      format: 'yaml',
      fromUs: T,
      toUs: Date.now() * 1000,
      selector: { site: 'nowhere' },
    });
    expect(none).toMatchObject({ sensors: 0, samples: 0, transitions: [] });
    await expect(
      client.testRules({ rules: 'rules: 3', format: 'yaml', fromUs: T, toUs: T + 1 }),
    ).rejects.toThrow(/version/);
  }, 120_000);
});
