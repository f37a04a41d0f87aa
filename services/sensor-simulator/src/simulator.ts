import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import {
  amqpSocketOptions,
  type Bus,
  commandQueue,
  createBus,
  type MultiConsumer,
} from '@sensor-streaming/bus';
import {
  commandAckCodec,
  commandCodec,
  commandQueueName,
  isProtocolError,
  logBatchCodec,
  measurementBatchCodec,
  type MeasurementBatch,
  sensorStateCodec,
} from '@sensor-streaming/protocol';
import type { HealthCheck, Logger } from '@sensor-streaming/runtime';
import { connect } from 'amqplib';
import type { Registry } from 'prom-client';
import type { SimulatorConfig } from './config.js';
import { buildFleet } from './fleet.js';
import { createSimulatorMetrics, type SimulatorMetrics } from './metrics.js';
import { mqttSerials, parseMqttCredentials } from './mqtt-credentials.js';
import { DEFAULT_SENSOR_OPTIONS, SimulatedSensor } from './sensor.js';
import {
  createAmqpTransport,
  createMqttTransport,
  createSplitTransport,
  declareMqttForwarding,
  type MqttCredential,
  type MessageKind,
  type SensorTransport,
} from './transport.js';

export interface SimulatorDeps {
  config: SimulatorConfig;
  logger: Logger;
  registry: Registry;
  /** Injected bus (tests, benchmark); otherwise one is created from AMQP_URL. The simulator starts and stops it. */
  bus?: Bus;
  /** Injected bus for command acks (AMQP transport); otherwise a second one is created, see createAmqpTransport. */
  controlBus?: Bus;
  /** Injected transport; otherwise AMQP (the bus) or MQTT per TRANSPORT. */
  transport?: SensorTransport;
  /** MQTT credentials (RabbitMQ: `<vhost>:<user>`); default from MQTT_URL. */
  mqttUsername?: string;
  mqttPassword?: string;
  /** Current time in µs since the epoch; default Date.now() * 1000. */
  nowUs?: () => number;
  /** Flush slots: sensors are spread over this many ticks per flush interval. Default 10. */
  flushSlots?: number;
}

export interface SimulatorStats {
  samplesPublished: number;
  messagesPublished: number;
  publishFailures: number;
  ticks: number;
  ticksSkipped: number;
}

export interface Simulator {
  start(): Promise<void>;
  stop(): Promise<void>;
  readiness: HealthCheck[];
  readonly sensors: ReadonlyMap<string, SimulatedSensor>;
  stats(): SimulatorStats;
}

interface Outgoing {
  kind: MessageKind;
  serial: string;
  body: Buffer;
  /** Samples carried (data only), with their channel. */
  samples: number;
  channel: string;
  /** Command path: ack, state change, and the samples that must precede them. */
  urgent?: boolean;
}

/** At most this many flush ticks publish at once; later ones are skipped (samples go out next time). */
const MAX_TICKS_IN_FLIGHT = 2;

/**
 * Wires the simulated sensors to the broker: a flush loop (sampling, logs,
 * heartbeats), command consumption, births and wills. `main.ts` runs it;
 * tests and the benchmark build it directly.
 */
