import { createHash } from 'node:crypto';
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import {
  DEAD_LETTER_QUEUE,
  HEADER_DELIVERY_COUNT,
  HEADER_ORIGINAL_CONTENT_TYPE,
  HEADER_ORIGINAL_EXCHANGE,
  HEADER_ORIGINAL_QUEUE,
  HEADER_ORIGINAL_ROUTING_KEY,
  HEADER_REASON,
  HEADER_RELEASED,
} from './topology.js';

/*
 * The operator's side of sensor_streaming.dead: look at dead letters, re-inject them into the queue they
 * came from once the cause is fixed, or drop them. AMQP has no browse, so reading takes messages with
 * basic.get and gives back the ones not acted upon (their order in the queue may change).
 */

/** One dead letter as the operator sees it. */
export interface DeadLetter {
  /** Stable short id (hash of route, reason and body): what show/replay/purge take. */
  id: string;
  reason: string;
  /** `permanent`/`rejected` (the bus: bad input), or the broker's x-death reason (`delivery_limit`, `expired`, ...). */
  cause: string;
  routingKey: string;
  exchange: string;
  /** The queue it was consumed from; a replay goes back there. */
  queue: string | undefined;
  contentType: string | undefined;
  messageId: string | undefined;
  /** When it was dead-lettered (ms since epoch), when known. */
  deadAtMs: number | undefined;
  bytes: number;
  body: Buffer;
  headers: Record<string, unknown>;
}

