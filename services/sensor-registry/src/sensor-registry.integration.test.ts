import { type Bus, commandQueue, createBus, type Delivery, urlUser } from '@sensor-streaming/bus';
import {
  createTestVhost,
  drainQueue,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import {
  type Commander,
  ControlError,
  createCommander,
  createRegistryClient,
  type RegistryClient,
  UNAUTHENTICATED_ACTOR,
} from '@sensor-streaming/control';
import { upsertSensorsBySerial } from '@sensor-streaming/db';
import { createTestDatabase, type TestDatabase } from '@sensor-streaming/db/testing';
import {
  type Command,
  type CommandAck,
  commandAckCodec,
  commandCodec,
  DEAD_LETTER_QUEUE,
  logBatchCodec,
  measurementBatchCodec,
  routingKeys,
  type SensorState,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { EXPIRED_IN_QUEUE_REASON } from './expired-commands.js';
import { RECONCILE_ISSUER } from './reconciler.js';
import { createSensorRegistry, type SensorRegistry } from './sensor-registry.js';

const OFFLINE_AFTER_MS = 1500;
const logger = createLogger({
  service: 'sensor-registry-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
});

let vhost: TestVhost;
let db: TestDatabase;
let registry: SensorRegistry;
let metrics: Registry;
let bus: Bus; // the test's own connection: fake sensors, iotctl
let commander: Commander;
let client: RegistryClient;

beforeAll(async () => {
  [vhost, db] = await Promise.all([createTestVhost('registry'), createTestDatabase({ prefix: 'registry' })]);
  const config = loadConfig({
    AMQP_URL: vhost.url,
    DATABASE_URL: db.url,
    METRICS_PORT: '0',
    SENSOR_OFFLINE_AFTER_MS: String(OFFLINE_AFTER_MS),
    SWEEP_INTERVAL_MS: '200',
    RECONCILE_MIN_INTERVAL_MS: '1000',
    COMMAND_TIMEOUT_GRACE_MS: '0',
    MAX_BATCH_WAIT_MS: '20',
  });
  metrics = new Registry();
  registry = createSensorRegistry({ config, logger, registry: metrics, pool: db.pool });
  await registry.start();
  bus = createBus({ url: vhost.url, connectionName: 'registry-test', logger });
  await bus.start();
  commander = createCommander(bus);
  client = createRegistryClient(bus, { timeoutMs: 5000 });
});

afterAll(async () => {
  await commander?.close();
  await registry?.stop();
  await bus?.stop();
  await Promise.all([db?.drop(), vhost?.drop()]);
});

function state(serial: string, o: Partial<SensorState> = {}): SensorState {
  return {
    serial,
    kind: 'vibration',
    channels: ['vibration'],
    firmware: '2.0.1',
    location: { lat: 57.7, lon: 11.97 },
    state: 'AWAKE',
    sampleFrequencyHz: 100,
    uptimeS: 1,
    reason: 'BIRTH',
    timeUs: Date.now() * 1000,
    labels: { site: 'north', machine: 'crane-7' },
    minFrequencyHz: 1,
    maxFrequencyHz: 1000,
    ...o,
  };
}

const publishState = (s: SensorState) => bus.publish(routingKeys.state(s.serial), sensorStateCodec.encode(s));
const publishAck = (a: CommandAck) => bus.publish(routingKeys.acks(a.serial), commandAckCodec.encode(a));

async function sensorRow(serial: string) {
  const { rows } = await db.pool.query(
    `SELECT id, kind, firmware, online, reported_state, reported_frequency_hz, desired_state, labels
     FROM sensors WHERE serial = $1`,
    [serial],
  );
  return rows;
}

async function commandRow(id: string) {
  const { rows } = await db.pool.query(
    'SELECT status, reason, rtt_ms, issued_by, params FROM commands WHERE id = $1',
    [id],
  );
  return rows[0] as
    | { status: string; reason: string; rtt_ms: number | null; issued_by: string; params: object }
    | undefined;
}

/** A fake sensor's command queue, consumed by the test: the commands that reach the sensor. */
async function sensorInbox(serial: string): Promise<Command[]> {
  const received: Command[] = [];
  await bus.consume({
    queue: commandQueue(serial, 60_000),
    handler: async (d: Delivery) => {
      received.push(commandCodec.decode(d.body, d.contentType));
    },
  });
  return received;
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as Array<{ labels: Record<string, unknown>; value: number }> | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value ?? 0;
}

describe('sensor-registry', () => {
  it('registers a sensor once from the same BIRTH twice', async () => {
    const birth = state('reg-twice');
    await publishState(birth);
    await publishState(birth);
    await waitFor(async () => (await sensorRow('reg-twice')).length === 1, 'registration');
    await new Promise((r) => setTimeout(r, 200));
    const rows = await sensorRow('reg-twice');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'vibration', online: true, reported_state: 'AWAKE' });
  });

  it('fills in the bare row an ingester created from data, keeping its id', async () => {
    const ids = await upsertSensorsBySerial(db.pool, ['reg-bare']);
    await publishState(state('reg-bare', { firmware: '3.1.0' }));
    await waitFor(async () => (await sensorRow('reg-bare'))[0]?.firmware === '3.1.0', 'bare row filled in');
    const rows = await sensorRow('reg-bare');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: String(ids.get('reg-bare')), kind: 'vibration', online: true });
  });

  it('marks a silent sensor OFFLINE after SENSOR_OFFLINE_AFTER_MS and back online when it speaks', async () => {
    await publishState(state('reg-silent'));
    await waitFor(async () => (await sensorRow('reg-silent'))[0]?.online === true, 'online');
    const t0 = Date.now();
    await waitFor(async () => (await sensorRow('reg-silent'))[0]?.online === false, 'offline', 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(OFFLINE_AFTER_MS - 300);
    expect((await sensorRow('reg-silent'))[0]?.reported_state).toBe('OFFLINE');
    await publishState(state('reg-silent', { reason: 'HEARTBEAT', state: 'ASLEEP' }));
    await waitFor(async () => (await sensorRow('reg-silent'))[0]?.online === true, 'back online');
    expect((await sensorRow('reg-silent'))[0]?.reported_state).toBe('ASLEEP');
    const { rows } = await db.pool.query(
      `SELECT c.state, c.reason FROM sensor_state_changes c JOIN sensors s ON s.id = c.sensor_id
       WHERE s.serial = 'reg-silent' ORDER BY c.time`,
    );
    expect(rows).toEqual([
      { state: 'AWAKE', reason: 'BIRTH' },
      { state: 'OFFLINE', reason: 'SILENCE' },
      { state: 'ASLEEP', reason: 'HEARTBEAT' },
    ]);
  });

  it('a WILL marks the sensor OFFLINE at once', async () => {
    await publishState(state('reg-will'));
    await waitFor(async () => (await sensorRow('reg-will'))[0]?.online === true, 'online');
    await publishState(state('reg-will', { reason: 'WILL', state: 'OFFLINE' }));
    await waitFor(async () => (await sensorRow('reg-will'))[0]?.online === false, 'offline by will', 1000);
  });

  it('records a command as ISSUED, then APPLIED from its ack with the round trip', async () => {
    await sensorInbox('reg-cmd'); // the sensor's command queue exists (the commander checks it)
    await publishState(state('reg-cmd'));
    await waitFor(async () => (await sensorRow('reg-cmd')).length === 1, 'registration');
    const [outcome] = await commander.issue(
      ['reg-cmd'],
      { type: 'changesamplefrequency', sampleFrequencyHz: 50 },
      { issuedBy: 'iotctl:test', wait: false },
    );
    const id = outcome!.commandId;
    await waitFor(async () => (await commandRow(id))?.status === 'ISSUED', 'command recorded');
    // the author is the broker user the command was published as (user_id), not the command's issuedBy
    expect(await commandRow(id)).toMatchObject({
      issued_by: urlUser(vhost.url),
      params: { sampleFrequencyHz: 50 },
    });
    const issuedAtUs = Number(
      (
        await db.pool.query(
          `SELECT (extract(epoch FROM issued_at) * 1e6)::bigint AS us FROM commands WHERE id = $1`,
          [id],
        )
      ).rows[0].us,
    );
    await publishAck({
      commandId: id,
      serial: 'reg-cmd',
      status: 'APPLIED',
      reason: '',
      state: 'AWAKE',
      sampleFrequencyHz: 50,
      timeUs: issuedAtUs + 25_000,
      type: 'changesamplefrequency',
    });
    await waitFor(async () => (await commandRow(id))?.status === 'APPLIED', 'command applied');
    expect((await commandRow(id))?.rtt_ms).toBeCloseTo(25, 3);
    expect((await sensorRow('reg-cmd'))[0]?.desired_state).toBeNull();
    expect(
      await metricValue('sensor_streaming_commands_total', {
        type: 'changesamplefrequency',
        status: 'APPLIED',
      }),
    ).toBe(1);
    expect(
      await metricValue('sensor_streaming_commands_total', {
        type: 'changesamplefrequency',
        status: 'ISSUED',
      }),
    ).toBe(1);
  });

  it('records a command without a broker-validated user_id as (unauthenticated), whatever its issuedBy says', async () => {
    await publishState(state('reg-anon'));
    await waitFor(async () => (await sensorRow('reg-anon')).length === 1, 'registration');
    const anonymous = createBus({
      url: vhost.url,
      connectionName: 'registry-test-anon',
      logger,
      userId: false,
    });
    await anonymous.start();
    try {
      const nowUs = Date.now() * 1000;
      const command: Command = {
        commandId: '00000000-0000-4000-8000-0000000a0a0a',
        serial: 'reg-anon',
        type: 'sleep',
        issuedAtUs: nowUs,
        expiresAtUs: nowUs + 60e6,
        issuedBy: 'op.operator',
      };
      await anonymous.publish(routingKeys.command('reg-anon', 'sleep'), commandCodec.encode(command));
      await waitFor(async () => (await commandRow(command.commandId)) !== undefined, 'command recorded');
      expect((await commandRow(command.commandId))?.issued_by).toBe(UNAUTHENTICATED_ACTOR);
    } finally {
      await anonymous.stop();
    }
  });

  it('re-sends the desired state to a sensor that comes back from offline reporting another', async () => {
    const serial = 'reg-reconcile';
    const inbox = await sensorInbox(serial);
    await publishState(state(serial));
    await waitFor(async () => (await sensorRow(serial)).length === 1, 'registration');
    const [sleep] = await commander.issue(
      [serial],
      { type: 'sleep' },
      { issuedBy: 'iotctl:test', wait: false },
    );
    await waitFor(() => inbox.length === 1, 'sleep reaches the sensor');
    // the sensor applies it, then dies, then reboots AWAKE (it lost its state)
    await publishAck({
      commandId: sleep!.commandId,
      serial,
      status: 'APPLIED',
      reason: '',
      state: 'ASLEEP',
      timeUs: Date.now() * 1000,
      type: 'sleep',
    });
    await publishState(state(serial, { reason: 'CHANGE', state: 'ASLEEP' }));
    await publishState(state(serial, { reason: 'WILL', state: 'OFFLINE' }));
    await waitFor(async () => (await commandRow(sleep!.commandId))?.status === 'APPLIED', 'sleep applied');
    await waitFor(async () => (await sensorRow(serial))[0]?.online === false, 'offline');
    expect(inbox).toHaveLength(1); // nothing to reconcile while it agreed
    await publishState(state(serial, { reason: 'BIRTH', state: 'AWAKE' }));
    await waitFor(() => inbox.length === 2, 'reconciling command');
    expect(inbox[1]).toMatchObject({ serial, type: 'sleep', issuedBy: RECONCILE_ISSUER });
    // rate-limited and pending: more heartbeats that still disagree send nothing more at once
    await publishState(state(serial, { reason: 'HEARTBEAT', state: 'AWAKE' }));
    await publishState(state(serial, { reason: 'HEARTBEAT', state: 'AWAKE' }));
    await new Promise((r) => setTimeout(r, 300));
    expect(inbox).toHaveLength(2);
    await waitFor(
      async () => (await commandRow(inbox[1]!.commandId))?.issued_by === urlUser(vhost.url),
      'recorded',
    );
  });

  it('re-sends a command the broker lost from the sensor queue (transient, gone with a restart) once it timed out', async () => {
    const serial = 'reg-lost';
    await bus.declareQueue(commandQueue(serial, 60_000)); // the sensor is away: nobody consumes yet
    await publishState(state(serial));
    await waitFor(async () => (await sensorRow(serial)).length === 1, 'registration');
    const [sleep] = await commander.issue(
      [serial],
      { type: 'sleep' },
      { issuedBy: 'iotctl:test', wait: false, ttlMs: 500 },
    );
    // What a broker restart does to a transient message in a durable queue: it is gone, with no dead letter.
    const lost = await drainQueue(vhost.url, commandQueue(serial, 60_000).name);
    expect(lost.map((m) => [m.routingKey, m.persistent])).toEqual([
      [routingKeys.command(serial, 'sleep'), false],
    ]);
    await waitFor(async () => (await commandRow(sleep!.commandId))?.status === 'TIMED_OUT', 'timed out');
    expect((await sensorRow(serial))[0]?.desired_state).toBe('ASLEEP'); // the intent is kept
    // the sensor comes back and reports AWAKE: the registry sends the sleep again
    const inbox = await sensorInbox(serial);
    await publishState(state(serial, { reason: 'HEARTBEAT', state: 'AWAKE' }));
    await waitFor(() => inbox.length === 1, 'reconciling command');
    expect(inbox[0]).toMatchObject({ serial, type: 'sleep', issuedBy: RECONCILE_ISSUER });
  });

  it('marks a command that expired in the sensor queue EXPIRED and publishes an EXPIRED ack for it', async () => {
    const serial = 'reg-expire';
    const acks: CommandAck[] = [];
    await bus.consume({
      queue: {
        name: `test.acks.${serial}`,
        type: 'classic',
        bindings: [routingKeys.acks(serial)],
        exclusive: true,
      },
      handler: async (d) => {
        acks.push(commandAckCodec.decode(d.body, d.contentType));
      },
    });
    await bus.declareQueue(commandQueue(serial, 300)); // a sensor that is away: nobody consumes
    await publishState(state(serial));
    await waitFor(async () => (await sensorRow(serial)).length === 1, 'registration');
    // a waiting caller learns it (from the commander's own DLX binding or from the registry's ack)
    const [waited] = await commander.issue(
      [serial],
      { type: 'sleep' },
      { issuedBy: 'iotctl:test', timeoutMs: 15_000 },
    );
    expect(waited).toMatchObject({ serial, status: 'EXPIRED' });
    await waitFor(
      () => acks.some((a) => a.commandId === waited!.commandId),
      'the registry publishes the ack',
      15_000,
    );
    expect(acks.find((a) => a.commandId === waited!.commandId)).toMatchObject({
      serial,
      status: 'EXPIRED',
      reason: EXPIRED_IN_QUEUE_REASON,
      type: 'sleep',
    });
    await waitFor(
      async () => (await commandRow(waited!.commandId))?.status === 'EXPIRED',
      'recorded EXPIRED',
    );
    expect((await commandRow(waited!.commandId))?.reason).toBe(EXPIRED_IN_QUEUE_REASON);
    expect(await metricValue('sensor_streaming_commands_total', { type: 'sleep', status: 'EXPIRED' })).toBe(
      1,
    );
  });

  it('marks a command with no ack TIMED_OUT once it expired (plus the grace)', async () => {
    const serial = 'reg-timeout';
    await sensorInbox(serial); // a sensor that takes its commands but never answers
    await publishState(state(serial));
    await waitFor(async () => (await sensorRow(serial)).length === 1, 'registration');
    const [outcome] = await commander.issue(
      [serial],
      { type: 'awake' },
      { issuedBy: 'iotctl:test', ttlMs: 400, wait: false },
    );
    await waitFor(
      async () => (await commandRow(outcome!.commandId))?.status === 'TIMED_OUT',
      'timed out',
      5000,
    );
    expect(
      await metricValue('sensor_streaming_commands_total', { type: 'awake', status: 'TIMED_OUT' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('answers sensors.list with filters, sensors.show, commands.list, and an unknown serial clearly', async () => {
    await Promise.all([
      publishState(
        state('rpc-a', {
          kind: 'environment',
          labels: { site: 'south' },
          channels: ['temperature', 'humidity'],
          sampleFrequencyHz: 2,
        }),
      ),
      publishState(
        state('rpc-b', { kind: 'vibration', labels: { site: 'south', kind: 'vibration' }, state: 'ASLEEP' }),
      ),
      publishState(state('rpc-c', { kind: 'vibration', labels: { site: 'west' } })),
    ]);
    const serials = ['rpc-a', 'rpc-b', 'rpc-c'];
    await waitFor(async () => (await client.listSensors({ serials })).length === 3, 'three sensors');
    const names = (xs: Array<{ serial: string }>) => xs.map((x) => x.serial);
    expect(names(await client.listSensors({ serials, kind: 'vibration' }))).toEqual(['rpc-b', 'rpc-c']);
    expect(
      names(await client.listSensors({ serials, selector: { kind: 'vibration', site: 'south' } })),
    ).toEqual(['rpc-b']);
    expect(names(await client.listSensors({ serials, state: 'ASLEEP' }))).toEqual(['rpc-b']);
    expect(names(await client.listSensors({ serials, online: true, limit: 2 }))).toEqual(['rpc-a', 'rpc-b']);
    const [a] = await client.listSensors({ serials: ['rpc-a'] });
    expect(a).toMatchObject({
      serial: 'rpc-a',
      kind: 'environment',
      channels: ['temperature', 'humidity'],
      location: { lat: 57.7, lon: 11.97 },
      reportedState: 'AWAKE',
      online: true,
      samplesPerSecond: 4,
      minFrequencyHz: 1,
      maxFrequencyHz: 1000,
    });
    expect(Date.parse(a!.lastSeenAt!)).toBeGreaterThan(Date.now() - 60_000);

    await bus.declareQueue(commandQueue('rpc-a', 60_000));
    const [cmd] = await commander.issue(
      ['rpc-a'],
      { type: 'sleep' },
      { issuedBy: 'iotctl:test', wait: false },
    );
    await waitFor(async () => (await client.listCommands('rpc-a')).length === 1, 'command listed');
    const detail = await client.showSensor('rpc-a');
    expect(detail.sensor.desiredState).toBe('ASLEEP');
    expect(detail.commands).toEqual([
      expect.objectContaining({
        commandId: cmd!.commandId,
        type: 'sleep',
        status: 'ISSUED',
        issuedBy: urlUser(vhost.url),
      }),
    ]);

    const err = await client.showSensor('rpc-nobody').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ code: 'REGISTRY_UNKNOWN_SENSOR' });
    expect((err as Error).message).toContain('rpc-nobody');
    await expect(client.listCommands('rpc-nobody')).rejects.toMatchObject({
      code: 'REGISTRY_UNKNOWN_SENSOR',
    });
    // a malformed request is answered, not dropped
    const reply = await bus.rpcCall('sensor-registry.rpc', Buffer.from('{"method":"sensors.drop"}'), {
      contentType: 'application/json',
    });
    expect(JSON.parse(reply.body.toString())).toMatchObject({
      ok: false,
      error: { code: 'CONTROL_BAD_REQUEST' },
    });
  });

  it('dead-letters a poison message and processes the rest of its batch', async () => {
    const before = await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE);
    await bus.publish(routingKeys.state('reg-poison'), Buffer.from('not protobuf at all'), {
      contentType: 'application/x-protobuf',
    });
    await bus.publish(routingKeys.state('reg-other'), sensorStateCodec.encode(state('reg-wrong-serial')));
    await publishState(state('reg-after-poison'));
    await waitFor(async () => (await sensorRow('reg-after-poison')).length === 1, 'the rest processed');
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) >= before + 2,
      'dead-lettered',
    );
    expect(await sensorRow('reg-wrong-serial')).toHaveLength(0);
    expect(
      await metricValue('sensor_streaming_messages_rejected_total', { kind: 'state', reason: 'invalid' }),
    ).toBe(1);
    expect(
      await metricValue('sensor_streaming_messages_rejected_total', {
        kind: 'state',
        reason: 'routing_key_mismatch',
      }),
    ).toBe(1);
  });

  it('keeps the fleet gauge by state', async () => {
    await registry.sweep();
    expect(await metricValue('sensor_streaming_sensors', { state: 'awake' })).toBeGreaterThan(0);
    expect(await metricValue('sensor_streaming_sensors', { state: 'offline' })).toBeGreaterThan(0);
  });

  // issue 12: liveness from any message, reported state from APPLIED acks

  it('a device that only sends logs stays online (never OFFLINE) and its last seen is the receive time', async () => {
    // a bare row, as the logs-ingester creates it: the device never sent a SensorState
    await upsertSensorsBySerial(db.pool, ['reg-logs-only']);
    const publishLogs = (sequence: number) =>
      bus.publish(
        routingKeys.logs('reg-logs-only'),
        logBatchCodec.encode({
          serial: 'reg-logs-only',
          sequence,
          entries: [
            {
              // the device clock is an hour behind: it must not matter
              timeUs: (Date.now() - 3_600_000) * 1000,
              level: 'INFO',
              errorCode: '',
              appVersion: '1.0.0',
              firmwareVersion: '1.0.0',
              message: 'still here',
              component: 'main',
            },
          ],
        }),
      );
    // logs for three times the offline timeout, the sweep running every 200 ms
    const until = Date.now() + 3 * OFFLINE_AFTER_MS;
    let seq = 0;
    let everOffline = false;
    while (Date.now() < until) {
      await publishLogs(seq++);
      await new Promise((r) => setTimeout(r, 250));
      const [s] = await client.listSensors({ serials: ['reg-logs-only'] });
      if (seq > 4 && s !== undefined && !s.online) everOffline = true;
    }
    await waitFor(
      async () => (await client.listSensors({ serials: ['reg-logs-only'] }))[0]?.online === true,
      'online',
    );
    const [s] = await client.listSensors({ serials: ['reg-logs-only'] });
    expect(everOffline).toBe(false);
    expect(s?.reportedState).toBeNull();
    expect(Math.abs(Date.now() - Date.parse(s?.lastSeenAt ?? '1970-01-01'))).toBeLessThan(2_000);
    expect(s?.lastDataAt).toBeNull();
    expect(await client.listSensors({ serials: ['reg-logs-only'], state: 'OFFLINE' })).toEqual([]);
  });

  it('data sets LAST DATA (not the heartbeat) and the samples per second counted', async () => {
    await publishState(state('reg-data', { sampleFrequencyHz: 100 }));
    await waitFor(async () => (await sensorRow('reg-data')).length === 1, 'registration');
    const started = Date.now();
    let seq = 0;
    // 100 samples every 250 ms = 400 samples/s, for a bit more than one counting window
    while (Date.now() - started < 3_000) {
      await bus.publish(
        routingKeys.data('reg-data'),
        measurementBatchCodec.encode({
          serial: 'reg-data',
          channel: 'vibration',
          unit: 'mm/s',
          sequence: seq++,
          firstSampleTimeUs: Date.now() * 1000,
          samplePeriodNs: 2_500_000,
          values: Array.from({ length: 100 }, (_, i) => Math.sin(i)),
        }),
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    await waitFor(
      async () =>
        ((await client.listSensors({ serials: ['reg-data'] }))[0]?.measuredSamplesPerSecond ?? 0) > 0,
      'a measured rate',
    );
    const [s] = await client.listSensors({ serials: ['reg-data'] });
    expect(Date.now() - Date.parse(s?.lastDataAt ?? '1970-01-01')).toBeLessThan(2_000);
    // loose bounds: timers on a loaded machine stretch the 250 ms period
    expect(s?.measuredSamplesPerSecond).toBeGreaterThan(200);
    expect(s?.measuredSamplesPerSecond).toBeLessThan(600);
  });

  it('an APPLIED ack with the resulting frequency is the reported one: no duplicate command follows', async () => {
    const inbox = await sensorInbox('reg-nodup');
    const t0 = Date.now() * 1000;
    await publishState(state('reg-nodup', { sampleFrequencyHz: 10, timeUs: t0 }));
    await waitFor(async () => (await sensorRow('reg-nodup')).length === 1, 'registration');
    const [outcome] = await commander.issue(
      ['reg-nodup'],
      { type: 'changesamplefrequency', sampleFrequencyHz: 50 },
      { issuedBy: 'iotctl:test', wait: false },
    );
    const id = outcome!.commandId;
    await waitFor(() => inbox.length === 1, 'the command reaches the sensor');
    await waitFor(async () => (await commandRow(id))?.status === 'ISSUED', 'command recorded');
    // the sensor: a heartbeat taken just before it applied the command (still 10 Hz), then its ack carrying the
    // resulting 50 Hz, and no separate state change
    const tApply = Date.now() * 1000;
    await publishState(
      state('reg-nodup', { sampleFrequencyHz: 10, reason: 'HEARTBEAT', timeUs: tApply - 1000 }),
    );
    await publishAck({
      commandId: id,
      serial: 'reg-nodup',
      status: 'APPLIED',
      reason: '',
      state: 'AWAKE',
      sampleFrequencyHz: 50,
      timeUs: tApply,
      type: 'changesamplefrequency',
    });
    await waitFor(async () => (await commandRow(id))?.status === 'APPLIED', 'command applied');
    await waitFor(
      async () => (await sensorRow('reg-nodup'))[0]?.reported_frequency_hz === 50,
      'the ack taken as reported',
    );
    // a later heartbeat (the sensor now at 50 Hz) gives the reconciler every chance to misjudge
    await publishState(state('reg-nodup', { sampleFrequencyHz: 50, reason: 'HEARTBEAT' }));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(inbox.map((c) => c.commandId)).toEqual([id]);
  });
});
