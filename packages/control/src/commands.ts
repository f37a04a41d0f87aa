import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  type Bus,
  type Consumer,
  type Delivery,
  HEADER_ORIGINAL_QUEUE,
  UnroutableError,
} from '@sensor-streaming/bus';
import {
  type AckStatus,
  assertSerial,
  bindingPatterns,
  type Command,
  type CommandAck,
  type CommandType,
  commandAckCodec,
  commandCodec,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_REASON_HEADER,
  type PowerState,
  routingKeys,
} from '@sensor-streaming/protocol';
import { LruMap } from '@sensor-streaming/runtime';
import { ControlError } from './control-error.js';
import { deviceCommandQueues } from './device-queues.js';

/** The platform-wide sample frequency range; each sensor may accept a narrower one (it then REJECTs). */
export const FREQUENCY_MIN_HZ = 0.1;
export const FREQUENCY_MAX_HZ = 10_000;
export const DEFAULT_COMMAND_TTL_MS = 60_000;
/** How many serials the commander remembers the transport of (where their command queue was found). */
const TRANSPORT_MEMORY = 100_000;
export const DEFAULT_ACK_TIMEOUT_MS = 5_000;
/** Commands outstanding (published, ack not yet in) at once in one issue() call. */
export const DEFAULT_ISSUE_CONCURRENCY = 500;

export const COMMAND_TYPES: readonly CommandType[] = ['sleep', 'awake', 'changesamplefrequency'];

export interface CommandRequest {
  type: CommandType;
  /** Required for `changesamplefrequency`. */
  sampleFrequencyHz?: number;
}

/** Parses an operator-supplied frequency; throws ControlError with a message fit for a terminal. */
export function parseFrequency(input: unknown): number {
  const hz =
    typeof input === 'number' ? input : typeof input === 'string' ? Number(input.trim()) : Number.NaN;
  if (typeof input === 'string' && input.trim() === '') {
    throw new ControlError('CONTROL_BAD_FREQUENCY', 'frequency is empty; give a number of Hz, e.g. --hz 50');
  }
  if (!Number.isFinite(hz) || hz <= 0) {
    throw new ControlError(
      'CONTROL_BAD_FREQUENCY',
      `frequency ${JSON.stringify(input)} is not a positive number of Hz`,
    );
  }
  if (hz < FREQUENCY_MIN_HZ || hz > FREQUENCY_MAX_HZ) {
    throw new ControlError(
      'CONTROL_BAD_FREQUENCY',
      `frequency ${hz} Hz is out of range (${FREQUENCY_MIN_HZ} to ${FREQUENCY_MAX_HZ} Hz)`,
    );
  }
  return hz;
}

export interface BuildCommandOptions {
  issuedBy: string;
  ttlMs?: number;
  nowUs?: number;
  commandId?: string;
}

/** Builds a validated Command message. */
export function buildCommand(serial: string, request: CommandRequest, opts: BuildCommandOptions): Command {
  assertSerial(serial, 'serial');
  if (!COMMAND_TYPES.includes(request.type)) {
    throw new ControlError('CONTROL_BAD_COMMAND', `unknown command type ${JSON.stringify(request.type)}`);
  }
  const ttlMs = opts.ttlMs ?? DEFAULT_COMMAND_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 7 * 24 * 3600_000) {
    throw new ControlError(
      'CONTROL_BAD_TTL',
      `command TTL ${ttlMs} ms must be an integer from 1 ms to 7 days`,
    );
  }
  if (opts.issuedBy.trim() === '') throw new ControlError('CONTROL_BAD_COMMAND', 'issuedBy is empty');
  const nowUs = opts.nowUs ?? Date.now() * 1000;
  const command: Command = {
    commandId: opts.commandId ?? randomUUID(),
    serial,
    type: request.type,
    issuedAtUs: nowUs,
    expiresAtUs: nowUs + ttlMs * 1000,
    issuedBy: opts.issuedBy,
  };
  if (request.type === 'changesamplefrequency') {
    command.sampleFrequencyHz = parseFrequency(request.sampleFrequencyHz);
  }
  return command;
}

export type OutcomeStatus = AckStatus | 'TIMED_OUT' | 'UNROUTABLE' | 'PUBLISHED' | 'FAILED';

