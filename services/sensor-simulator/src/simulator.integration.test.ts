import { randomUUID } from 'node:crypto';
import { type Bus, createBus } from '@sensor-streaming/bus';
import {
  closeConnectionsByName,
  createTestVhost,
  drainQueue,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import {
  type Command,
  type CommandAck,
  commandAckCodec,
  commandCodec,
  DEAD_LETTER_QUEUE,
  logBatchCodec,
  type LogBatch,
  type MeasurementBatch,
  measurementBatchCodec,
  routingKeys,
  type SensorState,
  sampleTimesUs,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createSimulator, type Simulator } from './simulator.js';

const logger = createLogger({
  service: 'sensor-simulator-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  pretty: false,
});

interface Seen {
  data: MeasurementBatch[];
  logs: LogBatch[];
  states: SensorState[];
  acks: CommandAck[];
}

const serviceName = `simtest-${randomUUID().slice(0, 8)}`;
let vhost: TestVhost;
let observer: Bus;
const seen: Seen = { data: [], logs: [], states: [], acks: [] };
const running: Simulator[] = [];

function simulator(env: Record<string, string> = {}): Simulator {
  const config = loadConfig({
    AMQP_URL: vhost.url,
    SENSOR_COUNT: '50',
    SENSOR_KINDS: 'vibration:0.5,environment:0.3,process:0.2',
    SAMPLE_FREQUENCY_HZ: '20',
    FLUSH_INTERVAL_MS: '200',
    HEARTBEAT_INTERVAL_MS: '1000',
    FAULT_SERIALS: 'sim-0-7:errorburst+spike',
    METRICS_PORT: '0',
    SERVICE_NAME: serviceName,
    ...env,
  });
  const sim = createSimulator({ config, logger, registry: new Registry() });
  running.push(sim);
  return sim;
}

async function stopSim(sim: Simulator): Promise<void> {
  await sim.stop();
  running.splice(running.indexOf(sim), 1);
}

function command(serial: string, type: Command['type'], over: Partial<Command> = {}): Command {
  const now = Date.now() * 1000;
  return {
    commandId: randomUUID(),
    serial,
    type,
    issuedAtUs: now,
    expiresAtUs: now + 60_000_000,
    issuedBy: 'test',
    ...over,
  };
}

async function send(cmd: Command): Promise<void> {
  await observer.publish(routingKeys.command(cmd.serial, cmd.type), commandCodec.encode(cmd), {
    mandatory: true,
  });
}

async function ackOf(commandId: string, n = 1): Promise<CommandAck> {
  await waitFor(
    () => seen.acks.filter((a) => a.commandId === commandId).length >= n,
    `ack of ${commandId}`,
    15_000,
  );
  return seen.acks.find((a) => a.commandId === commandId)!;
}

const dataOf = (serial: string): MeasurementBatch[] => seen.data.filter((b) => b.serial === serial);
const timesOf = (serial: string): number[] => dataOf(serial).flatMap((b) => sampleTimesUs(b));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  vhost = await createTestVhost('simulator');
  observer = createBus({
    url: vhost.url,
    connectionName: `sim-test-${randomUUID()}`,
    logger,
    registry: new Registry(),
  });
  await observer.start();
  const decodeInto =
    <T>(list: T[], decode: (b: Buffer, ct: string | undefined) => T) =>
    async (d: { body: Buffer; contentType: string | undefined }): Promise<void> => {
      list.push(decode(d.body, d.contentType));
    };
  const q = (name: string, key: string) => ({
    name: `${name}-${randomUUID()}`,
    type: 'classic' as const,
    bindings: [key],
    exclusive: true,
    autoDelete: true,
  });
  await observer.consume({
    queue: q('data', 'sensor.*.data'),
    prefetch: 1000,
    concurrency: 1,
    handler: decodeInto(seen.data, (b, ct) => measurementBatchCodec.decode(b, ct)),
  });
  await observer.consume({
    queue: q('logs', 'sensor.*.logs'),
    prefetch: 1000,
    handler: decodeInto(seen.logs, (b, ct) => logBatchCodec.decode(b, ct)),
  });
  await observer.consume({
    queue: q('state', 'sensor.*.state'),
    prefetch: 1000,
    handler: decodeInto(seen.states, (b, ct) => sensorStateCodec.decode(b, ct)),
  });
  await observer.consume({
    queue: q('acks', 'sensor.*.acks'),
    prefetch: 1000,
    handler: decodeInto(seen.acks, (b, ct) => commandAckCodec.decode(b, ct)),
  });
});

