import { randomUUID } from 'node:crypto';
import { type Bus, commandQueue, createBus, serviceQueue } from '@sensor-streaming/bus';
import { createTestVhost, deleteQueues, drainQueue, type TestVhost } from '@sensor-streaming/bus/testing';
import { bindingPatterns, commandAckCodec, commandCodec, routingKeys } from '@sensor-streaming/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommandOutcome, createCommander } from './commands.js';
import { mqttSessionQueueName } from './device-queues.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function newBus(url: string): Promise<Bus> {
  const bus = createBus({ url, connectionName: `control-test-${randomUUID()}`, logger });
  cleanups.push(() => bus.stop());
  await bus.start();
  return bus;
}

/** A minimal sensor: consumes its command queue and answers each command with an ack. */
async function fakeSensor(bus: Bus, serial: string, answer: 'APPLIED' | 'REJECTED'): Promise<string[]> {
  const seen: string[] = [];
  await bus.consume({
    queue: commandQueue(serial, 60_000),
    handler: async (d) => {
      const cmd = commandCodec.decode(d.body, d.contentType);
      seen.push(cmd.commandId);
      await bus.publish(
        routingKeys.acks(serial),
        commandAckCodec.encode({
          commandId: cmd.commandId,
          serial,
          status: answer,
          reason: answer === 'REJECTED' ? 'frequency out of range' : '',
          state: cmd.type === 'sleep' ? 'ASLEEP' : 'AWAKE',
          timeUs: Date.now() * 1000,
          type: cmd.type,
        }),
      );
    },
  });
  return seen;
}

/**
 * A test vhost with two devices' command queues: `amqp-dev`'s AMQP command queue, and `mqtt-dev`'s MQTT
 * session queue (the queue the MQTT plugin keeps a persistent session in, bound as the device subscribes).
 */
async function twoDevices(): Promise<{ vhost: TestVhost; bus: Bus; session: string }> {
  const vhost = await createTestVhost('control');
  cleanups.push(() => vhost.drop());
  const bus = await newBus(vhost.url);
  await bus.declareQueue(commandQueue('amqp-dev', 60_000));
  const session = mqttSessionQueueName('mqtt-dev');
  await bus.declareQueue({ name: session, type: 'classic', bindings: ['sensor.mqtt-dev.commands.*'] });
  return { vhost, bus, session };
}