export interface CommandOutcome {
  serial: string;
  commandId: string;
  type: CommandType;
  status: OutcomeStatus;
  reason: string;
  /** Publish to ack, in ms; null when no ack arrived. */
  rttMs: number | null;
  state?: PowerState;
  sampleFrequencyHz?: number;
}

export interface IssueOptions {
  /**
   * A hint of what issued it (`iotctl`, `registry:reconcile`, `alarm-service:<rule>`), carried in the
   * command for devices and logs. Never the recorded author: the registry records issued_by from the
   * broker-validated user_id the bus stamps on the publish.
   */
  issuedBy: string;
  ttlMs?: number;
  /** How long to wait for each ack (from its publish). */
  timeoutMs?: number;
  /** false: only publish (outcome PUBLISHED once the broker confirmed). */
  wait?: boolean;
  /** Called as each outcome becomes known (for progress output). */
  onOutcome?: (outcome: CommandOutcome) => void;
  /**
   * At most this many commands outstanding (published, outcome not yet known) at once, default 500: a
   * command to 10,000 sensors does not put 10,000 messages in front of the broker and the sensors at once,
   * and each ack timeout starts when its command is published, not when the call began.
   */
  concurrency?: number;
}

export interface Commander {
  /** Publishes one command per serial and (by default) waits for every ack. Never throws per target. */
  issue(serials: readonly string[], request: CommandRequest, opts: IssueOptions): Promise<CommandOutcome[]>;
  close(): Promise<void>;
}

interface Pending {
  command: Command;
  startedAt: number;
  settle(outcome: CommandOutcome): void;
}

/** The reason of the most recent dead-lettering in an `x-death` header ('expired', 'rejected', ...). */
/** The queue a message was dead-lettered from (x-death is newest first; its last entry is the origin). */
function deathQueue(headers: Record<string, unknown>): string | undefined {
  const ours = headers[HEADER_ORIGINAL_QUEUE]; // set when our bus dead-letters a copy itself
  if (typeof ours === 'string' && ours !== '') return ours;
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const origin = deaths[deaths.length - 1] as { queue?: unknown };
  return typeof origin?.queue === 'string' ? origin.queue : undefined;
}

function deathReason(headers: Record<string, unknown>): string {
  const ours = headers[DEAD_LETTER_REASON_HEADER];
  if (typeof ours === 'string' && ours !== '') return ours;
  const deaths = headers['x-death'];
  if (Array.isArray(deaths) && deaths.length > 0) {
    const first = deaths[0] as { reason?: unknown };
    if (typeof first?.reason === 'string') return first.reason;
  }
  return 'unknown';
}

/**
 * Commands are published transient (delivery mode 1), to an AMQP command queue and an MQTT session alike.
 * Writing each command to the disk of its sensor's own durable classic queue doubled its way to the sensor
 * (`pnpm bench:commands`, waves of 100 with 1,000 sensors streaming, RabbitMQ 3.10: to the sensor p50
 * 21-35 ms persistent against 13-14 ms transient; round trip p99 75-113 against 54-56 ms). What a restart
 * of the broker takes from a sensor's queue is not lost: the registry's copy (a quorum queue, durable
 * whatever the delivery mode) and PostgreSQL keep the desired state; the command times out and the
 * registry re-sends the desired state when the sensor next reports another (its birth or a heartbeat).
 * MQTT devices still get their commands at QoS 1: RabbitMQ's MQTT plugin (3.10 and the native one of 3.12+)
 * delivers what AMQP clients publish at the subscription's QoS, whatever the delivery mode.
 */
const COMMAND_PERSISTENT = false;

function unroutable(serial: string, type: CommandType): CommandOutcome {
  return {
    serial,
    commandId: '',
    type,
    status: 'UNROUTABLE',
    reason: `no command queue for sensor ${serial} (neither AMQP nor MQTT): unknown serial, or the sensor never connected`,
    rttMs: null,
  };
}

/**
 * The one command path: iotctl, the registry's reconciler and the alarm
 * service's automatic actions all publish through it. Each command goes to
 * `sensor.<serial>.commands.<type>` with `mandatory` (a sensor with no command
 * queue is reported UNROUTABLE, not silently dropped) and a per-message TTL
 * (an expired command is dead-lettered; the registry records it EXPIRED).
 * Acks are matched by command id on one private queue bound to `sensor.*.acks`
 * and, on the dead-letter exchange, to `sensor.*.commands.*`, so a waiting
 * caller also learns that its command expired unseen (EXPIRED) without the registry.
 */
