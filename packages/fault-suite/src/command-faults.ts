import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createBus } from '@sensor-streaming/bus';
import { type CommandOutcome, createCommander } from '@sensor-streaming/control';
import { bindingPatterns, commandAckCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { sleep, waitUntil } from './run-command.js';
import { ServiceProcess } from './service-process.js';

export interface CommandFaultOptions {
  amqpUrl: string;
  databaseUrl: string;
  logDir: string;
  /** Commands per sensor (one round sends one to each sensor). */
  rounds: number;
  sensors: number;
  /** Round i starts i * roundIntervalMs after the first. */
  roundIntervalMs: number;
  /** The simulator is SIGKILLed after this many rounds were sent, and started again 2 s later. */
  killAfterRound: number;
  ttlMs: number;
  /** Odd rounds use this TTL: shorter than the simulator's downtime, so some commands expire. */
  shortTtlMs: number;
  /** How long the simulator stays down. */
  downtimeMs: number;
  timeoutMs: number;
  print(line: string): void;
}

export interface CommandFaultResult {
  issued: number;
  applied: number;
  timedOut: number;
  expired: number;
  /** Outcomes other than APPLIED, TIMED_OUT, EXPIRED (REJECTED, FAILED, UNROUTABLE, ...). */
  other: string[];
  /** Commands for which the sensor published more than one APPLIED ack (applied twice). */
  ackedTwice: number;
  recoveries: number;
  problems: string[];
}

const PREFIX = 'cmdfault';

/**
 * Commands while the simulator is killed: a registry and a simulator as processes, a commander sending
 * changesamplefrequency rounds to every sensor with a TTL; the simulator is SIGKILLed while commands are in
 * flight and restarted after downtimeMs (commands with a shorter TTL expire meanwhile). Every command must end APPLIED (acked once) or TIMED_OUT / EXPIRED, never applied
 * twice; the simulator and the registry must be ready again.
 */
export async function runCommandFaults(o: CommandFaultOptions): Promise<CommandFaultResult> {
  const common = {
    AMQP_URL: o.amqpUrl,
    DATABASE_URL: o.databaseUrl,
  };
  const registry = new ServiceProcess({
    name: 'sensor-registry',
    entry: 'services/sensor-registry/src/main.ts',
    env: { ...common, SERVICE_NAME: 'faults-registry' },
    logFile: join(o.logDir, 'sensor-registry.log'),
  });
  const simulator = new ServiceProcess({
    name: 'sensor-simulator',
    entry: 'services/sensor-simulator/src/main.ts',
    env: {
      ...common,
      SERVICE_NAME: 'faults-simulator',
      SENSOR_SERIAL_PREFIX: PREFIX,
      SENSOR_COUNT: String(o.sensors),
      SAMPLE_FREQUENCY_HZ: '5',
      TRANSPORT: 'amqp',
      FLUSH_INTERVAL_MS: '1000',
    },
    logFile: join(o.logDir, 'sensor-simulator.log'),
  });
  const services = [registry, simulator];
  const logger = createLogger({ service: 'fault-suite-commands', level: 'silent' });
  const bus = createBus({ url: o.amqpUrl, connectionName: 'fault-suite-commands', logger });
  const result: CommandFaultResult = {
    issued: 0,
    applied: 0,
    timedOut: 0,
    expired: 0,
    other: [],
    ackedTwice: 0,
    recoveries: 0,
    problems: [],
  };
  const appliedAcks = new Map<string, number>();
  try {
    await registry.start();
    await simulator.start();
    await registry.waitReady(120_000);
    await simulator.waitReady(120_000);
    await bus.start();
    // every APPLIED ack any sensor publishes, counted per command id
    const ackConsumer = await bus.consume({
      queue: {
        name: `fault-suite.acks.${randomUUID()}`,
        type: 'classic',
        bindings: [bindingPatterns.acks],
        exclusive: true,
        autoDelete: true,
        deadLetter: false,
      },
      prefetch: 500,
      handler: async (d) => {
        try {
          const ack = commandAckCodec.decode(d.body, d.contentType);
          if (ack.status === 'APPLIED')
            appliedAcks.set(ack.commandId, (appliedAcks.get(ack.commandId) ?? 0) + 1);
        } catch {
          // not an ack of ours
        }
      },
    });
    const serials = Array.from({ length: o.sensors }, (_, i) => `${PREFIX}-0-${i}`); // SIMULATOR_INDEX 0
    // the simulator's sensors have announced themselves (their command queues exist)
    await sleep(3000);
    const commander = createCommander(bus);
    const outcomes: Promise<CommandOutcome[]>[] = [];
    o.print(
      `faults: commands: ${o.rounds} rounds of changesamplefrequency to ${o.sensors} sensors (TTL ${o.ttlMs} / ${o.shortTtlMs} ms); SIGKILL of the simulator after round ${o.killAfterRound}`,
    );
    let killed: Promise<void> | undefined;
    for (let round = 0; round < o.rounds; round++) {
      outcomes.push(
        commander.issue(
          serials,
          { type: 'changesamplefrequency', sampleFrequencyHz: 1 + (round % 20) },
          {
            issuedBy: 'fault-suite',
            ttlMs: round % 2 === 0 ? o.ttlMs : o.shortTtlMs,
            timeoutMs: o.timeoutMs,
          },
        ),
      );
      result.issued += serials.length;
      if (round === o.killAfterRound) {
        killed = (async () => {
          o.print('faults: commands: SIGKILL sensor-simulator with commands in flight');
          await simulator.kill();
          await sleep(o.downtimeMs);
          await simulator.start();
        })();
      }
      await sleep(o.roundIntervalMs);
    }
    await killed;
    for (const outcome of (await Promise.all(outcomes)).flat()) {
      if (outcome.status === 'APPLIED') result.applied++;
      else if (outcome.status === 'TIMED_OUT') result.timedOut++;
      else if (outcome.status === 'EXPIRED') result.expired++;
      else result.other.push(`${outcome.serial} ${outcome.commandId}: ${outcome.status} ${outcome.reason}`);
    }
    // late duplicates: a command redelivered to the restarted simulator would be acked again now
    await sleep(3000);
    for (const n of appliedAcks.values()) if (n > 1) result.ackedTwice++;
    await waitUntil(
      async () => (await registry.isReady()) && (await simulator.isReady()),
      'registry and simulator ready after the kill',
      120_000,
      500,
    )
      .then(() => {
        result.recoveries++;
      })
      .catch((err: unknown) => result.problems.push(`not recovered: ${(err as Error).message}`));
    await commander.close();
    await ackConsumer.stop();
  } finally {
    await bus.stop().catch(() => undefined);
    const unexpected = services.reduce((n, s) => n + s.unexpectedExits, 0);
    if (unexpected > 0) result.problems.push(`${unexpected} command-side processes exited by themselves`);
    await Promise.all(services.map((s) => s.close()));
  }
  if (result.other.length > 0)
    result.problems.push(
      `${result.other.length} commands neither applied nor timed out/expired: ${result.other.slice(0, 3).join('; ')}`,
    );
  if (result.ackedTwice > 0)
    result.problems.push(`${result.ackedTwice} commands acked (applied) more than once`);
  if (result.applied === 0) result.problems.push('no command was applied at all');
  return result;
}
