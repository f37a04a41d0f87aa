import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus, urlUser } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import type {
  AlarmRecord,
  AlarmStatsRecord,
  MaintenanceRecord,
  ShelfRecord,
} from '@sensor-streaming/control';
import { measurementBatchCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { captureIo } from './testing/capture-io.js';
import {
  type ChildService,
  createMigratedDatabase,
  startService,
  type TestDatabase,
} from './testing/child-service.js';

/* `iotctl alarms shelve|unshelve|shelves|stats` and `iotctl sensors maintenance` against the real alarm service. */
const RULES = `version: 1
rules:
  - id: cli-hot
    type: threshold
    channel: temp
    window: 1s
    raise: "> 30"
    severity: MAJOR
`;
const logger = createLogger({ service: 'iotctl-alarm-mgmt', level: 'silent' });
let vhost: TestVhost;
let db: TestDatabase;
let dir: string;
let feeder: Bus;
let service: ChildService | undefined;

async function iotctl(args: string[]) {
  const io = captureIo();
  const code = await runCli(
    ['node', 'iotctl', '--amqp-url', vhost.url, '--rpc-timeout', '10000', ...args],
    io,
  );
  return { code, stdout: io.out(), stderr: io.err() };
}

beforeAll(async () => {
  [vhost, db, dir] = await Promise.all([
    createTestVhost('iotctl-alarm-mgmt'),
    createMigratedDatabase('iotctl_alarm_mgmt'),
    mkdtemp(join(tmpdir(), 'iotctl-alarm-mgmt-')),
  ]);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  service = startService('alarm-service', 'services/alarm-service/src/main.ts', {
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    RULES_FILE: join(dir, 'rules.yaml'),
    LEADER_RETRY_MS: '200',
  });
  feeder = createBus({ url: vhost.url, connectionName: 'iotctl-alarm-mgmt-feeder', logger });
  await feeder.start();
}, 180_000);

afterAll(async () => {
  await service?.stop();
  await feeder?.stop();
  await Promise.all([vhost?.drop(), db?.drop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

describe('iotctl alarm management', () => {
  it('shelves and unshelves an alarm, puts a sensor in maintenance, prints the EEMUA figures', async () => {
    const serial = 'CLI-1';
    const t0 = Math.floor(Date.now() / 1000) * 1e6 - 5e6;
    const batch = (start: number, values: number[], sequence: number) => ({
      serial,
      channel: 'temp',
      unit: 'degC',
      sequence,
      firstSampleTimeUs: start,
      samplePeriodNs: 1e8,
      values,
    });
    let alarm: AlarmRecord | undefined;
    await waitFor(
      async () => {
        // (re)publish until the service is up and has raised it
        await feeder.publish(
          routingKeys.data(serial),
          measurementBatchCodec.encode(batch(t0, Array(10).fill(50), 1)),
        );
        await feeder.publish(
          routingKeys.data(serial),
          measurementBatchCodec.encode(batch(t0 + 1e6, [50], 2)),
        );
        const r = await iotctl(['alarms', '--json', '--serial', serial]);
        alarm = r.code === 0 ? (JSON.parse(r.stdout) as AlarmRecord[])[0] : undefined;
        return alarm !== undefined;
      },
      `the alarm (service output: ${service?.output().slice(-2000)})`,
      120_000,
    );
    const id = (alarm as AlarmRecord).alarmId;

    const shelved = await iotctl([
      'alarms',
      'shelve',
      id,
      '--for',
      '1h',
      '--reason',
      'calibrating the probe',
    ]);
    expect(shelved).toMatchObject({ code: 0, stderr: '' });
    expect(shelved.stdout).toMatch(
      new RegExp(
        `^shelved ${id}  ${serial} cli-hot/temp  until \\S+  by ${urlUser(vhost.url)}: calibrating the probe\\n$`,
      ),
    );
    const list = await iotctl(['alarms', 'shelves', '--json']);
    expect((JSON.parse(list.stdout) as ShelfRecord[]).map((s) => [s.alarmId, s.reason])).toEqual([
      [id, 'calibrating the probe'],
    ]);
    expect((await iotctl(['alarms', 'unshelve', id])).stdout).toMatch(/^unshelved /);
    expect((await iotctl(['alarms', 'shelves'])).stdout).toBe('no shelved alarms\n');

    // usage errors: one clear line, exit 2, nothing sent
    const tooLong = await iotctl(['alarms', 'shelve', id, '--for', '30d', '--reason', 'x']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('--for: must be a duration from 1s to 7d');
    const noReason = await iotctl(['alarms', 'shelve', id, '--for', '1h', '--reason', ' ']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason is required');

    const m = await iotctl([
      'sensors',
      'maintenance',
      serial,
      'NOT-REGISTERED',
      '--for',
      '30m',
      '--reason',
      'bearing swap',
    ]);
    expect(m.code).toBe(0);
    expect(m.stdout).toContain(`in maintenance: ${serial}  until `);
    expect(m.stdout).toContain('not registered (skipped): NOT-REGISTERED');
    const ml = JSON.parse(
      (await iotctl(['sensors', 'maintenance', '--list', '--json'])).stdout,
    ) as MaintenanceRecord[];
    expect(ml.map((x) => [x.serial, x.reason])).toEqual([[serial, 'bearing swap']]);
    expect((await iotctl(['sensors', 'maintenance', serial, '--end'])).stdout).toBe(
      `maintenance ended: ${serial}\n`,
    );

    const stats = await iotctl(['alarms', 'stats', '--json', '--from', '1h']);
    expect(stats.code).toBe(0);
    const s = JSON.parse(stats.stdout) as AlarmStatsRecord;
    expect(s).toMatchObject({ raised: 1, standing: 1, peakPer10Min: 1, shelved: 0, inMaintenance: 0 });
    expect(s.topBadActors).toEqual([{ serial, rule: 'cli-hot', channel: 'temp', raised: 1, percent: 100 }]);
    const text = (await iotctl(['alarms', 'stats'])).stdout;
    expect(text).toContain('average per 10 minutes');
    expect(text).toContain(`1. ${serial} cli-hot/temp: 1 (100.0 %)`);

    // rules test: the service replays what is stored (nothing here: no ingester ran) and says so
    const rulesFile = join(dir, 'rules.yaml');
    const bt = await iotctl(['rules', 'test', rulesFile, '--from', '1h']);
    expect(bt).toMatchObject({ code: 0, stderr: '' });
    expect(bt.stdout).toBe('rules version 1: 1 sensors, 0 samples, 0 log entries\nno transitions\n');
    const badRange = await iotctl(['rules', 'test', rulesFile, '--from', '1h', '--to', '2h']);
    expect(badRange.code).toBe(2);
    expect(badRange.stderr).toContain('--to must be after --from');
    await writeFile(join(dir, 'bad.yaml'), 'version: 2\nrules: 3\n');
    const bad = await iotctl(['rules', 'test', join(dir, 'bad.yaml'), '--from', '1h']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('rules: must be a list');
  }, 240_000);
});
