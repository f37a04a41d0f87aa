import { randomUUID } from 'node:crypto';
import { type Bus, commandQueue, createBus, urlUser } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost } from '@sensor-streaming/bus/testing';
import { type CommandAck, commandAckCodec, commandCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AlarmRecord,
  alarmRpcQueue,
  createAlarmClient,
  encodeAlarmResponse,
  parseAlarmRequest,
} from './alarm-rpc.js';
import { createCommander } from './commands.js';
import { ControlError } from './control-error.js';
import {
  createRegistryClient,
  encodeRegistryResponse,
  parseRegistryRequest,
  REGISTRY_RPC_QUEUE,
} from './registry-rpc.js';

/*
 * The command path and the RPC clients against the real broker. The "sensor" here is a few lines that
 * answer commands from its command queue the way a device must (ack on sensor.<serial>.acks).
 */
const logger = createLogger({
  service: 'control-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
let vhost: TestVhost;
let bus: Bus;
let device: Bus;

beforeAll(async () => {
  vhost = await createTestVhost('control');
  bus = createBus({ url: vhost.url, connectionName: `control-test-${randomUUID()}`, logger });
  device = createBus({ url: vhost.url, connectionName: `control-device-${randomUUID()}`, logger });
  await Promise.all([bus.start(), device.start()]);
  // "dev-1" answers every command: APPLIED
  await device.consume({
    queue: commandQueue('dev-1', 3_600_000),
    handler: async (d) => {
      const cmd = commandCodec.decode(d.body, d.contentType);
      const ack: CommandAck = {
        commandId: cmd.commandId,
        serial: cmd.serial,
        status: 'APPLIED',
        reason: '',
        state: cmd.type === 'sleep' ? 'ASLEEP' : 'AWAKE',
        timeUs: Date.now() * 1000,
        type: cmd.type,
      };
      await device.publish(routingKeys.acks(cmd.serial), commandAckCodec.encode(ack));
    },
  });
  // "dev-2" has a command queue (as a sensor that connected once) but nobody consumes it: it is offline
  await device.declareQueue(commandQueue('dev-2', 3_600_000));
  // "dev-3" refuses every command as malformed (permanent error: dead-lettered at once)
  await device.consume({
    queue: commandQueue('dev-3', 3_600_000),
    handler: async () => {
      throw Object.assign(new Error('cannot decode'), { permanent: true });
    },
  });
});

afterAll(async () => {
  await device?.stop();
  await bus?.stop();
  await vhost?.drop();
});

// APPLIED/REJECTED/UNROUTABLE/TIMED_OUT/no-wait are covered by commands.integration.test.ts
describe('createCommander: commands that die in a sensor queue', () => {
  it('reports EXPIRED when the command outlives its TTL in the queue of an offline sensor', async () => {
    const commander = createCommander(bus);
    const [o] = await commander.issue(
      ['dev-2'],
      { type: 'awake' },
      { issuedBy: 'test', ttlMs: 300, timeoutMs: 10_000 },
    );
    expect(o).toMatchObject({ serial: 'dev-2', status: 'EXPIRED' });
    expect(o!.reason).toContain('expired');
    expect(o!.rttMs).toBeGreaterThanOrEqual(250);
    await commander.close();
  });

  it('reports REJECTED when the sensor side dead-letters the command itself', async () => {
    const commander = createCommander(bus);
    const [o] = await commander.issue(['dev-3'], { type: 'sleep' }, { issuedBy: 'test', timeoutMs: 10_000 });
    expect(o).toMatchObject({ serial: 'dev-3', status: 'REJECTED' });
    expect(o!.reason).toContain('dead-lettered');
    await commander.close();
  });
});

describe('RPC clients on a real broker', () => {
  it('registry client: answers, server errors with their code, and a clear error when nobody serves', async () => {
    const client = createRegistryClient(bus, { timeoutMs: 2000 });
    await expect(client.listSensors()).rejects.toThrow('nobody serves sensor-registry.rpc');
    const server = await device.rpcServe(REGISTRY_RPC_QUEUE, async (req) => {
      const r = parseRegistryRequest(req.body);
      if (r.method === 'sensors.show') {
        return encodeRegistryResponse({
          ok: false,
          error: { code: 'REGISTRY_UNKNOWN_SENSOR', message: `unknown sensor ${r.params.serial}` },
        });
      }
      return encodeRegistryResponse({ ok: true, result: [] });
    });
    expect(await client.listSensors({ kind: 'vibration' })).toEqual([]);
    const err = await client.showSensor('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ code: 'REGISTRY_UNKNOWN_SENSOR', message: 'unknown sensor nope' });
    await server.stop();
  });

  it('alarm client: list and ack round trip through a server using parseAlarmRequest', async () => {
    const client = createAlarmClient(bus, { timeoutMs: 2000 });
    await expect(client.listAlarms()).rejects.toThrow('nobody serves alarm-service.rpc');
    const record: AlarmRecord = {
      alarmId: '3f2b8c1e-7d4a-4e6b-9a1c-2b3c4d5e6f70',
      serial: 'dev-1',
      rule: 'temp-high',
      channel: 'temperature',
      severity: 'MAJOR',
      value: 31,
      threshold: 30,
      windowNs: 60e9,
      message: '',
      raisedAt: '2026-01-01T00:00:00.000Z',
      acknowledgedAt: null,
      acknowledgedBy: null,
      clearedAt: null,
      active: true,
    };
    const server = await device.rpcServe(alarmRpcQueue(), async (req) => {
      const r = parseAlarmRequest(req.body);
      if (r.method === 'alarms.list')
        return encodeAlarmResponse({ ok: true, result: r.params.active === false ? [] : [record] });
      if (r.method !== 'alarms.ack') throw new Error(`unexpected ${r.method}`);
      return encodeAlarmResponse({
        ok: true,
        result: {
          status: 'ACKNOWLEDGED',
          alarm: { ...record, acknowledgedBy: req.userId ?? null, acknowledgedAt: record.raisedAt },
        },
      });
    });
    expect(await client.listAlarms({ active: true })).toEqual([record]);
    expect(await client.listAlarms({ active: false })).toEqual([]);
    // the server sees the caller's broker user (user_id), stamped by the bus
    expect(await client.ackAlarm(record.alarmId)).toMatchObject({
      status: 'ACKNOWLEDGED',
      alarm: { acknowledgedBy: urlUser(vhost.url) },
    });
    await server.stop();
  });
});