describe('createCommander against the real broker', () => {
  it('publishes to each sensor, matches acks by command id and reports round trips', async () => {
    const vhost = await createTestVhost('control');
    cleanups.push(() => vhost.drop());
    const sensorBus = await newBus(vhost.url);
    const seenA = await fakeSensor(sensorBus, 'pump-a', 'APPLIED');
    const seenB = await fakeSensor(sensorBus, 'pump-b', 'REJECTED');
    const bus = await newBus(vhost.url);
    // Like the registry: a queue bound to every command key makes any command routable,
    // so an unknown sensor must be found out by its missing command queue.
    await bus.declareQueue(serviceQueue('registry-like', [bindingPatterns.commands]));
    const commander = createCommander(bus);
    cleanups.push(() => commander.close());

    const progress: CommandOutcome[] = [];
    const outcomes = await commander.issue(
      ['pump-a', 'pump-b', 'ghost'],
      { type: 'sleep' },
      { issuedBy: 'test', timeoutMs: 5000, onOutcome: (o) => progress.push(o) },
    );

    const bySerial = Object.fromEntries(outcomes.map((o) => [o.serial, o]));
    expect(bySerial['pump-a']).toMatchObject({ status: 'APPLIED', state: 'ASLEEP', type: 'sleep' });
    expect(bySerial['pump-a']?.rttMs).toBeGreaterThan(0);
    expect(bySerial['pump-b']).toMatchObject({ status: 'REJECTED', reason: 'frequency out of range' });
    expect(bySerial.ghost).toMatchObject({ status: 'UNROUTABLE', rttMs: null });
    expect(seenA).toEqual([bySerial['pump-a']?.commandId]);
    expect(seenB).toEqual([bySerial['pump-b']?.commandId]);
    expect(progress).toHaveLength(3);
  });

  it('reports TIMED_OUT when the queue exists but nobody answers, and leaves the command queued', async () => {
    const vhost = await createTestVhost('control');
    cleanups.push(() => vhost.drop());
    const bus = await newBus(vhost.url);
    await bus.declareQueue(commandQueue('sleepy', 60_000));
    const commander = createCommander(bus);
    cleanups.push(() => commander.close());

    const [outcome] = await commander.issue(
      ['sleepy'],
      { type: 'changesamplefrequency', sampleFrequencyHz: 50 },
      { issuedBy: 'test', timeoutMs: 300 },
    );
    expect(outcome).toMatchObject({ serial: 'sleepy', status: 'TIMED_OUT', rttMs: null });

    // The command waits for the sensor: a late consumer still receives it.
    const received = await new Promise<number | undefined>((resolve) => {
      void bus.consume({
        queue: commandQueue('sleepy', 60_000),
        handler: async (d) => resolve(commandCodec.decode(d.body, d.contentType).sampleFrequencyHz),
      });
    });
    expect(received).toBe(50);
  });

  it('publishes commands transient, to an AMQP command queue and an MQTT session queue alike', async () => {
    const { vhost, bus, session } = await twoDevices();
    const commander = createCommander(bus);
    cleanups.push(() => commander.close());

    const outcomes = await commander.issue(
      ['amqp-dev', 'mqtt-dev'],
      { type: 'sleep' },
      { issuedBy: 'test', wait: false },
    );
    expect(outcomes.map((o) => o.status)).toEqual(['PUBLISHED', 'PUBLISHED']);
    const [toAmqp] = await drainQueue(vhost.url, 'sensor.amqp-dev.commands');
    const [toMqtt] = await drainQueue(vhost.url, session);
    expect(toAmqp?.routingKey).toBe('sensor.amqp-dev.commands.sleep');
    expect(toAmqp?.persistent).toBe(false);
    expect(toMqtt?.routingKey).toBe('sensor.mqtt-dev.commands.sleep');
    expect(toMqtt?.persistent).toBe(false);
  });

  it('asks where each device was found last: MQTT devices cost no missed passive declare once found', async () => {
    const { vhost, bus, session } = await twoDevices();
    // the real bus, with the queue names each existence check asked for recorded
    const asked: string[][] = [];
    const spied = new Proxy(bus, {
      get(target, prop) {
        if (prop === 'existingQueues')
          return (names: readonly string[]) => {
            asked.push([...names].sort());
            return target.existingQueues(names);
          };
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const commander = createCommander(spied);
    cleanups.push(() => commander.close());
    const publish = async (): Promise<string[]> =>
      (
        await commander.issue(['amqp-dev', 'mqtt-dev'], { type: 'sleep' }, { issuedBy: 'test', wait: false })
      ).map((o) => o.status);

    expect(await publish()).toEqual(['PUBLISHED', 'PUBLISHED']);
    // first time: the AMQP queues of both, then the MQTT session of the one missing
    expect(asked.splice(0)).toEqual([['sensor.amqp-dev.commands', 'sensor.mqtt-dev.commands'], [session]]);
    expect(await publish()).toEqual(['PUBLISHED', 'PUBLISHED']);
    // then each where it was found: one round, no miss
    expect(asked.splice(0)).toEqual([[session, 'sensor.amqp-dev.commands']]);

    // the MQTT device comes back over AMQP: one miss, then found there, and remembered
    await deleteQueues(vhost.url, [session]);
    await bus.declareQueue(commandQueue('mqtt-dev', 60_000));
    expect(await publish()).toEqual(['PUBLISHED', 'PUBLISHED']);
    expect(asked.splice(0)).toEqual([[session, 'sensor.amqp-dev.commands'], ['sensor.mqtt-dev.commands']]);
    expect(await publish()).toEqual(['PUBLISHED', 'PUBLISHED']);
    expect(asked.splice(0)).toEqual([['sensor.amqp-dev.commands', 'sensor.mqtt-dev.commands']]);
    await drainQueue(vhost.url, 'sensor.amqp-dev.commands');
  });

  it('with wait=false only publishes, and validates everything before publishing anything', async () => {
    const vhost = await createTestVhost('control');
    cleanups.push(() => vhost.drop());
    const bus = await newBus(vhost.url);
    await bus.declareQueue(commandQueue('quiet', 60_000));
    const commander = createCommander(bus);
    cleanups.push(() => commander.close());

    const [outcome] = await commander.issue(['quiet'], { type: 'awake' }, { issuedBy: 'test', wait: false });
    expect(outcome?.status).toBe('PUBLISHED');
    await expect(
      commander.issue(['quiet', 'bad.serial'], { type: 'awake' }, { issuedBy: 'test', wait: false }),
    ).rejects.toThrow(/serial/);
    await expect(
      commander.issue(
        ['quiet'],
        { type: 'changesamplefrequency', sampleFrequencyHz: -1 },
        { issuedBy: 'test' },
      ),
    ).rejects.toThrow(/positive/);
  });
});
