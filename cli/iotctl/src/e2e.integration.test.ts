import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, createBus, urlUser } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import {
  type AlarmRecord,
  type CommandOutcome,
  type CommandRecord,
  createRegistryClient,
  type RegistryClient,
  type SensorDetail,
  type SensorSummary,
} from '@sensor-streaming/control';
import {
  type CommandAck,
  commandAckCodec,
  commandQueueName,
  type MeasurementBatch,
  measurementBatchCodec,
  sampleTimesUs,
} from '@sensor-streaming/protocol';
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
import { runIotctl } from './testing/run-iotctl.js';

/*
 * End to end on the real broker and database: the registry and the simulator run as their own processes
 * (their main.ts, configured by env), iotctl runs spawned (the installed binary's code path) or in-process
 * through runCli (same code minus the process start, which costs seconds on a loaded CI box).
 */

const logger = createLogger({
  service: 'iotctl-e2e',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
const SIMULATOR = 'services/sensor-simulator/src/main.ts';
const REGISTRY = 'services/sensor-registry/src/main.ts';
const ALARM_SERVICE = 'services/alarm-service/src/main.ts';
/** A rule every environment sensor breaks within seconds, so that the alarm commands have something real. */
const RULES = `version: 1
rules:
  - id: e2e-temperature-any
    type: threshold
    kinds: [environment]
    channel: temperature
    aggregate: avg
    window: 1s
    raise: "> -1000"
    severity: MAJOR
    notify: false
`;

let vhost: TestVhost;
let db: TestDatabase;
let observer: Bus;
let registryClient: RegistryClient;
const services: ChildService[] = [];
const data = new Map<string, MeasurementBatch[]>();
const acks: CommandAck[] = [];

const simEnv = (): Record<string, string> => ({
  AMQP_URL: vhost.url,
  SENSOR_COUNT: '50',
  SENSOR_KINDS: 'vibration:0.5,environment:0.3,process:0.2',
  SAMPLE_FREQUENCY_HZ: '20',
  FLUSH_INTERVAL_MS: '200',
  HEARTBEAT_INTERVAL_MS: '1000',
});

function start(name: string, script: string, env: Record<string, string>): ChildService {
  const s = startService(name, script, env);
  services.push(s);
  return s;
}

async function stop(s: ChildService): Promise<void> {
  await s.stop();
  services.splice(services.indexOf(s), 1);
}

/** A simulator is ready when its last sensor's command queue exists (declared after the births). */
async function simulatorReady(serial: string, s: ChildService): Promise<void> {
  await waitFor(
    () =>
      queueMessageCount(vhost.url, commandQueueName(serial)).then(
        () => true,
        () => false,
      ),
    `command queue of ${serial} (simulator output: ${s.output().slice(-2000)})`,
    120_000,
  );
}

async function registered(n: number, online = true): Promise<SensorSummary[]> {
  let last: SensorSummary[] = [];
  await waitFor(
    async () => {
      last = await registryClient.listSensors(online ? { online: true } : {}).catch(() => []);
      return last.length >= n;
    },
    `${n} sensors registered${online ? ' and online' : ''}`,
    120_000,
  );
  return last;
}

async function iotctl(args: string[]) {
  const io = captureIo();
  const code = await runCli(['node', 'iotctl', '--amqp-url', vhost.url, ...args], io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const timesAfter = (serial: string, afterUs: number, channel?: string): number[] =>
  (data.get(serial) ?? [])
    .filter((b) => channel === undefined || b.channel === channel)
    .flatMap((b) => sampleTimesUs(b))
    .filter((t) => t > afterUs)
    .sort((a, b) => a - b);

const ackOf = (commandId: string): CommandAck | undefined => acks.find((a) => a.commandId === commandId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  vhost = await createTestVhost('iotctl-e2e');
  db = await createMigratedDatabase('iotctl_e2e');
  observer = createBus({ url: vhost.url, connectionName: `iotctl-e2e-${randomUUID()}`, logger });
  await observer.start();
  registryClient = createRegistryClient(observer, { timeoutMs: 10_000 });
  const temp = (key: string) => ({
    name: `e2e.${key}.${randomUUID()}`,
    type: 'classic' as const,
    bindings: [key],
    exclusive: true,
    autoDelete: true,
  });
  await observer.consume({
    queue: temp('sensor.*.data'),
    prefetch: 1000,
    handler: async (d) => {
      const b = measurementBatchCodec.decode(d.body, d.contentType);
      const list = data.get(b.serial) ?? [];
      list.push(b);
      data.set(b.serial, list);
    },
  });
  await observer.consume({
    queue: temp('sensor.*.acks'),
    prefetch: 1000,
    handler: async (d) => {
      acks.push(commandAckCodec.decode(d.body, d.contentType));
    },
  });
  start('registry', REGISTRY, {
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    SWEEP_INTERVAL_MS: '500',
    SENSOR_OFFLINE_AFTER_MS: '5000',
  });
  const sim = start('simulator', SIMULATOR, simEnv());
  await simulatorReady('sim-0-49', sim);
  await registered(50);
}, 300_000);

afterAll(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
  await observer?.stop();
  await vhost?.drop();
  await db?.drop();
}, 120_000);

describe('iotctl end to end (registry + simulator processes, real RabbitMQ and PostgreSQL)', () => {
  const serial = 'sim-0-3';

  it('iotctl sleep (spawned): APPLIED, and no sample timed after the ack arrives', async () => {
    const r = await runIotctl(['--amqp-url', vhost.url, 'sleep', serial, '--json', '--timeout', '20000'], {
      timeoutMs: 120_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const outcomes = JSON.parse(r.stdout) as CommandOutcome[];
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ serial, type: 'sleep', status: 'APPLIED', state: 'ASLEEP' });
    expect(outcomes[0]!.rttMs).toBeGreaterThan(0);
    await waitFor(() => ackOf(outcomes[0]!.commandId) !== undefined, 'the sleep ack on sensor.*.acks');
    const ack = ackOf(outcomes[0]!.commandId)!;
    expect(ack.status).toBe('APPLIED');
    await sleep(2000); // ten flush intervals
    expect(timesAfter(serial, ack.timeUs)).toEqual([]);
    // the other sensors keep streaming
    expect(timesAfter('sim-0-4', ack.timeUs).length).toBeGreaterThan(0);
  }, 180_000);

  it('iotctl awake: one line per sensor with APPLIED and the round trip; data resumes', async () => {
    const r = await iotctl(['awake', serial, '--timeout', '20000']);
    expect(r.code).toBe(0);
    const [line, summary] = r.stdout.trimEnd().split('\n');
    expect(line).toMatch(/^sim-0-3 {2}APPLIED {4}\s+\d+(\.\d)? ms$/);
    expect(summary).toMatch(/^awake: 1 target, 1 APPLIED; round trip p50/);
    const applied = acks
      .filter((a) => a.serial === serial && a.type === 'awake' && a.status === 'APPLIED')
      .at(-1)!;
    await waitFor(
      () => timesAfter(serial, applied.timeUs).length > 20,
      'samples after the awake ack',
      20_000,
    );
  }, 120_000);

  it('iotctl changesamplefrequency --hz 50: the data shows 50 samples/s', async () => {
    const r = await iotctl([
      'changesamplefrequency',
      '-s',
      serial,
      '-f',
      '50',
      '--json',
      '--timeout',
      '20000',
    ]);
    expect(r.code).toBe(0);
    const [outcome] = JSON.parse(r.stdout) as CommandOutcome[];
    expect(outcome).toMatchObject({ status: 'APPLIED', sampleFrequencyHz: 50 });
    await waitFor(() => ackOf(outcome!.commandId) !== undefined, 'the frequency ack');
    const ackUs = ackOf(outcome!.commandId)!.timeUs;
    const channel = data.get(serial)!.at(-1)!.channel;
    await waitFor(
      () => timesAfter(serial, ackUs, channel).length >= 150,
      '3 s of samples at the new rate',
      30_000,
    );
    const times = timesAfter(serial, ackUs, channel);
    const rate = ((times.length - 1) * 1e6) / (times.at(-1)! - times[0]!);
    expect(rate).toBeGreaterThan(49);
    expect(rate).toBeLessThan(51);
  }, 120_000);

  it('sensors list / show / commands read the registry (table and --json)', async () => {
    const list = await iotctl(['sensors', 'list', '--json']);
    expect(list.code).toBe(0);
    const sensors = JSON.parse(list.stdout) as SensorSummary[];
    expect(sensors).toHaveLength(50);
    expect(Object.keys(sensors[0]!).sort()).toEqual(
      [
        'serial',
        'kind',
        'labels',
        'firmware',
        'channels',
        'location',
        'desiredState',
        'desiredFrequencyHz',
        'reportedState',
        'reportedFrequencyHz',
        'minFrequencyHz',
        'maxFrequencyHz',
        'online',
        'lastSeenAt',
        'registeredAt',
        'samplesPerSecond',
        'lastDataAt',
        'measuredSamplesPerSecond',
        'pendingCommands',
      ].sort(),
    );
    const vib = await iotctl(['sensors', 'list', '--selector', 'kind=vibration']);
    expect(vib.code).toBe(0);
    const rows = vib.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^SERIAL\s+KIND\s+STATE/);
    expect(rows.length - 1).toBe(sensors.filter((s) => s.kind === 'vibration').length);
    expect(rows.slice(1).every((l) => /^\S+\s+vibration\s/.test(l))).toBe(true);

    await waitFor(
      async () => {
        const d = await registryClient.showSensor(serial);
        return d.sensor.reportedFrequencyHz === 50 && d.commands.length >= 3;
      },
      'the registry to record the three commands',
      30_000,
    );
    const show = await iotctl(['sensors', 'show', serial, '--json']);
    expect(show.code).toBe(0);
    const detail = JSON.parse(show.stdout) as SensorDetail;
    expect(detail.sensor).toMatchObject({
      serial,
      reportedState: 'AWAKE',
      reportedFrequencyHz: 50,
      online: true,
    });
    const history = await iotctl(['commands', serial, '--json']);
    expect(history.code).toBe(0);
    const records = JSON.parse(history.stdout) as CommandRecord[];
    // recorded with the broker user iotctl connected as (user_id), not an OS user name
    const ours = records.filter((c) => c.issuedBy === urlUser(vhost.url));
    for (const type of ['awake', 'changesamplefrequency', 'sleep'])
      expect(ours.some((c) => c.type === type && c.status === 'APPLIED')).toBe(true);

    const unknown = await iotctl(['sensors', 'show', 'no-such-sensor']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^iotctl: .*no-such-sensor/);
  }, 120_000);

  it('alarms / alarms ack against the real alarm service', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iotctl-e2e-'));
    try {
      await writeFile(join(dir, 'rules.yaml'), RULES);
      const alarmsSvc = start('alarm-service', ALARM_SERVICE, {
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        RULES_FILE: join(dir, 'rules.yaml'),
        RULES_WATCH: 'false',
      });
      let listed: AlarmRecord[] = [];
      await waitFor(
        async () => {
          const r = await iotctl(['alarms', '--active', '--json']);
          listed = r.code === 0 ? (JSON.parse(r.stdout) as AlarmRecord[]) : [];
          return listed.length > 0;
        },
        `an active alarm listed (alarm-service output: ${alarmsSvc.output().slice(-1500)})`,
        120_000,
      );
      const first = listed[0]!;
      expect(first).toMatchObject({
        rule: 'e2e-temperature-any',
        severity: 'MAJOR',
        active: true,
        acknowledgedBy: null,
      });
      const table = await iotctl(['alarms', '--serial', first.serial]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(
        new RegExp(`^${first.alarmId}\\s+${first.serial}\\s+e2e-temperature-any\\s+MAJOR\\s+ACTIVE`, 'm'),
      );

      const ack = await iotctl(['alarms', 'ack', first.alarmId]);
      expect(ack.code).toBe(0);
      expect(ack.stdout).toMatch(
        new RegExp(
          `^acknowledged ${first.alarmId} \\(${first.serial} e2e-temperature-any MAJOR\\) by ${urlUser(vhost.url)}\n`,
        ),
      );
      const again = await iotctl(['alarms', 'ack', first.alarmId, '--json']);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({
        status: 'ALREADY_ACKNOWLEDGED',
        alarm: { alarmId: first.alarmId },
      });
      const unknown = await iotctl(['alarms', 'ack', randomUUID()]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^iotctl: no alarm with id [0-9a-f-]{36}\n$/);
      await stop(alarmsSvc);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('a command to a stopped sensor waits in its queue and is applied when it is back; one past its TTL is EXPIRED', async () => {
    const sim = services.find((s) => s.name === 'simulator')!;
    await stop(sim);
    const queued = await iotctl(['sleep', 'sim-0-5', '--timeout', '1000', '--json']);
    expect(queued.code).toBe(1);
    const [waiting] = JSON.parse(queued.stdout) as CommandOutcome[];
    expect(waiting).toMatchObject({ serial: 'sim-0-5', status: 'TIMED_OUT' });
    expect(await queueMessageCount(vhost.url, commandQueueName('sim-0-5'))).toBe(1);

    // spawned: the operator reads EXPIRED
    const expired = await runIotctl(
      ['--amqp-url', vhost.url, 'awake', 'sim-0-6', '--ttl', '1000', '--timeout', '30000'],
      { timeoutMs: 120_000 },
    );
    expect(expired.code).toBe(1);
    expect(expired.stdout).toMatch(/^sim-0-6 {2}EXPIRED\s+\d+(\.\d)? ms {2}the command expired/m);

    const back = start('simulator', SIMULATOR, simEnv());
    await simulatorReady('sim-0-49', back);
    await waitFor(() => ackOf(waiting!.commandId) !== undefined, 'the ack of the queued sleep', 60_000);
    expect(ackOf(waiting!.commandId)).toMatchObject({
      status: 'APPLIED',
      state: 'ASLEEP',
      serial: 'sim-0-5',
    });
  }, 300_000);

  it('--all over 1,000 sensors completes and reports each', async () => {
    const big = start('simulator-big', SIMULATOR, {
      AMQP_URL: vhost.url,
      SENSOR_SERIAL_PREFIX: 'big',
      SENSOR_COUNT: '1000',
      SAMPLE_FREQUENCY_HZ: '1',
      FLUSH_INTERVAL_MS: '1000',
      HEARTBEAT_INTERVAL_MS: '2000',
    });
    await simulatorReady('big-0-999', big);
    const fleet = await registered(1050);
    const r = await iotctl(['awake', '--all', '--timeout', '30000']);
    const lines = r.stdout.trimEnd().split('\n');
    const perSensor = lines.slice(0, -1);
    expect(perSensor).toHaveLength(fleet.length);
    expect(new Set(perSensor.map((l) => l.split(/\s+/)[0]))).toEqual(new Set(fleet.map((s) => s.serial)));
    expect(perSensor.filter((l) => !/\sAPPLIED\s/.test(l))).toEqual([]);
    expect(lines.at(-1)).toMatch(new RegExp(`^awake: ${fleet.length} targets, ${fleet.length} APPLIED`));
    expect(r.code).toBe(0);
  }, 300_000);
});
