import { randomUUID } from 'node:crypto';
import { type Bus, createBus } from '@sensor-streaming/bus';
import { createTestVhost, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import {
  type CommandAck,
  commandAckCodec,
  commandCodec,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
  type SensorState,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createSimulator, type Simulator } from './simulator.js';
import { createMqttTransport } from './transport.js';

const logger = createLogger({
  service: 'sensor-simulator-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884';

let vhost: TestVhost;
let observer: Bus;
let sim: Simulator | undefined;
const data: MeasurementBatch[] = [];
const states: SensorState[] = [];
const acks: CommandAck[] = [];

beforeAll(async () => {
  vhost = await createTestVhost('simulator-mqtt');
  observer = createBus({
    url: vhost.url,
    connectionName: `sim-mqtt-test-${randomUUID()}`,
    logger,
    registry: new Registry(),
  });
  await observer.start();
  const q = (key: string) => ({
    name: `obs-${randomUUID()}`,
    type: 'classic' as const,
    bindings: [key],
    exclusive: true,
    autoDelete: true,
  });
  await observer.consume({
    queue: q('sensor.*.data'),
    handler: async (d) => void data.push(measurementBatchCodec.decode(d.body, d.contentType)),
  });
  await observer.consume({
    queue: q('sensor.*.state'),
    handler: async (d) => void states.push(sensorStateCodec.decode(d.body, d.contentType)),
  });
  await observer.consume({
    queue: q('sensor.*.acks'),
    handler: async (d) => void acks.push(commandAckCodec.decode(d.body, d.contentType)),
  });
});

afterAll(async () => {
  await sim?.stop();
  await observer?.stop();
  await vhost?.drop();
});

describe('MQTT transport (RabbitMQ MQTT plugin)', () => {
  it('publishes data, state and acks over MQTT, with a real MQTT last will', async () => {
    const config = loadConfig({
      AMQP_URL: vhost.url,
      MQTT_URL,
      TRANSPORT: 'mqtt',
      SENSOR_COUNT: '3',
      SENSOR_SERIAL_PREFIX: 'mq',
      SAMPLE_FREQUENCY_HZ: '10',
      FLUSH_INTERVAL_MS: '200',
      METRICS_PORT: '0',
    });
    const transport = createMqttTransport({
      url: MQTT_URL,
      username: `${vhost.vhost}:guest`,
      password: 'guest',
      serials: config.serials,
      will: (serial) =>
        sensorStateCodec.encode(sim!.sensors.get(serial)!.snapshot('WILL', Date.now() * 1000, 'OFFLINE')),
      logger,
    });
    sim = createSimulator({ config, logger, registry: new Registry(), transport });
    await sim.start();
    await waitFor(() => new Set(data.map((b) => b.serial)).size === 3, 'data from 3 MQTT sensors');
    await waitFor(() => states.filter((s) => s.reason === 'BIRTH').length === 3, 'births');

    // Commands still come over AMQP; the ack goes back over MQTT.
    const now = Date.now() * 1000;
    const cmd = {
      commandId: randomUUID(),
      serial: 'mq-0-1',
      type: 'sleep' as const,
      issuedAtUs: now,
      expiresAtUs: now + 60e6,
      issuedBy: 'test',
    };
    await observer.publish(routingKeys.command(cmd.serial, cmd.type), commandCodec.encode(cmd), {
      mandatory: true,
    });
    await waitFor(() => acks.some((a) => a.commandId === cmd.commandId), 'ack over MQTT');
    expect(acks.find((a) => a.commandId === cmd.commandId)).toMatchObject({
      status: 'APPLIED',
      state: 'ASLEEP',
    });

    // Cut one sensor's connection as a network failure would: the broker publishes its last will.
    transport.simulateNetworkFailure('mq-0-2');
    await waitFor(
      () => states.some((s) => s.serial === 'mq-0-2' && s.reason === 'WILL'),
      'the MQTT last will',
      15_000,
    );
    expect(states.find((s) => s.serial === 'mq-0-2' && s.reason === 'WILL')!.state).toBe('OFFLINE');

    await sim.stop();
    sim = undefined;
    await waitFor(
      () => ['mq-0-0', 'mq-0-1'].every((s) => states.some((st) => st.serial === s && st.reason === 'WILL')),
      'wills on shutdown',
    );
  });
});
