import { backoffDelay, type BatchOutcome, type Delivery } from '@sensor-streaming/bus';
import {
  applyCommandAcks,
  applySensorStates,
  type CommandAckInput,
  type DesiredStateInput,
  findReconcileCandidates,
  isRowDataError,
  type Pool,
  type ReconcileCandidate,
  recordCommands,
  recordSensorTraffic,
} from '@sensor-streaming/db';
import type { Command, CommandAck, SensorState } from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import {
  decodeRegistryDelivery,
  kindOfRoutingKey,
  type RegistryMessage,
  rejectCode,
  rejectReason,
} from './decode.js';
import type { RegistryMetrics } from './metrics.js';

/** Acks whose command is not recorded (yet) are retried this long, then dropped. */
export const UNMATCHED_ACK_TTL_MS = 60_000;
const MAX_UNMATCHED_ACKS = 10_000;

export interface MessageProcessorOptions {
  pool: Pool;
  logger: Logger;
  metrics: RegistryMetrics;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /**
   * Closed registration: the serials to refuse. States and acks of those serials are dead-lettered with
   * `reason(serial)` and never create or touch a sensors row. Absent: open registration.
   */
  registration?: {
    refused(serials: readonly string[]): Promise<ReadonlySet<string>>;
    reason(serial: string): string;
  };
  /** Called with the sensors of a batch that may need reconciling. */
  onReconcileCandidates?: (candidates: ReconcileCandidate[]) => void;
  now?: () => number;
}

export interface MessageProcessor {
  /** The consumeBatch handler: invalid messages are rejected by index, the rest written then acked. */
  handle(ds: Delivery[]): Promise<BatchOutcome>;
  /** Retries acks whose command was not recorded yet (another replica may have been writing it). */
  retryUnmatchedAcks(): Promise<void>;
  /** False while database writes fail (batches are held and retried). */
  isHealthy(): boolean;
  /** Stop retrying: a held batch is given back to the broker. */
  stop(): void;
  readonly unmatchedAcks: number;
}

class StoppedError extends Error {
  constructor() {
    super('the registry is stopping; batch returned to the queue');
    this.name = 'StoppedError';
  }
}

interface Written {
  index: number;
  message: RegistryMessage;
}

function toStateInput(s: SensorState) {
  return {
    serial: s.serial,
    kind: s.kind,
    labels: s.labels,
    channels: s.channels,
    firmware: s.firmware,
    ...(s.location === undefined ? {} : { location: s.location }),
    state: s.state,
    sampleFrequencyHz: s.sampleFrequencyHz,
    minFrequencyHz: s.minFrequencyHz,
    maxFrequencyHz: s.maxFrequencyHz,
    uptimeS: s.uptimeS,
    reason: s.reason,
    timeUs: s.timeUs,
  };
}

function toAckInput(a: CommandAck): CommandAckInput {
  const out: CommandAckInput = {
    commandId: a.commandId,
    status: a.status,
    reason: a.reason,
    timeUs: a.timeUs,
  };
  if (a.state !== undefined) out.state = a.state;
  if (a.sampleFrequencyHz !== undefined) out.sampleFrequencyHz = a.sampleFrequencyHz;
  return out;
}

/** Desired state per serial from commands, the latest issued command of each aspect winning. */
export function desiredFromCommands(commands: readonly Command[]): DesiredStateInput[] {
  const sorted = [...commands].sort((a, b) => a.issuedAtUs - b.issuedAtUs);
  const bySerial = new Map<string, DesiredStateInput>();
  for (const c of sorted) {
    const d = bySerial.get(c.serial) ?? { serial: c.serial };
    if (c.type === 'sleep') d.state = 'ASLEEP';
    else if (c.type === 'awake') d.state = 'AWAKE';
    else if (c.sampleFrequencyHz !== undefined) d.frequencyHz = c.sampleFrequencyHz;
    bySerial.set(c.serial, d);
  }
  return [...bySerial.values()];
}