export function createSimulator(deps: SimulatorDeps): Simulator {
  const { config } = deps;
  const log = deps.logger.child({ module: 'simulator' });
  const nowUs = deps.nowUs ?? ((): number => Date.now() * 1000);
  const metrics: SimulatorMetrics = createSimulatorMetrics(deps.registry);
  const slots = Math.max(1, deps.flushSlots ?? 10);
  const bus =
    deps.bus ??
    createBus({
      url: config.amqpUrl,
      connectionName: `${config.serviceName}-${config.simulatorIndex}`,
      logger: deps.logger.child({ module: 'bus' }),
      registry: deps.registry,
      confirmWindow: Math.max(1000, Math.min(config.publishConcurrency, 10_000)),
      tls: config.tls,
    });

  const sensors = new Map<string, SimulatedSensor>();
  const order: SimulatedSensor[] = [];
  const nextHeartbeatUs: number[] = [];
  const chains = new Map<string, Promise<void>>();
  const stats: SimulatorStats = {
    samplesPublished: 0,
    messagesPublished: 0,
    publishFailures: 0,
    ticks: 0,
    ticksSkipped: 0,
  };

  let transport: SensorTransport | undefined = deps.transport;
  let controlBus: Bus | undefined = deps.controlBus;
  let commands: MultiConsumer | undefined;
  let running = false;
  let commandsOverAmqp = true;
  let timer: NodeJS.Timeout | undefined;
  let tickNo = 0;
  /** The flush slot the next tick that runs takes: advanced only by ticks that run (see onTimer). */
  let nextSlot = 0;
  let loopStart = 0;
  const inFlightTicks = new Set<Promise<void>>();
  let lastFailureLog = 0;

  function updateStateGauge(): void {
    let awake = 0;
    let asleep = 0;
    for (const s of order) {
      if (s.state === 'AWAKE') awake++;
      else asleep++;
    }
    metrics.sensors.set({ state: 'awake' }, running ? awake : 0);
    metrics.sensors.set({ state: 'asleep' }, running ? asleep : 0);
    metrics.sensors.set({ state: 'offline' }, running ? 0 : order.length);
  }

  function dataMessages(batches: MeasurementBatch[], out: Outgoing[]): void {
    for (const b of batches) {
      out.push({
        kind: 'data',
        serial: b.serial,
        body: measurementBatchCodec.encode(b),
        samples: b.values.length,
        channel: b.channel,
      });
    }
  }

  async function publishOne(m: Outgoing): Promise<boolean> {
    const t = transport!;
    try {
      await t.publish(m.kind, m.serial, m.body, m.urgent === true);
      stats.messagesPublished++;
      metrics.messagesPublished.inc({ kind: m.kind });
      if (m.samples > 0) {
        stats.samplesPublished += m.samples;
        metrics.samplesPublished.inc({ channel: m.channel }, m.samples);
      }
      return true;
    } catch (err) {
      stats.publishFailures++;
      metrics.publishFailures.inc({ kind: m.kind });
      const now = Date.now();
      if (now - lastFailureLog > 5000) {
        lastFailureLog = now;
        log.warn(
          { err, kind: m.kind, serial: m.serial },
          'publish failed; message lost (logged at most every 5 s)',
        );
      }
      return false;
    }
  }

  /** Publishes with at most `config.publishConcurrency` awaiting their confirm at once. */
  async function publishAll(items: Outgoing[]): Promise<number> {
    let next = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const m = items[next++]!;
        if (!(await publishOne(m))) failed++;
      }
    };
    const n = Math.min(config.publishConcurrency, items.length);
    await Promise.all(Array.from({ length: n }, worker));
    return failed;
  }

  function stateMessage(
    s: SimulatedSensor,
    reason: 'BIRTH' | 'HEARTBEAT' | 'CHANGE' | 'WILL',
    now: number,
  ): Outgoing {
    const st = reason === 'WILL' ? s.snapshot('WILL', now, 'OFFLINE') : s.snapshot(reason, now);
    return { kind: 'state', serial: s.serial, body: sensorStateCodec.encode(st), samples: 0, channel: '' };
  }

  /** Everything sensor `index` has to say at `now`: data, logs, heartbeat when due (none in the final flush). */
  function gather(index: number, now: number, out: Outgoing[], final = false): void {
    const s = order[index]!;
    // While its connection is down, a sensor's samples stay due (the clock keeps up to maxBacklogS of
    // them) rather than overflow the publish buffer and get lost; they go out once it is back.
    if (!final && !transport!.canPublish(s.serial)) return;
    dataMessages(s.collect(now), out);
    const logs = s.takeLogs(now);
    if (logs)
      out.push({ kind: 'logs', serial: s.serial, body: logBatchCodec.encode(logs), samples: 0, channel: '' });
    if (!final && now >= nextHeartbeatUs[index]!) {
      nextHeartbeatUs[index] = now + config.heartbeatIntervalMs * 1000;
      out.push(stateMessage(s, 'HEARTBEAT', now));
    }
  }

  async function tick(slot: number): Promise<void> {
    const started = performance.now();
    const now = nowUs();
    const out: Outgoing[] = [];
    for (let i = slot; i < order.length; i += slots) gather(i, now, out);
    await publishAll(out);
    metrics.flushDuration.observe((performance.now() - started) / 1000);
  }

  function schedule(): void {
    if (!running) return;
    const tickMs = config.flushIntervalMs / slots;
    const due = loopStart + (tickNo + 1) * tickMs;
    timer = setTimeout(onTimer, Math.max(0, due - performance.now()));
  }

  function onTimer(): void {
    timer = undefined;
    if (!running) return;
    tickNo++;
    stats.ticks++;
    if (inFlightTicks.size >= MAX_TICKS_IN_FLIGHT) {
      stats.ticksSkipped++;
      metrics.ticksSkipped.inc();
    } else {
      // A skipped tick delays the slots instead of dropping one: with the slot taken from tickNo, skips in
      // step with the ticks can starve the same slot for good (the likely cause in a loaded, profiled
      // 10,000-device run: 250 devices of one process, every 10th serial, stopped publishing; the rest streamed).
      const slot = nextSlot;
      nextSlot = (nextSlot + 1) % slots;
      const p: Promise<void> = tick(slot)
        .catch((err: unknown) => log.error({ err }, 'bug: flush tick failed'))
        .finally(() => inFlightTicks.delete(p));
      inFlightTicks.add(p);
    }
    // After a long stall, do not fire a burst of catch-up ticks: the sample clock already catches up.
    const tickMs = config.flushIntervalMs / slots;
    const behind = Math.floor((performance.now() - loopStart) / tickMs) - tickNo;
    if (behind > slots) tickNo += behind - (behind % slots);
    schedule();
  }

  /** Commands of one sensor are handled one at a time, in delivery order. */
  function onCommand(serial: string, body: Buffer, contentType: string | undefined): Promise<void> {
    const prev = chains.get(serial) ?? Promise.resolve();
    const p = prev.then(() => handleCommand(serial, body, contentType));
    const tail = p.catch(() => undefined);
    chains.set(serial, tail);
    void tail.then(() => {
      if (chains.get(serial) === tail) chains.delete(serial);
    });
    return p;
  }

  async function handleCommand(serial: string, body: Buffer, contentType: string | undefined): Promise<void> {
    const sensor = sensors.get(serial);
    let cmd: ReturnType<typeof commandCodec.decode>;
    try {
      if (sensor === undefined)
        throw Object.assign(new Error(`no sensor ${serial} in this process`), { permanent: true });
      cmd = commandCodec.decode(body, contentType);
    } catch (err) {
      metrics.commandsRejected.inc({
        kind: 'commands',
        reason: isProtocolError(err) ? 'invalid' : 'unknown_sensor',
      });
      throw err;
    }
    const outcome = sensor.handleCommand(cmd, nowUs());
    metrics.commands.inc({ type: cmd.type, status: outcome.ack.status });
    const first: Outgoing[] = [];
    dataMessages(outcome.batches, first);
    for (const m of first) m.urgent = true;
    if (outcome.changed) updateStateGauge();
    const ack: Outgoing = {
      kind: 'acks',
      serial,
      body: commandAckCodec.encode(outcome.ack),
      samples: 0,
      channel: '',
      urgent: true,
    };
    // The samples up to the command instant, the state change and the ack go out together on
    // the urgent channel, in that order, and are confirmed together: one broker round trip
    // instead of three. A failure throws, so the command is redelivered and answered from
    // the duplicate memory.
    const [dataFailed, stateOk, ackOk] = await Promise.all([
      first.length > 0 ? publishAll(first) : Promise.resolve(0),
      outcome.changed
        ? publishOne({ ...stateMessage(sensor, 'CHANGE', outcome.ack.timeUs), urgent: true })
        : Promise.resolve(true),
      publishOne(ack),
    ]);
    if (dataFailed > 0) throw new Error('could not publish the samples taken before the command');
    if (!stateOk) throw new Error('could not publish the state change');
    if (!ackOk) throw new Error('could not publish the command ack');
    log.debug(
      {
        serial,
        commandId: cmd.commandId,
        type: cmd.type,
        status: outcome.ack.status,
        duplicate: outcome.duplicate,
      },
      'command handled',
    );
  }

  async function startControlBus(): Promise<Bus> {
    controlBus ??= createBus({
      url: config.amqpUrl,
      connectionName: `${config.serviceName}-${config.simulatorIndex}.control`,
      logger: deps.logger.child({ module: 'control-bus' }),
      confirmWindow: 1000,
      tls: config.tls,
      // acks and state changes are small frames on a latency path: with Nagle on, one written while the
      // previous is unacknowledged waits for the broker's delayed ACK (~40 ms)
      noDelay: true,
    });
    await controlBus.start();
    return controlBus;
  }

  async function start(): Promise<void> {
    const bootUs = nowUs();
    const specs = buildFleet({
      serials: config.serials,
      kindMix: config.kindMix,
      sampleFrequencyHz: config.sampleFrequencyHz,
      faultProbabilities: config.faultProbabilities,
      faultSerials: config.faultSerials,
      seed: config.seed,
    });
    const opts = {
      ...DEFAULT_SENSOR_OPTIONS,
      maxBatchSamples: config.maxBatchSamples,
      samplesPerMessage: config.samplesPerMessage,
      bearingFaultGrowthS: config.bearingFaultGrowthS,
      maxBacklogS: config.maxBacklogS,
    };
    for (const [i, spec] of specs.entries()) {
      const s = new SimulatedSensor(spec, bootUs, opts);
      s.boot(bootUs);
      sensors.set(s.serial, s);
      order.push(s);
      // Spread heartbeats over the interval.
      nextHeartbeatUs.push(bootUs + Math.round(config.heartbeatIntervalMs * 1000 * (1 + i / specs.length)));
    }
    const faulty = order.filter((s) => s.faults.size > 0).length;
    log.info(
      { sensors: order.length, faulty, index: config.simulatorIndex, transport: config.transport },
      'sensors built',
    );

    await bus.start();
    // MQTT devices take their commands over their own MQTT session; the others through the command queues.
    const overMqtt =
      deps.transport === undefined ? mqttSerials(config.serials, config.mqttShare) : new Set<string>();
    if (transport === undefined) {
      let credentials: Map<string, MqttCredential> | undefined;
      if (overMqtt.size > 0 && config.mqttCredentialsFile !== undefined) {
        credentials = parseMqttCredentials(
          await readFile(config.mqttCredentialsFile, 'utf8'),
          config.mqttCredentialsFile,
        );
        const missing = [...overMqtt].filter((s) => !credentials!.has(s));
        if (missing.length > 0)
          throw new Error(
            `MQTT_CREDENTIALS_FILE has no credential for ${missing.length} MQTT sensor(s), e.g. ${missing.slice(0, 3).join(', ')}`,
          );
      }
      const mqttT =
        overMqtt.size === 0
          ? undefined
          : createMqttTransport({
              url: config.mqttUrl,
              ...(deps.mqttUsername === undefined ? {} : { username: deps.mqttUsername }),
              ...(deps.mqttPassword === undefined ? {} : { password: deps.mqttPassword }),
              ...(credentials === undefined ? {} : { credentials: (s: string) => credentials.get(s) }),
              serials: [...overMqtt],
              will: (serial) =>
                sensorStateCodec.encode(sensors.get(serial)!.snapshot('WILL', nowUs(), 'OFFLINE')),
              onCommand: (serial, body) => onCommand(serial, body, undefined),
              logger: deps.logger,
              tls: config.tls,
              connectConcurrency: config.mqttConnectConcurrency,
            });
      if (mqttT !== undefined && overMqtt.size === config.serials.length) transport = mqttT;
      else {
        const amqpT = createAmqpTransport(bus, await startControlBus());
        transport = mqttT === undefined ? amqpT : createSplitTransport(amqpT, mqttT, overMqtt);
      }
    }
    if (transport.name === 'mqtt') {
      // Before the first MQTT publish (the births), or they would go nowhere.
      const conn = await connect(
        config.amqpUrl,
        amqpSocketOptions(config.amqpUrl, { clientProperties: {}, timeout: 10_000 }, config.tls),
      );
      try {
        await declareMqttForwarding(await conn.createChannel());
      } finally {
        await conn.close();
      }
    }
    await transport.start();

    running = true;
    updateStateGauge();
    // Birth first, so the registry knows every sensor before any ack or data.
    const births = order.map((s) => stateMessage(s, 'BIRTH', bootUs));
    const failedBirths = await publishAll(births);
    if (failedBirths > 0)
      log.warn({ failedBirths }, 'some births were not confirmed; heartbeats will follow');

    // Command queues before the flush loop: declaring thousands of queues competes with the data
    // stream for the broker. Sampling starts once they are consumed.
    const amqpSerials = config.serials.filter((s) => !overMqtt.has(s));
    commandsOverAmqp = amqpSerials.length > 0;
    if (amqpSerials.length > 0) {
      // All command queues over a few channels of the bus's consume connection (the bus re-declares and
      // consumes them again after a reconnect, and dead-letters what cannot be handled).
      const serialOf = new Map(amqpSerials.map((serial) => [commandQueueName(serial), serial]));
      const t0 = performance.now();
      commands = await bus.consumeMany({
        queues: amqpSerials.map((serial) => commandQueue(serial, config.commandTtlMs)),
        queuesPerChannel: config.sensorsPerCommandChannel,
        channelPrefetch: config.commandPrefetch,
        prefetch: Math.min(config.commandPrefetch, 10),
        concurrency: config.commandConcurrency,
        // Re-declared after every reconnect of the consume connection.
        ...(transport.name === 'mqtt' ? { setup: declareMqttForwarding } : {}),
        handler: (d) => {
          const serial = serialOf.get(d.queue);
          if (serial === undefined) {
            throw Object.assign(new Error(`no sensor consumes queue ${d.queue} in this process`), {
              permanent: true,
            });
          }
          return onCommand(serial, d.body, d.contentType);
        },
      });
      log.info(
        { queues: amqpSerials.length, ms: Math.round(performance.now() - t0) },
        'consuming command queues',
      );
    }
    const samplingUs = nowUs();
    for (const s of order) s.startSampling(samplingUs);
    loopStart = performance.now();
    tickNo = 0;
    nextSlot = 0;
    schedule();
    log.info({ sensors: order.length, flushIntervalMs: config.flushIntervalMs }, 'simulator started');
  }

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      // 1. stop taking commands (handlers in progress finish and ack)
      await commands
        ?.stop()
        .catch((err: unknown) => log.warn({ err }, 'stopping the command consumer failed'));
      // 2. stop sampling; wait for ticks in flight
      const wasRunning = running;
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await Promise.all([...inFlightTicks]);
      await Promise.all([...chains.values()]);
      if (wasRunning && transport) {
        // 3. flush what is due, then the OFFLINE wills
        const now = nowUs();
        const out: Outgoing[] = [];
        for (let i = 0; i < order.length; i++) gather(i, now, out, true);
        for (const s of order) out.push(stateMessage(s, 'WILL', now));
        const failed = await publishAll(out);
        log.info({ messages: out.length, failed }, 'final flush and OFFLINE wills published');
      }
      updateStateGauge();
      // 4. close
      await transport?.stop().catch((err: unknown) => log.warn({ err }, 'closing the transport failed'));
      await Promise.all([bus.stop(), controlBus?.stop()]);
      log.info(stats, 'simulator stopped');
    })();
    return stopping;
  }

  return {
    start,
    stop,
    readiness: [
      { name: 'bus', check: () => running && bus.isConnected() && (transport?.isConnected() ?? false) },
      {
        name: 'commands',
        // MQTT devices' commands come over their MQTT sessions (the 'bus' check covers them)
        check: () => commands?.isConsuming() === true || (running && !commandsOverAmqp),
      },
    ],
    sensors,
    stats: () => ({ ...stats }),
  };
}
