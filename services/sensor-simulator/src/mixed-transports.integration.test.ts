import { randomUUID } from 'node:crypto';
import { type Bus, createBus, serviceQueue } from '@sensor-streaming/bus';
import { createTestVhost, managementRequest, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import {
  type CommandOutcome,
  createCommander,
  deviceCommandQueues,
  MQTT_SESSION_POLICY,
} from '@sensor-streaming/control';
import { bindingPatterns, type CommandAck, commandAckCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createSimulator, type Simulator } from './simulator.js';

/*
 * AMQP and MQTT devices in one simulator, commanded through the one command
 * path (packages/control): same outcomes for both transports. Proven against
 * RabbitMQ 3.10 with its MQTT plugin (the machine's broker, port 1884).
 */

const logger = createLogger({
  service: 'sensor-simulator-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1884';

let vhost: TestVhost;
let bus: Bus;
let sim: Simulator | undefined;
const acks: CommandAck[] = [];

function simulator(): Simulator {
  const config = loadConfig({
    AMQP_URL: vhost.url,
    MQTT_URL,
    MQTT_SHARE: '0.5',
    SENSOR_COUNT: '4',
    SENSOR_SERIAL_PREFIX: `mix${Date.now().toString(36)}`,
    SENSOR_KINDS: 'environment:1',
    FLUSH_INTERVAL_MS: '200',
    METRICS_PORT: '0',
  });
  return createSimulator({
    config: { ...config, serials: SERIALS },
    logger,
    registry: new Registry(),
    mqttUsername: `${vhost.vhost}:guest`,
    mqttPassword: 'guest',
  });
}

const PREFIX = `mix${Date.now().toString(36)}`;
// With MQTT_SHARE=0.5, the odd ones are MQTT devices.
const SERIALS = [`${PREFIX}-a0`, `${PREFIX}-m1`, `${PREFIX}-a2`, `${PREFIX}-m3`];
const AMQP = [SERIALS[0]!, SERIALS[2]!];
const MQTT = [SERIALS[1]!, SERIALS[3]!];

beforeAll(async () => {
  vhost = await createTestVhost('sim-mixed');
  const { name, ...policy } = MQTT_SESSION_POLICY;
  await managementRequest('PUT', `/policies/${encodeURIComponent(vhost.vhost)}/${name}`, policy);
  bus = createBus({ url: vhost.url, connectionName: `mixed-test-${randomUUID()}`, logger });
  await bus.start();
  // Like the registry: a queue bound to every command key, so UNROUTABLE must come from the missing device queue.
  await bus.declareQueue(serviceQueue('registry-like', [bindingPatterns.commands]));
  await bus.consume({
    queue: {
      name: `acks-${randomUUID()}`,
      type: 'classic',
      bindings: [bindingPatterns.acks],
      exclusive: true,
      autoDelete: true,
    },
    handler: async (d) => void acks.push(commandAckCodec.decode(d.body, d.contentType)),
  });
});

afterAll(async () => {
  await sim?.stop();
  await bus?.stop();
  await vhost?.drop();
});

const bySerial = (os: CommandOutcome[]) => Object.fromEntries(os.map((o) => [o.serial, o]));

describe('AMQP and MQTT devices in one run, one command path', () => {
  it('sleep, awake, changesamplefrequency, away, TTL-expired and unknown: same outcomes over both transports', async () => {
    sim = simulator();
    await sim.start();
    const commander = createCommander(bus);
    try {
      // The MQTT devices' commands wait in their MQTT session queues, not in AMQP command queues.
      const existing = await bus.existingQueues(SERIALS.flatMap((s) => deviceCommandQueues(s)));
      for (const s of AMQP) expect(existing.has(deviceCommandQueues(s)[0])).toBe(true);
      for (const s of MQTT) {
        expect(existing.has(deviceCommandQueues(s)[0])).toBe(false);
        expect(existing.has(deviceCommandQueues(s)[1])).toBe(true);
      }

      const opts = { issuedBy: 'test', timeoutMs: 15_000 };
      const slept = bySerial(await commander.issue(SERIALS, { type: 'sleep' }, opts));
      for (const s of SERIALS) expect(slept[s], s).toMatchObject({ status: 'APPLIED', state: 'ASLEEP' });
      for (const s of SERIALS) expect(sim.sensors.get(s)!.state).toBe('ASLEEP');

      const woke = bySerial(await commander.issue(SERIALS, { type: 'awake' }, opts));
      for (const s of SERIALS) expect(woke[s], s).toMatchObject({ status: 'APPLIED', state: 'AWAKE' });

      const tuned = bySerial(
        await commander.issue(SERIALS, { type: 'changesamplefrequency', sampleFrequencyHz: 2 }, opts),
      );
      for (const s of SERIALS) expect(tuned[s], s).toMatchObject({ status: 'APPLIED', sampleFrequencyHz: 2 });
      // Outside the sensor's range: the sensor itself rejects, over either transport.
      const refused = bySerial(
        await commander.issue(SERIALS, { type: 'changesamplefrequency', sampleFrequencyHz: 9000 }, opts),
      );
      for (const s of SERIALS) expect(refused[s], s).toMatchObject({ status: 'REJECTED' });

      const [ghost] = await commander.issue([`${PREFIX}-ghost`], { type: 'sleep' }, opts);
      expect(ghost?.status).toBe('UNROUTABLE');

      // Away: the devices disconnect (MQTT: persistent sessions stay; AMQP: the queues stay).
      await sim.stop();
      sim = undefined;

      // A command whose TTL passes while the device is away: EXPIRED for both transports.
      const expired = bySerial(
        await commander.issue(
          SERIALS,
          { type: 'sleep' },
          { issuedBy: 'test', ttlMs: 1000, timeoutMs: 20_000 },
        ),
      );
      for (const s of SERIALS) expect(expired[s], s).toMatchObject({ status: 'EXPIRED' });

      // A command sent while away with a long TTL: TIMED_OUT now, delivered when the device is back.
      const waiting = bySerial(
        await commander.issue(
          SERIALS,
          { type: 'sleep' },
          { issuedBy: 'test', ttlMs: 120_000, timeoutMs: 500 },
        ),
      );
      for (const s of SERIALS) expect(waiting[s], s).toMatchObject({ status: 'TIMED_OUT' });
      sim = simulator();
      await sim.start();
      const ids = new Set(SERIALS.map((s) => waiting[s]!.commandId));
      await waitFor(
        () => acks.filter((a) => ids.has(a.commandId) && a.status === 'APPLIED').length === SERIALS.length,
        'the commands sent while away, applied after reconnecting',
        30_000,
      ).catch((err: unknown) => {
        const seen = acks.filter((a) => ids.has(a.commandId)).map((a) => `${a.serial}:${a.status}`);
        throw new Error(`${String(err)}; acks seen: ${seen.join(' ') || 'none'}`);
      });
      for (const s of SERIALS) expect(sim.sensors.get(s)!.state, s).toBe('ASLEEP');
      // The expired ones were never delivered.
      const expiredIds = new Set(SERIALS.map((s) => expired[s]!.commandId));
      expect(acks.filter((a) => expiredIds.has(a.commandId) && a.status !== 'EXPIRED')).toEqual([]);
    } finally {
      await commander.close();
    }
  }, 120_000);
});