/**
 * The registry's handling of its main queue (sensor.*.state, sensor.*.acks,
 * sensor.*.commands.*): per batch, one statement for the states, one for the
 * commands (and the desired state they set), one for the acks; then one query
 * for the sensors that may need reconciling. While PostgreSQL is unavailable
 * the batch is held unacked and retried with backoff; a row the database
 * refuses (constraint) is found by retrying message by message and rejected.
 */
export function createMessageProcessor(opts: MessageProcessorOptions): MessageProcessor {
  const { pool, metrics } = opts;
  const log = opts.logger;
  const now = opts.now ?? Date.now;
  let healthy = true;
  let stopped = false;
  let wake: (() => void) | undefined;
  const unmatched = new Map<string, { ack: CommandAckInput; type: CommandAck['type']; since: number }>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async function withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (stopped) throw new StoppedError();
      try {
        const result = await fn();
        if (!healthy) {
          healthy = true;
          log.info({}, 'database writes succeed again');
        }
        return result;
      } catch (err) {
        if (isRowDataError(err)) throw err;
        if (healthy) {
          healthy = false;
          log.warn({ err, what }, 'database write failed; holding the batch and retrying');
        }
        if (stopped) throw new StoppedError();
        await sleep(backoffDelay(attempt, opts.retry));
      }
    }
  }

  function trackUnmatched(acks: readonly CommandAck[]): void {
    for (const a of acks) {
      if (unmatched.has(a.commandId)) continue;
      if (unmatched.size >= MAX_UNMATCHED_ACKS) {
        log.warn({ commandId: a.commandId }, 'too many acks for unknown commands; dropping one');
        continue;
      }
      unmatched.set(a.commandId, { ack: toAckInput(a), type: a.type, since: now() });
    }
  }

  function countAckOutcomes(outcomes: Awaited<ReturnType<typeof applyCommandAcks>>): void {
    for (const o of outcomes) {
      if (!o.updated || o.type === null || o.status === null) continue;
      metrics.command(o.type, o.status);
      if (o.rttMs !== null) metrics.rtt(o.type, o.rttMs / 1000);
    }
  }

  /**
   * Writes a group of decoded messages received at `receivedUs`; returns the serials whose state was applied
   * (not OFFLINE).
   */
  async function write(items: readonly Written[], receivedUs: number): Promise<string[]> {
    const states: SensorState[] = [];
    const commands: Command[] = [];
    const acks: CommandAck[] = [];
    for (const { message } of items) {
      if (message.kind === 'state') states.push(message.value);
      else if (message.kind === 'commands') commands.push(message.value);
      else acks.push(message.value);
    }
    // states first (a BIRTH and a command in one batch), commands before their acks
    const stateOutcomes = await applySensorStates(pool, states.map(toStateInput));
    if (commands.length > 0) {
      const { unknownSerials } = await recordCommands(
        pool,
        commands.map((c) => ({
          commandId: c.commandId,
          serial: c.serial,
          type: c.type,
          ...(c.sampleFrequencyHz === undefined ? {} : { sampleFrequencyHz: c.sampleFrequencyHz }),
          issuedBy: c.issuedBy,
          issuedAtUs: c.issuedAtUs,
          ...(c.expiresAtUs === undefined ? {} : { expiresAtUs: c.expiresAtUs }),
        })),
        desiredFromCommands(commands),
      );
      if (unknownSerials.length > 0) {
        log.info(
          { serials: unknownSerials.slice(0, 20), count: unknownSerials.length },
          'commands for unregistered sensors not recorded',
        );
      }
    }
    if (acks.length > 0) {
      const outcomes = await applyCommandAcks(pool, acks.map(toAckInput));
      countAckOutcomes(outcomes);
      const unknown = new Set(outcomes.filter((o) => !o.known).map((o) => o.commandId));
      if (unknown.size > 0) trackUnmatched(acks.filter((a) => unknown.has(a.commandId)));
      // an ack is a sign of life too
      await recordSensorTraffic(
        pool,
        acks.map((a) => ({ serial: a.serial, seenAtUs: receivedUs })),
      );
    }
    const latest = new Map<string, SensorState>();
    for (const s of states) {
      const prev = latest.get(s.serial);
      if (prev === undefined || s.timeUs >= prev.timeUs) latest.set(s.serial, s);
    }
    return stateOutcomes
      .filter((o) => o.applied && latest.get(o.serial)?.state !== 'OFFLINE')
      .map((o) => o.serial);
  }

  return {
    async handle(ds) {
      const started = performance.now();
      const receivedUs = now() * 1000;
      const rejected: Array<{ index: number; reason: string }> = [];
      const items: Written[] = [];
      const newCommands: Command[] = [];
      for (const [index, d] of ds.entries()) {
        const kind = kindOfRoutingKey(d.routingKey);
        metrics.received(kind);
        try {
          const message = decodeRegistryDelivery(d);
          items.push({ index, message });
          if (message.kind === 'commands' && !d.redelivered) newCommands.push(message.value);
        } catch (err) {
          const reason = rejectReason(err);
          metrics.rejected(kind, rejectCode(err));
          log.warn({ routingKey: d.routingKey, reason }, 'invalid message dead-lettered');
          rejected.push({ index, reason });
        }
      }
      if (opts.registration !== undefined && items.length > 0) {
        const gate = opts.registration;
        // commands are the operators' (the broker decides who may send them); states and acks are the device's
        const fromDevices = [
          ...new Set(items.filter((i) => i.message.kind !== 'commands').map((i) => i.message.value.serial)),
        ];
        const no = await withRetry('registration check', () => gate.refused(fromDevices));
        if (no.size > 0) {
          for (let i = items.length - 1; i >= 0; i--) {
            const item = items[i] as Written;
            if (item.message.kind === 'commands' || !no.has(item.message.value.serial)) continue;
            items.splice(i, 1);
            metrics.rejected(item.message.kind, 'unprovisioned');
            rejected.push({ index: item.index, reason: gate.reason(item.message.value.serial) });
          }
        }
      }
      let touched: string[] = [];
      try {
        touched = await withRetry('registry batch', () => write(items, receivedUs));
      } catch (err) {
        if (!isRowDataError(err)) throw err;
        // find the message(s) the database refuses, write the rest one by one
        for (const item of items) {
          try {
            touched.push(...(await withRetry('registry message', () => write([item], receivedUs))));
          } catch (one) {
            if (!isRowDataError(one)) throw one;
            const kind = item.message.kind;
            metrics.rejected(kind, 'db_rejected');
            const reason = `REGISTRY_DB_REJECTED: ${one instanceof Error ? one.message : String(one)}`;
            log.warn(
              { routingKey: ds[item.index]?.routingKey, reason },
              'message refused by the database, dead-lettered',
            );
            rejected.push({ index: item.index, reason });
            if (kind === 'commands') {
              const i = newCommands.indexOf(item.message.value as Command);
              if (i >= 0) newCommands.splice(i, 1);
            }
          }
        }
      }
      for (const c of newCommands) metrics.command(c.type, 'ISSUED');
      if (touched.length > 0 && opts.onReconcileCandidates !== undefined) {
        try {
          const candidates = await findReconcileCandidates(pool, touched);
          if (candidates.length > 0) opts.onReconcileCandidates(candidates);
        } catch (err) {
          // the batch is stored; the sensors are reconsidered on their next heartbeat
          log.warn({ err }, 'cannot look for sensors to reconcile');
        }
      }
      metrics.batch((performance.now() - started) / 1000);
      return rejected.length > 0 ? { rejected } : {};
    },

    async retryUnmatchedAcks() {
      if (unmatched.size === 0) return;
      const t = now();
      for (const [id, u] of unmatched) {
        if (t - u.since > UNMATCHED_ACK_TTL_MS) {
          unmatched.delete(id);
          log.info({ commandId: id, type: u.type }, 'ack for a command the registry never saw; dropped');
        }
      }
      if (unmatched.size === 0) return;
      const outcomes = await applyCommandAcks(
        pool,
        [...unmatched.values()].map((u) => u.ack),
      );
      countAckOutcomes(outcomes);
      for (const o of outcomes) if (o.known) unmatched.delete(o.commandId);
    },

    isHealthy: () => healthy,
    stop() {
      stopped = true;
      wake?.();
    },
    get unmatchedAcks() {
      return unmatched.size;
    },
  };
}