/** Why and where the broker last dead-lettered a message (`x-death`, most recent first). */
function lastDeath(h: Record<string, unknown>): Record<string, unknown> | undefined {
  const deaths = h['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const d = deaths[0] as unknown;
  return d !== null && typeof d === 'object' ? (d as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

function toMs(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v > 1e11 ? v : v * 1000;
  if (v !== null && typeof v === 'object' && 'value' in v) return toMs((v as { value: unknown }).value);
  return undefined;
}

export function describeDeadLetter(m: Pick<GetMessage, 'content' | 'fields' | 'properties'>): DeadLetter {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  const death = lastDeath(h);
  const deathKeys = death?.['routing-keys'];
  const routingKey =
    str(h[HEADER_ORIGINAL_ROUTING_KEY]) ??
    (Array.isArray(deathKeys) ? str(deathKeys[0]) : undefined) ??
    m.fields.routingKey;
  const exchange = str(h[HEADER_ORIGINAL_EXCHANGE]) ?? str(death?.exchange) ?? '';
  const queue = str(h[HEADER_ORIGINAL_QUEUE]) ?? str(death?.queue);
  const reason =
    str(h[HEADER_REASON]) ??
    (death ? `${str(death.reason) ?? 'dead-lettered'} by the broker in ${queue ?? '?'}` : 'unknown');
  const cause = str(h[HEADER_REASON]) !== undefined ? 'rejected' : (str(death?.reason) ?? 'unknown');
  const contentType = str(h[HEADER_ORIGINAL_CONTENT_TYPE]) ?? str(m.properties.contentType);
  const id = createHash('sha256')
    .update(routingKey)
    .update('\0')
    .update(reason)
    .update('\0')
    .update(str(m.properties.messageId) ?? '')
    .update('\0')
    .update(m.content)
    .digest('hex')
    .slice(0, 12);
  return {
    id,
    reason,
    cause,
    routingKey,
    exchange,
    queue,
    contentType,
    messageId: str(m.properties.messageId),
    deadAtMs: toMs(death?.time) ?? toMs(m.properties.timestamp),
    bytes: m.content.length,
    body: m.content,
    headers: h,
  };
}

export interface DeadLetterScan {
  /** Look at no more than this many messages. */
  limit: number;
}

export interface DeadLetterQueue {
  /** Messages in the queue now (ready). */
  count(): Promise<number>;
  /** The first `limit` dead letters; all stay in the queue. */
  list(o: DeadLetterScan): Promise<DeadLetter[]>;
  /**
   * Re-injects the matching dead letters into the queue each came from (a fresh copy, its original route
   * restored by the consumer; the delivery count starts again), then removes them from the dead queue.
   * Returns the ones replayed; a dead letter whose queue is unknown or gone stays.
   */
  replay(
    match: (d: DeadLetter) => boolean,
    o: DeadLetterScan,
  ): Promise<{ replayed: DeadLetter[]; skipped: DeadLetter[] }>;
  /** Removes the matching dead letters for good. */
  purge(match: (d: DeadLetter) => boolean, o: DeadLetterScan): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

export interface DeadLetterConnection {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
  close(): Promise<void>;
}

/** Works on sensor_streaming.dead over its own connection (`url`), or `queue` for tests. */
export async function openDeadLetterQueue(url: string, queue = DEAD_LETTER_QUEUE): Promise<DeadLetterQueue> {
  const { connect } = await import('amqplib');
  const conn = await connect(url, { clientProperties: { connection_name: 'iotctl.dead-letters' } });
  conn.on('error', () => undefined);
  return deadLetterQueueOn(conn, queue);
}

export function deadLetterQueueOn(conn: DeadLetterConnection, queue = DEAD_LETTER_QUEUE): DeadLetterQueue {
  /** Takes up to `limit` messages; `act` decides per message; the rest go back when the channel closes. */
  async function scan(
    limit: number,
    act: (ch: ConfirmChannel, m: GetMessage, d: DeadLetter) => Promise<void>,
  ): Promise<void> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    try {
      for (let i = 0; i < limit; i++) {
        const m = await ch.get(queue, { noAck: false });
        if (m === false) break;
        await act(ch, m, describeDeadLetter(m));
      }
      await ch.waitForConfirms();
    } finally {
      // unacked messages return to the queue
      await ch.close().catch(() => undefined);
    }
  }

  return {
    async count() {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        return (await ch.checkQueue(queue)).messageCount;
      } finally {
        await ch.close().catch(() => undefined);
      }
    },

    async list(o) {
      const out: DeadLetter[] = [];
      await scan(o.limit, async (_ch, _m, d) => {
        out.push(d);
      });
      return out;
    },

    async replay(match, o) {
      const replayed: DeadLetter[] = [];
      const skipped: DeadLetter[] = [];
      const existing = new Map<string, boolean>();
      async function queueExists(name: string): Promise<boolean> {
        const known = existing.get(name);
        if (known !== undefined) return known;
        // a passive declare of a missing queue closes its channel: use a throwaway one
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        let ok = false;
        try {
          await ch.checkQueue(name);
          ok = true;
        } catch {
          ok = false;
        } finally {
          await ch.close().catch(() => undefined);
        }
        existing.set(name, ok);
        return ok;
      }
      await scan(o.limit, async (ch, m, d) => {
        if (!match(d)) return;
        if (d.queue === undefined || !(await queueExists(d.queue))) {
          skipped.push(d);
          return;
        }
        const headers: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(d.headers)) {
          if (
            k === 'x-death' ||
            k.startsWith('x-first-death') ||
            k.startsWith('x-last-death') ||
            k === 'x-delivery-count' ||
            k === HEADER_REASON ||
            k === HEADER_ORIGINAL_QUEUE ||
            k === HEADER_DELIVERY_COUNT ||
            k === HEADER_ORIGINAL_CONTENT_TYPE
          )
            continue;
          headers[k] = v;
        }
        // the consumer restores the route of a released copy (see HEADER_RELEASED)
        headers[HEADER_RELEASED] = Number(headers[HEADER_RELEASED] ?? 0) + 1;
        headers[HEADER_ORIGINAL_ROUTING_KEY] = d.routingKey;
        headers[HEADER_ORIGINAL_EXCHANGE] = d.exchange;
        const options: Record<string, unknown> = { headers, persistent: true, mandatory: true };
        if (d.contentType !== undefined) options.contentType = d.contentType;
        if (d.messageId !== undefined) options.messageId = d.messageId;
        await new Promise<void>((resolve, reject) => {
          ch.publish('', d.queue as string, m.content, options, (err) => (err ? reject(err) : resolve()));
        });
        ch.ack(m);
        replayed.push(d);
      });
      return { replayed, skipped };
    },

    async purge(match, o) {
      const purged: DeadLetter[] = [];
      await scan(o.limit, async (ch, m, d) => {
        if (!match(d)) return;
        ch.ack(m);
        purged.push(d);
      });
      return purged;
    },

    async close() {
      await conn.close().catch(() => undefined);
    },
  };
}
