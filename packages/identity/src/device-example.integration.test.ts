import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, managementRequest, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createCommander, MQTT_COMMAND_FORWARDING, MQTT_SESSION_POLICY } from '@sensor-streaming/control';
import { bindingPatterns, type MeasurementBatch, measurementBatchCodec } from '@sensor-streaming/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerAdmin, createBrokerAdmin } from './broker-admin.js';
import { managementUrl, mqttUrl, runId } from './testing-broker.js';

/* examples/device-mqtt/device.mjs, run as a firmware engineer would, with its own provisioned credential. */

const DEVICE = fileURLToPath(new URL('../../../examples/device-mqtt/device.mjs', import.meta.url));
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const serial = `${runId()}-dev`;
let vhost: TestVhost;
let admin: BrokerAdmin;
let bus: Bus;
let device: ChildProcess | undefined;
let output = '';
const data: MeasurementBatch[] = [];

beforeAll(async () => {
  vhost = await createTestVhost('device-example');
  const v = encodeURIComponent(vhost.vhost);
  const { name, ...policy } = MQTT_SESSION_POLICY;
  await managementRequest('PUT', `/policies/${v}/${name}`, policy);
  bus = createBus({ url: vhost.url, connectionName: `device-example-${randomUUID()}`, logger });
  await bus.start();
  // the platform's MQTT forwarding, as the broker definitions declare it
  for (const k of ['data', 'logs', 'state', 'acks'])
    await managementRequest('POST', `/bindings/${v}/e/amq.topic/e/sensor_streaming`, {
      routing_key: `sensor.*.${k}`,
    });
  const f = MQTT_COMMAND_FORWARDING;
  await managementRequest('POST', `/bindings/${v}/e/${f.source}/e/${f.destination}`, {
    routing_key: f.routingKey,
  });
  await bus.consume({
    queue: {
      name: `data-${randomUUID()}`,
      type: 'classic',
      bindings: [bindingPatterns.data],
      exclusive: true,
      autoDelete: true,
    },
    handler: async (d) => void data.push(measurementBatchCodec.decode(d.body, d.contentType)),
  });
  admin = createBrokerAdmin({ managementUrl: managementUrl(), vhost: vhost.vhost });
});

afterAll(async () => {
  device?.kill('SIGKILL');
  await bus?.stop();
  await admin?.revoke(serial).catch(() => undefined);
  await vhost?.drop();
});

describe('examples/device-mqtt', () => {
  it('connects with its credential, streams, obeys sleep / changesamplefrequency and acks over MQTT', async () => {
    const [cred] = await admin.provision([{ serial }]);
    device = spawn(process.execPath, [DEVICE], {
      env: {
        ...process.env,
        MQTT_URL: mqttUrl(),
        DEVICE_SERIAL: serial,
        DEVICE_USERNAME: cred!.mqttUsername,
        DEVICE_SECRET: cred!.secret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    device.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    device.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      () => output.includes('"event":"ready"'),
      `the device to start (output: ${output})`,
      30_000,
    );
    await waitFor(() => data.some((b) => b.serial === serial), 'data from the device', 15_000);

    const commander = createCommander(bus);
    try {
      const [slept] = await commander.issue(
        [serial],
        { type: 'sleep' },
        { issuedBy: 'test', timeoutMs: 15_000 },
      );
      expect(slept).toMatchObject({ status: 'APPLIED', state: 'ASLEEP' });
      const [tuned] = await commander.issue(
        [serial],
        { type: 'changesamplefrequency', sampleFrequencyHz: 5 },
        { issuedBy: 'test', timeoutMs: 15_000 },
      );
      expect(tuned).toMatchObject({ status: 'APPLIED', sampleFrequencyHz: 5 });
      const [refused] = await commander.issue(
        [serial],
        { type: 'changesamplefrequency', sampleFrequencyHz: 500 },
        { issuedBy: 'test', timeoutMs: 15_000 },
      );
      expect(refused).toMatchObject({ status: 'REJECTED' });
      const [woke] = await commander.issue(
        [serial],
        { type: 'awake' },
        { issuedBy: 'test', timeoutMs: 15_000 },
      );
      expect(woke).toMatchObject({ status: 'APPLIED', state: 'AWAKE' });
      const before = data.length;
      await waitFor(
        () => data.slice(before).some((b) => b.serial === serial && b.values.length === 5),
        '5 Hz batches',
        15_000,
      );
    } finally {
      await commander.close();
    }
    device.kill('SIGTERM');
    await waitFor(() => output.includes('"event":"stopped"'), 'a clean stop', 15_000);
  }, 120_000);
});