export function createCommander(bus: Bus): Commander {
  const pending = new Map<string, Pending>();
  let ackConsumer: Promise<Consumer> | undefined;

  /**
   * Where each serial's command queue was last found: 0 the AMQP command queue, 1 the MQTT session queue.
   * Bounded (LRU): serials come from callers, and 100,000 entries are a few MB.
   */
  const lastFoundIn = new LruMap<string, 0 | 1>({ maxEntries: TRANSPORT_MEMORY });

  /**
   * The serials whose device has a command queue. The registry's queue is bound to every command key, so a
   * mandatory publish to an unknown sensor would still be routed: ask whether the sensor's own queue exists,
   * the AMQP command queue or the MQTT session queue (one path for both transports). A passive declare of a
   * missing queue costs its channel, so each serial is asked first where its queue was found last time (the
   * AMQP queue for a serial not seen yet) and only on a miss the other: a fleet of MQTT devices costs no
   * closed channel per command once each was found once, and a device that changed transport costs one.
   */
  async function commandQueuesExist(serials: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const unique = [...new Set(serials)];
    const firstTry = new Map(unique.map((s) => [s, lastFoundIn.get(s) ?? 0] as const));
    for (const round of [0, 1] as const) {
      // round 0: where each was found last (AMQP if never); round 1: the other, for those not found
      const ask = unique
        .filter((s) => !out.has(s))
        .map((serial) => {
          const at = (round === 0 ? firstTry.get(serial)! : 1 - firstTry.get(serial)!) as 0 | 1;
          return { serial, at, queue: deviceCommandQueues(serial)[at] };
        });
      if (ask.length === 0) break;
      const found = await bus.existingQueues(ask.map((a) => a.queue));
      for (const a of ask) {
        if (!found.has(a.queue)) continue;
        out.add(a.serial);
        lastFoundIn.set(a.serial, a.at);
      }
    }
    return out;
  }

  /**
   * A command of ours dead-lettered by its sensor's queue: `expired` (TTL passed while the sensor was away)
   * is EXPIRED; anything else (the sensor rejected the message itself) is REJECTED.
   */
  function onDeadLettered(delivery: Delivery): void {
    let command: Command;
    try {
      command = commandCodec.decode(delivery.body, delivery.contentType);
    } catch {
      return;
    }
    const waiting = pending.get(command.commandId);
    if (waiting === undefined) return;
    // Only the sensor's own queue speaks for the sensor: a copy that expired in some
    // other queue bound to the commands (the registry's, say) says nothing about it.
    // (the AMQP command queue or the MQTT session queue: one meaning for both transports)
    const from = deathQueue(delivery.headers);
    if (from === undefined || !deviceCommandQueues(command.serial).includes(from)) return;
    const reason = deathReason(delivery.headers);
    waiting.settle({
      serial: command.serial,
      commandId: command.commandId,
      type: command.type,
      status: reason === 'expired' ? 'EXPIRED' : 'REJECTED',
      reason:
        reason === 'expired'
          ? 'the command expired in the sensor queue before the sensor took it'
          : `the sensor queue dead-lettered the command (${reason})`,
      rttMs: Math.round((performance.now() - waiting.startedAt) * 100) / 100,
    });
  }

  function onAck(delivery: Delivery): Promise<void> {
    if (delivery.exchange === DEAD_LETTER_EXCHANGE) {
      onDeadLettered(delivery);
      return Promise.resolve();
    }
    let ack: CommandAck;
    try {
      ack = commandAckCodec.decode(delivery.body, delivery.contentType);
    } catch {
      return Promise.resolve(); // not ours to judge: the registry dead-letters bad acks
    }
    const waiting = pending.get(ack.commandId);
    if (waiting === undefined) return Promise.resolve();
    const outcome: CommandOutcome = {
      serial: ack.serial,
      commandId: ack.commandId,
      type: waiting.command.type,
      status: ack.status,
      reason: ack.reason,
      rttMs: Math.round((performance.now() - waiting.startedAt) * 100) / 100,
    };
    if (ack.state !== undefined) outcome.state = ack.state;
    if (ack.sampleFrequencyHz !== undefined) outcome.sampleFrequencyHz = ack.sampleFrequencyHz;
    waiting.settle(outcome);
    return Promise.resolve();
  }

  function ensureAckConsumer(): Promise<Consumer> {
    ackConsumer ??= bus.consume({
      queue: {
        name: `control.acks.${randomUUID()}`,
        type: 'classic',
        bindings: [bindingPatterns.acks],
        // our own commands that expire (or are refused) in a sensor queue come back through the DLX
        deadLetterBindings: [bindingPatterns.commands],
        deadLetter: false,
        exclusive: true,
        autoDelete: true,
      },
      prefetch: 1000,
      handler: onAck,
    });
    return ackConsumer;
  }

  async function issueOne(
    serial: string,
    request: CommandRequest,
    opts: IssueOptions,
  ): Promise<CommandOutcome> {
    const command = buildCommand(serial, request, {
      issuedBy: opts.issuedBy,
      ...(opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }),
    });
    const base = { serial, commandId: command.commandId, type: command.type };
    const wait = opts.wait ?? true;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const startedAt = performance.now();
    let settleAck: (o: CommandOutcome) => void = () => undefined;
    const answered = new Promise<CommandOutcome>((resolve) => {
      settleAck = resolve;
    });
    if (wait) pending.set(command.commandId, { command, startedAt, settle: settleAck });
    // The confirm and the sensor's answer race: an ack (or the command dead-lettered back) proves the
    // broker had it, so the outcome does not wait for a confirm that a loaded broker (a quorum queue of the
    // registry bound to every command) may give seconds later; with --all that wait, not the sensors, set
    // the pace. A publish failure counts only while no answer came.
    const published = bus
      .publish(routingKeys.command(serial, command.type), commandCodec.encode(command), {
        mandatory: true,
        persistent: COMMAND_PERSISTENT,
        messageId: command.commandId,
        expirationMs: opts.ttlMs ?? DEFAULT_COMMAND_TTL_MS,
      })
      .then(
        () => ({ kind: 'published' as const, err: undefined }),
        (err: unknown) => ({ kind: 'published' as const, err }),
      );
    let timer: NodeJS.Timeout | undefined;
    try {
      const first = await Promise.race([answered.then((o) => ({ kind: 'answered' as const, o })), published]);
      if (first.kind === 'answered') return first.o;
      const { err } = first;
      if (err !== undefined) {
        if (err instanceof UnroutableError)
          return { ...unroutable(serial, command.type), commandId: command.commandId };
        return {
          ...base,
          status: 'FAILED',
          reason: err instanceof Error ? err.message : String(err),
          rttMs: null,
        };
      }
      if (!wait) return { ...base, status: 'PUBLISHED', reason: 'confirmed by the broker', rttMs: null };
      // confirmed, no answer yet: wait for it up to timeoutMs from the publish
      const leftMs = Math.max(0, timeoutMs - (performance.now() - startedAt));
      const timedOut = new Promise<CommandOutcome>((resolve) => {
        timer = setTimeout(() => {
          resolve({
            ...base,
            status: 'TIMED_OUT',
            reason: `no ack within ${timeoutMs} ms; the command stays queued until it expires`,
            rttMs: null,
          });
        }, leftMs);
      });
      return await Promise.race([answered, timedOut]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      pending.delete(command.commandId);
    }
  }

  return {
    async issue(serials, request, opts) {
      // Validate everything before publishing anything.
      for (const [i, s] of serials.entries()) assertSerial(s, `serials[${i}]`);
      if (request.type === 'changesamplefrequency') parseFrequency(request.sampleFrequencyHz);
      const concurrency = opts.concurrency ?? DEFAULT_ISSUE_CONCURRENCY;
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new ControlError(
          'CONTROL_BAD_CONCURRENCY',
          `concurrency must be a positive integer, got ${JSON.stringify(opts.concurrency)}`,
        );
      }
      if (opts.wait ?? true) await ensureAckConsumer();
      const routable = await commandQueuesExist(serials);
      const outcomes: CommandOutcome[] = new Array(serials.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < serials.length; i = next++) {
          const serial = serials[i]!;
          const outcome = routable.has(serial)
            ? await issueOne(serial, request, opts)
            : unroutable(serial, request.type);
          outcomes[i] = outcome;
          opts.onOutcome?.(outcome);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, serials.length) }, worker));
      return outcomes;
    },
    async close() {
      if (ackConsumer !== undefined) {
        const consumer = await ackConsumer.catch(() => undefined);
        ackConsumer = undefined;
        await consumer?.stop();
      }
    },
  };
}