afterAll(async () => {
  for (const s of running.splice(0)) await s.stop();
  await observer?.stop();
  await vhost?.drop();
});

describe('sensor-simulator against the real broker', () => {
  let sim: Simulator;

  it('50 sensors publish births, data, logs and heartbeats', async () => {
    sim = simulator();
    await sim.start();
    expect(await sim.readiness[0]!.check()).toBe(true);
    expect(await sim.readiness[1]!.check()).toBe(true);
    const serials = [...sim.sensors.keys()];
    expect(serials).toHaveLength(50);
    await waitFor(() => new Set(seen.data.map((b) => b.serial)).size === 50, 'data from all 50 sensors');
    await waitFor(
      () => serials.every((s) => seen.states.some((st) => st.serial === s && st.reason === 'HEARTBEAT')),
      'a heartbeat from every sensor',
    );
    for (const s of serials) {
      const birth = seen.states.find((st) => st.serial === s && st.reason === 'BIRTH');
      expect(birth, s).toMatchObject({ state: 'AWAKE', sampleFrequencyHz: 20 });
      expect(birth!.labels.kind).toBe(birth!.kind);
      expect(
        seen.logs.some((l) => l.serial === s && l.entries.some((e) => e.message.startsWith('boot'))),
        s,
      ).toBe(true);
    }
    await waitFor(
      () =>
        seen.logs.some(
          (l) =>
            l.serial === 'sim-0-7' &&
            l.entries.some((e) => e.level === 'ERROR' && /^C0\d\d_/.test(e.errorCode)),
        ),
      'ERROR logs from the faulty sensor',
    );
    // Batches of one sensor+channel are contiguous: sequence numbers and sample times line up.
    const vib = dataOf('sim-0-0').filter((b) => b.channel === dataOf('sim-0-0')[0]!.channel);
    for (let i = 1; i < vib.length; i++) {
      expect(vib[i]!.sequence).toBe(vib[i - 1]!.sequence + 1);
      const prev = sampleTimesUs(vib[i - 1]!);
      expect(vib[i]!.firstSampleTimeUs - prev[prev.length - 1]!).toBeCloseTo(50_000, -1);
    }
  });

  it('loses no sample when its broker connections are cut: the sample clock catches up after reconnecting', async () => {
    const serial = 'sim-0-1';
    const before = Date.now() * 1000;
    // the bus's publish/consume connections and the command connection (all named `<service>-0.*`)
    expect(await closeConnectionsByName(`${serviceName}-0`, { expect: 3 })).toBeGreaterThanOrEqual(2);
    await waitFor(
      async () => (await sim.readiness[0]!.check()) && (await sim.readiness[1]!.check()),
      'reconnected',
      20_000,
    );
    const after = Date.now() * 1000;
    await waitFor(() => timesOf(serial).some((t) => t > after + 500_000), 'data after the reconnect', 15_000);
    const channel = dataOf(serial)[0]!.channel;
    const times = [
      ...new Set(
        dataOf(serial)
          .filter((b) => b.channel === channel)
          .flatMap((b) => sampleTimesUs(b)),
      ),
    ]
      .filter((t) => t > before - 1_000_000 && t < after + 500_000)
      .sort((a, b) => a - b);
    expect(times.length).toBeGreaterThan(20);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(50_001);
  });

  it('sleep: APPLIED ack, then no sample timed after the ack; awake resumes; changesamplefrequency 50 Hz shows in the data', async () => {
    const serial = 'sim-0-3';
    const sleepCmd = command(serial, 'sleep');
    await send(sleepCmd);
    const ack = await ackOf(sleepCmd.commandId);
    expect(ack).toMatchObject({ status: 'APPLIED', state: 'ASLEEP', type: 'sleep' });
    await waitFor(
      () => seen.states.some((s) => s.serial === serial && s.reason === 'CHANGE' && s.state === 'ASLEEP'),
      'state CHANGE',
    );
    await sleep(1500); // several flush intervals
    expect(Math.max(...timesOf(serial))).toBeLessThan(ack.timeUs);
    // Still connected: heartbeats keep coming, reporting ASLEEP.
    await waitFor(
      () => seen.states.some((s) => s.serial === serial && s.reason === 'HEARTBEAT' && s.state === 'ASLEEP'),
      'asleep heartbeat',
    );

    const awakeCmd = command(serial, 'awake');
    await send(awakeCmd);
    const awakeAck = await ackOf(awakeCmd.commandId);
    expect(awakeAck).toMatchObject({ status: 'APPLIED', state: 'AWAKE', sampleFrequencyHz: 20 });
    await waitFor(() => timesOf(serial).some((t) => t >= awakeAck.timeUs), 'data after awake');

    const freqCmd = command(serial, 'changesamplefrequency', { sampleFrequencyHz: 50 });
    await send(freqCmd);
    const freqAck = await ackOf(freqCmd.commandId);
    expect(freqAck).toMatchObject({ status: 'APPLIED', state: 'AWAKE', sampleFrequencyHz: 50 });
    const from = freqAck.timeUs;
    await waitFor(() => timesOf(serial).some((t) => t >= from + 2_000_000), '2 s of data at the new rate');
    const channel = dataOf(serial)[0]!.channel;
    const window = dataOf(serial)
      .filter((b) => b.channel === channel)
      .flatMap((b) => sampleTimesUs(b))
      .filter((t) => t >= from && t < from + 2_000_000);
    expect(window.length / 2).toBeCloseTo(50, 0);
    expect(window.length).toBe(100);

    const tooFast = command(serial, 'changesamplefrequency', { sampleFrequencyHz: 20_000 });
    await send(tooFast);
    const rejected = await ackOf(tooFast.commandId);
    expect(rejected.status).toBe('REJECTED');
    expect(rejected.reason).toMatch(/20000 Hz outside/);
  });

  it('applies a duplicated command id once and answers both deliveries with the same ack', async () => {
    const serial = 'sim-0-4';
    const cmd = command(serial, 'sleep');
    await send(cmd);
    await ackOf(cmd.commandId);
    await send(cmd);
    await ackOf(cmd.commandId, 2);
    const acks = seen.acks.filter((a) => a.commandId === cmd.commandId);
    expect(acks[1]).toEqual(acks[0]);
    await sleep(300);
    expect(seen.states.filter((s) => s.serial === serial && s.reason === 'CHANGE')).toHaveLength(1);
  });

  it('dead-letters an undecodable command and keeps serving the others', async () => {
    await observer.publish(routingKeys.command('sim-0-5', 'sleep'), Buffer.from('not a command'), {
      contentType: 'application/json',
    });
    const ok = command('sim-0-5', 'sleep');
    await send(ok);
    expect((await ackOf(ok.commandId)).status).toBe('APPLIED');
    let dead: Awaited<ReturnType<typeof drainQueue>> = [];
    await waitFor(async () => {
      dead = dead.concat(await drainQueue(vhost.url, DEAD_LETTER_QUEUE));
      return dead.some((m) => m.routingKey === 'sensor.sim-0-5.commands.sleep');
    }, 'the poison command in the dead-letter queue');
  });

  it('publishes an OFFLINE will for every sensor on graceful shutdown', async () => {
    const before = seen.data.length;
    await stopSim(sim);
    await waitFor(() => seen.states.filter((s) => s.reason === 'WILL').length >= 50, 'OFFLINE wills');
    for (const s of seen.states.filter((st) => st.reason === 'WILL')) expect(s.state).toBe('OFFLINE');
    expect(seen.data.length).toBeGreaterThan(before); // the final flush
  });

  it('a command sent while the simulator is stopped waits in its queue and is applied on restart; an expired one is acked EXPIRED', async () => {
    const waiting = command('sim-0-9', 'sleep');
    const expiring = command('sim-0-10', 'sleep', { expiresAtUs: Date.now() * 1000 + 200_000 });
    await send(waiting);
    await send(expiring);
    await sleep(600);
    expect(seen.acks.some((a) => a.commandId === waiting.commandId)).toBe(false);
    const again = simulator();
    await again.start();
    expect(await ackOf(waiting.commandId)).toMatchObject({ status: 'APPLIED', state: 'ASLEEP' });
    const expired = await ackOf(expiring.commandId);
    expect(expired.status).toBe('EXPIRED');
    expect(expired.state).toBe('AWAKE');
    expect(again.sensors.get('sim-0-9')!.state).toBe('ASLEEP');
    expect(again.sensors.get('sim-0-10')!.state).toBe('AWAKE');
    await stopSim(again);
  });
});
