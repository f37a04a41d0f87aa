import {
  type BatchOutcome,
  type Bus,
  type Delivery,
  HEADER_REASON,
  type QueueSpec,
} from '@sensor-streaming/bus';
import { markCommandsExpired, type Pool } from '@sensor-streaming/db';
import { deviceOfCommandQueue } from '@sensor-streaming/control';
import {
  bindingPatterns,
  type Command,
  type CommandAck,
  commandAckCodec,
  commandCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import type { Logger } from '@sensor-streaming/runtime';
import { RegistryMessageError, rejectReason } from './decode.js';
import type { RegistryMetrics } from './metrics.js';

export const EXPIRED_IN_QUEUE_REASON = "expired in the sensor's queue before delivery";

/**
 * The queue that receives, from the dead-letter exchange, every command the
 * broker dead-letters (with its original routing key). Its own dead-lettering
 * is off: a message dead-lettered from here would come straight back through
 * the DLX (the bus sends the registry's own rejections directly to the dead
 * queue instead).
 */
export function expiredCommandsQueue(name: string): QueueSpec {
  return {
    name,
    type: 'quorum',
    bindings: [],
    deadLetterBindings: [bindingPatterns.commands],
    deliveryLimit: 5,
    deadLetter: false,
  };
}

/** Why and where the broker last dead-lettered a message, from its `x-death` header (most recent first). */
export function death(d: Delivery): { reason: string; queue: string } | undefined {
  const deaths = d.headers['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const last = deaths[0] as { reason?: unknown; queue?: unknown } | null;
  if (last === null || typeof last !== 'object') return undefined;
  return { reason: String(last.reason ?? ''), queue: String(last.queue ?? '') };
}

/**
 * True for a command the broker dead-lettered because it expired in a sensor's
 * command queue (not one expired elsewhere, e.g. in the registry's own queue,
 * and not one a consumer dead-lettered with a reason header).
 */
export function expiredInSensorQueue(d: Delivery): boolean {
  if (d.headers[HEADER_REASON] !== undefined) return false;
  const last = death(d);
  // an AMQP device's sensor.<serial>.commands or an MQTT device's session queue
  return last !== undefined && last.reason === 'expired' && deviceOfCommandQueue(last.queue) !== undefined;
}

function expiredIn(d: Delivery, queue: string | undefined): boolean {
  if (queue === undefined || d.headers[HEADER_REASON] !== undefined) return false;
  const last = death(d);
  return last !== undefined && last.reason === 'expired' && last.queue === queue;
}

export interface ExpiredCommandsOptions {
  bus: Pick<Bus, 'publish'>;
  pool: Pool;
  logger: Logger;
  metrics: RegistryMetrics;
  /**
   * The registry's own queue: a command whose per-message TTL ran out there
   * (registry down or backlogged) was never recorded; it is handed to
   * `recordLate` (the main queue's handler) instead of being lost.
   */
  registryQueue?: string;
  recordLate?: (ds: Delivery[]) => Promise<BatchOutcome>;
  now?: () => number;
}

/**
 * Handles commands that expired in a sensor's command queue: marks each
 * EXPIRED (unless its outcome is already known) and publishes a CommandAck
 * EXPIRED on sensor.<serial>.acks so a waiting iotctl learns it. Commands
 * dead-lettered for another reason (a sensor rejecting them, a consumer
 * dead-lettering a bad one) are not expirations and are only acknowledged.
 */
export function createExpiredCommandsHandler(
  opts: ExpiredCommandsOptions,
): (ds: Delivery[]) => Promise<BatchOutcome> {
  const log = opts.logger;
  const now = opts.now ?? Date.now;
  return async (ds) => {
    opts.metrics.received('expired_commands', ds.length);
    const rejected: Array<{ index: number; reason: string }> = [];
    const expired: Command[] = [];
    const late: number[] = [];
    for (const [index, d] of ds.entries()) {
      if (opts.recordLate !== undefined && expiredIn(d, opts.registryQueue)) {
        late.push(index);
        continue;
      }
      if (!expiredInSensorQueue(d)) {
        log.debug({ routingKey: d.routingKey, death: death(d) }, 'dead-lettered command was not an expiry');
        continue;
      }
      try {
        const command = commandCodec.decode(d.body, d.contentType);
        if (d.routingKey !== routingKeys.command(command.serial, command.type)) {
          throw new RegistryMessageError(
            'REGISTRY_ROUTING_MISMATCH',
            `routing key ${d.routingKey} does not match the command (${command.serial}, ${command.type})`,
          );
        }
        expired.push(command);
      } catch (err) {
        opts.metrics.rejected('expired_commands', 'invalid');
        rejected.push({ index, reason: rejectReason(err) });
      }
    }
    if (late.length > 0 && opts.recordLate !== undefined) {
      log.warn({ count: late.length }, "commands expired in the registry's own queue; recording them late");
      const outcome = await opts.recordLate(late.map((i) => ds[i]!));
      for (const r of outcome.rejected ?? []) {
        const index = late[r.index];
        if (index !== undefined) rejected.push({ index, reason: r.reason });
      }
    }
    if (expired.length > 0) {
      // the acks first: a waiting caller learns it even while the database is down, and the registry's
      // main consumer records each ack (held and retried there) if the direct update below fails
      const timeUs = now() * 1000;
      await Promise.all(
        expired.map((c) => {
          const ack: CommandAck = {
            commandId: c.commandId,
            serial: c.serial,
            status: 'EXPIRED',
            reason: EXPIRED_IN_QUEUE_REASON,
            timeUs,
            type: c.type,
          };
          return opts.bus.publish(routingKeys.acks(c.serial), commandAckCodec.encode(ack), {
            messageId: `expired-${c.commandId}`,
          });
        }),
      );
      let recorded = 0;
      try {
        const changed = await markCommandsExpired(
          opts.pool,
          expired.map((c) => c.commandId),
          EXPIRED_IN_QUEUE_REASON,
        );
        for (const c of changed) opts.metrics.command(c.type, 'EXPIRED');
        recorded = changed.length;
      } catch (err) {
        log.warn(
          { err, count: expired.length },
          'cannot mark expired commands now; their acks will record them',
        );
      }
      log.info({ count: expired.length, recorded }, 'commands expired in sensor queues');
    }
    return rejected.length > 0 ? { rejected } : {};
  };
}
