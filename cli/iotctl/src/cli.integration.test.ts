import { randomUUID } from 'node:crypto';
import { type Bus, commandQueue, createBus, urlUser } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import {
  type AlarmRecord,
  alarmRpcQueue,
  type CommandOutcome,
  encodeAlarmResponse,
  encodeRegistryResponse,
  parseAlarmRequest,
  parseRegistryRequest,
  REGISTRY_RPC_QUEUE,
  type SensorSummary,
} from '@sensor-streaming/control';
import { type Alarm, alarmCodec, routingKeys } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { captureIo } from './testing/capture-io.js';
import { sensor } from './testing/fixtures.js';

/*
 * iotctl against the real broker with the registry and alarm service played by small RPC servers that
 * validate requests with the shared contract (the real registry is exercised in e2e.integration.test.ts;
 * the alarm service does not serve its RPC yet).
 */
const logger = createLogger({
  service: 'iotctl-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
let vhost: TestVhost;
let peer: Bus;
const fleet: SensorSummary[] = [
  sensor({ serial: 'pump-1', kind: 'vibration' }),
  sensor({ serial: 'oven-1', kind: 'process', reportedState: 'ASLEEP', samplesPerSecond: 0 }),
];
const alarm: AlarmRecord = {
  alarmId: '3f2b8c1e-7d4a-4e6b-9a1c-2b3c4d5e6f70',
  serial: 'pump-1',
  rule: 'vibration-iso10816',
  channel: 'vibration',
  severity: 'CRITICAL',
  value: 11.2,
  threshold: 7.1,
  windowNs: 10e9,
  message: 'RMS above class II limit',
  raisedAt: new Date(Date.now() - 120_000).toISOString(),
  acknowledgedAt: null,
  acknowledgedBy: null,
  clearedAt: null,
  active: true,
};
const registryRequests: unknown[] = [];
const alarmRequests: unknown[] = [];

async function iotctl(args: string[], io = captureIo()) {
  const code = await runCli(
    ['node', 'iotctl', '--amqp-url', vhost.url, '--rpc-timeout', '10000', ...args],
    io,
  );
  return { code, stdout: io.out(), stderr: io.err() };
}

beforeAll(async () => {
  vhost = await createTestVhost('iotctl');
  peer = createBus({ url: vhost.url, connectionName: `iotctl-peer-${randomUUID()}`, logger });
  await peer.start();
  await peer.declareQueue(commandQueue('pump-1', 3_600_000));
});

afterAll(async () => {
  await peer?.stop();
  await vhost?.drop();
});

describe('iotctl against a broker without registry or alarm service', () => {
  it('sensors list: one clear line and exit 1 when nobody serves the registry RPC', async () => {
    const r = await iotctl(['sensors', 'list']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'iotctl: nobody serves sensor-registry.rpc on this broker/vhost (is sensor-registry running?)\n',
    );
  });

  it('alarms: same for the alarm service', async () => {
    const r = await iotctl(['alarms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'iotctl: nobody serves alarm-service.rpc on this broker/vhost (is alarm-service running?)\n',
    );
  });

  it('--no-wait --json: PUBLISHED for a sensor with a queue, UNROUTABLE (exit 1) for one without', async () => {
    const ok = await iotctl(['sleep', 'pump-1', '--no-wait', '--json', '--ttl', '1000']);
    expect(ok.code).toBe(0);
    const [o] = JSON.parse(ok.stdout) as CommandOutcome[];
    expect(o).toEqual({
      serial: 'pump-1',
      commandId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'sleep',
      status: 'PUBLISHED',
      reason: 'confirmed by the broker',
      rttMs: null,
    });
    const ghost = await iotctl(['sleep', 'ghost-1', '--no-wait']);
    expect(ghost.code).toBe(1);
    expect(ghost.stdout).toMatch(/^ghost-1 {2}UNROUTABLE\s+- {2}no command queue for sensor ghost-1/);
  });
});

describe('iotctl with registry and alarm RPC servers', () => {
  beforeAll(async () => {
    await peer.rpcServe(REGISTRY_RPC_QUEUE, async (req) => {
      const r = parseRegistryRequest(req.body);
      registryRequests.push(r);
      if (r.method === 'sensors.list') {
        const sel = r.params.selector ?? {};
        const result = fleet.filter((s) =>
          Object.entries(sel).every(([k, v]) => (k === 'kind' ? s.kind : s.labels[k]) === v),
        );
        return encodeRegistryResponse({ ok: true, result });
      }
      return encodeRegistryResponse({
        ok: false,
        error: { code: 'REGISTRY_UNKNOWN_SENSOR', message: 'unknown sensor' },
      });
    });
    await peer.rpcServe(alarmRpcQueue(), async (req) => {
      const r = parseAlarmRequest(req.body);
      alarmRequests.push(r);
      if (r.method === 'alarms.list') return encodeAlarmResponse({ ok: true, result: [alarm] });
      if (r.method !== 'alarms.ack') throw new Error(`unexpected ${r.method}`);
      return encodeAlarmResponse({
        ok: true,
        result: {
          status: 'ACKNOWLEDGED',
          alarm: { ...alarm, acknowledgedBy: req.userId ?? null, acknowledgedAt: new Date().toISOString() },
        },
      });
    });
  });

  it('sensors list sends the filters and prints a table or JSON', async () => {
    const table = await iotctl([
      'sensors',
      'list',
      '--kind',
      'vibration',
      '--state',
      'awake',
      '--online',
      '--limit',
      '5',
    ]);
    expect(table.code).toBe(0);
    expect(registryRequests.at(-1)).toEqual({
      method: 'sensors.list',
      params: { kind: 'vibration', state: 'AWAKE', online: true, limit: 5 },
    });
    expect(table.stdout.split('\n')[0]).toMatch(
      /^SERIAL\s+KIND\s+STATE\s+DESIRED\s+HZ\s+SAMPLES\/S\s+LAST DATA\s+LAST SEEN\s+LABELS$/,
    );
    const json = await iotctl(['sensors', 'list', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([fleet[1], fleet[0]]); // natural order by serial
  });

  it('status off a terminal prints the counts and the table once; --json a snapshot', async () => {
    const r = await iotctl(['status']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('2 sensors: 1 awake, 1 asleep, 0 offline');
    expect(lines).toHaveLength(4);
    const j = await iotctl(['status', '--json']);
    // natural order by serial, as the live view shows them
    expect(JSON.parse(j.stdout)).toEqual({
      counts: { total: 2, awake: 1, asleep: 1, offline: 0 },
      sensors: [fleet[1], fleet[0]],
    });
    const asleep = await iotctl(['status', '--json', '--state', 'asleep']);
    expect((JSON.parse(asleep.stdout) as { sensors: SensorSummary[] }).sensors.map((s) => s.serial)).toEqual([
      'oven-1',
    ]);
  });

  it('a selector with no match is one line and exit 1; the registry error code reaches the operator', async () => {
    const none = await iotctl(['sleep', '--selector', 'site=south']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('iotctl: no sensor matches the selector site=south\n');
    const unknown = await iotctl(['sensors', 'show', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('iotctl: unknown sensor\n');
  });

  it('alarms lists with filters (table and JSON) and acks by id as the broker user', async () => {
    const table = await iotctl([
      'alarms',
      '--active',
      '--severity',
      'critical',
      '--serial',
      'pump-1',
      '--rule',
      'vibration-iso10816',
    ]);
    expect(table.code).toBe(0);
    expect(alarmRequests.at(-1)).toEqual({
      method: 'alarms.list',
      params: {
        active: true,
        severity: 'CRITICAL',
        serial: 'pump-1',
        rule: 'vibration-iso10816',
        limit: 100,
      },
    });
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(
      /^ALARM ID\s+SERIAL\s+RULE\s+SEVERITY\s+STATE\s+ACK\s+RAISED\s+VALUE\/LIMIT\s+MESSAGE$/,
    );
    expect(row).toMatch(
      /^3f2b8c1e-\S+\s+pump-1\s+vibration-iso10816\s+CRITICAL\s+ACTIVE\s+-\s+2m ago\s+11\.2\/7\.1\s+RMS above/,
    );
    const json = await iotctl(['alarms', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([alarm]);
    const ack = await iotctl(['alarms', 'ack', alarm.alarmId]);
    expect(ack.code).toBe(0);
    expect(ack.stdout).toBe(
      `acknowledged 3f2b8c1e-7d4a-4e6b-9a1c-2b3c4d5e6f70 (pump-1 vibration-iso10816 CRITICAL) by ${urlUser(vhost.url)}\n`,
    );
    expect(alarmRequests.at(-1)).toMatchObject({ method: 'alarms.ack', params: { alarmId: alarm.alarmId } });
  });

  it('alarms --follow prints the listing, then each new transition until interrupted', async () => {
    const io = captureIo();
    const running = iotctl(['alarms', '--follow', '--severity', 'major'], io);
    await waitFor(() => io.err().includes('following alarm transitions'), 'the subscription', 20_000);
    const t = (transition: Alarm['transition'], severity: Alarm['severity'], serial: string): Alarm => ({
      alarmId: randomUUID(),
      serial,
      rule: 'temp-high',
      severity,
      transition,
      value: 31.5,
      threshold: 30,
      windowNs: 60e9,
      timeUs: Date.now() * 1000,
      channel: 'temperature',
      message: '',
    });
    const raised = t('RAISED', 'MAJOR', 'oven-1');
    await peer.publish(routingKeys.alarm('oven-1', 'raised'), alarmCodec.encode(raised));
    await peer.publish(
      routingKeys.alarm('oven-1', 'raised'),
      alarmCodec.encode(t('RAISED', 'INFO', 'oven-1')),
    );
    await peer.publish(
      routingKeys.alarm('oven-1', 'cleared'),
      alarmCodec.encode({ ...raised, transition: 'CLEARED' }),
    );
    await waitFor(() => io.out().includes('CLEARED'), 'the cleared transition', 20_000);
    io.interrupt();
    const r = await running;
    expect(r.code).toBe(0);
    const events = r.stdout.split('\n').filter((l) => l.includes(raised.alarmId));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatch(/RAISED\s+MAJOR\s+oven-1\/temperature {2}temp-high {2}value 31\.5 limit 30/);
    expect(events[1]).toMatch(/CLEARED\s+MAJOR\s+oven-1/);
    expect(r.stdout).not.toMatch(/\bINFO\b/); // filtered out by --severity
  });
});
