import { DEAD_LETTER_QUEUE, DEAD_LETTER_REASON_HEADER } from '@sensor-streaming/protocol';
import type { Pool } from '@sensor-streaming/db';
import type { ConfirmedGood, ConfirmedMalformed } from './load-generator.js';
import { SAMPLE_PERIOD_US } from './workload.js';

export interface StoredGroup {
  rows: number;
  checksum: number;
}

/** Samples per (serial, message sequence) as stored: row count and sum of values. */
export async function storedSamples(
  pool: Pool,
  prefix: string,
  t0Us: number,
  samplesPerMessage: number,
): Promise<Map<string, StoredGroup>> {
  const { rows } = await pool.query<{ serial: string; seq: number; n: string; total: number }>(
    `SELECT s.serial,
            floor(((extract(epoch FROM m.time) * 1000000)::bigint - $2::bigint) / $3::bigint)::int AS seq,
            count(*) AS n,
            sum(m.value) AS total
       FROM measurements m JOIN sensors s ON s.id = m.sensor_id
      WHERE s.serial LIKE $1
      GROUP BY 1, 2`,
    [`${prefix}-%`, t0Us, samplesPerMessage * SAMPLE_PERIOD_US],
  );
  return new Map(rows.map((r) => [`${r.serial}/${r.seq}`, { rows: Number(r.n), checksum: Number(r.total) }]));
}

/** Log entries per (serial, message sequence) as stored: row count and sum of the x= numbers. */
export async function storedEntries(pool: Pool, prefix: string): Promise<Map<string, StoredGroup>> {
  const { rows } = await pool.query<{ serial: string; seq: number; n: string; total: string }>(
    `SELECT s.serial,
            split_part(l.message, ' ', 3)::int AS seq,
            count(*) AS n,
            sum(split_part(l.message, 'x=', 2)::bigint) AS total
       FROM sensor_logs l JOIN sensors s ON s.id = l.sensor_id
      WHERE s.serial LIKE $1 AND l.message LIKE 'fault-log %'
      GROUP BY 1, 2`,
    [`${prefix}-%`],
  );
  return new Map(rows.map((r) => [`${r.serial}/${r.seq}`, { rows: Number(r.n), checksum: Number(r.total) }]));
}

export async function storedTotals(
  pool: Pool,
  prefix: string,
): Promise<{ samples: number; entries: number }> {
  const { rows } = await pool.query<{ samples: string; entries: string }>(
    `SELECT (SELECT count(*) FROM measurements m JOIN sensors s ON s.id = m.sensor_id WHERE s.serial LIKE $1) AS samples,
            (SELECT count(*) FROM sensor_logs l JOIN sensors s ON s.id = l.sensor_id WHERE s.serial LIKE $1) AS entries`,
    [`${prefix}-%`],
  );
  return { samples: Number(rows[0]?.samples ?? 0), entries: Number(rows[0]?.entries ?? 0) };
}

export interface StoreCheck {
  confirmed: number;
  stored: number;
  missing: number;
  duplicates: number;
  /** Messages whose rows are all there but whose checksum differs (wrong values). */
  wrongChecksum: number;
  /** Stored rows of groups no confirmed message accounts for. */
  unexpected: number;
  examples: string[];
}

/** Compares what was confirmed with what is stored, message by message. */
export function checkStored(
  confirmed: readonly ConfirmedGood[],
  stored: Map<string, StoredGroup>,
  kind: 'data' | 'logs',
): StoreCheck {
  const out: StoreCheck = {
    confirmed: 0,
    stored: 0,
    missing: 0,
    duplicates: 0,
    wrongChecksum: 0,
    unexpected: 0,
    examples: [],
  };
  const seen = new Set<string>();
  for (const c of confirmed) {
    if (c.kind !== kind) continue;
    const key = `${c.serial}/${c.seq}`;
    if (seen.has(key)) continue; // confirmed twice (a re-send): one message
    seen.add(key);
    out.confirmed += c.rows;
    const s = stored.get(key);
    const rows = s?.rows ?? 0;
    out.stored += Math.min(rows, c.rows);
    if (rows < c.rows) {
      out.missing += c.rows - rows;
      if (out.examples.length < 5) out.examples.push(`${kind} ${key}: ${rows} of ${c.rows} rows stored`);
    } else if (rows > c.rows) {
      out.duplicates += rows - c.rows;
      if (out.examples.length < 5) out.examples.push(`${kind} ${key}: ${rows} rows for ${c.rows}`);
    } else if (s && s.checksum !== c.checksum) {
      out.wrongChecksum++;
      if (out.examples.length < 5)
        out.examples.push(`${kind} ${key}: checksum ${s.checksum} != ${c.checksum}`);
    }
  }
  for (const [key, s] of stored) if (!seen.has(key)) out.unexpected += s.rows;
  return out;
}

export interface DeadLetter {
  messageId: string | undefined;
  reason: string | undefined;
  routingKey: string;
}

/** Takes every message out of the dead-letter queue (basic.get + ack) and returns them. */
export async function drainDeadLetters(amqpUrl: string): Promise<DeadLetter[]> {
  const { connect } = await import('amqplib');
  const conn = await connect(amqpUrl);
  conn.on('error', () => undefined);
  const out: DeadLetter[] = [];
  try {
    const ch = await conn.createChannel();
    for (;;) {
      const msg = await ch.get(DEAD_LETTER_QUEUE, { noAck: false });
      if (msg === false) break;
      const reason = msg.properties.headers?.[DEAD_LETTER_REASON_HEADER];
      const rk = msg.properties.headers?.['x-sensor-streaming-original-routing-key'];
      out.push({
        messageId: typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined,
        reason: typeof reason === 'string' ? reason : undefined,
        routingKey: typeof rk === 'string' ? rk : msg.fields.routingKey,
      });
      ch.ack(msg);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
  return out;
}

export interface DeadLetterCheck {
  expected: number;
  found: number;
  /** Malformed messages not in the dead-letter queue. */
  missing: number;
  /** Dead-lettered with a reason that does not match the expected one. */
  wrongReason: number;
  /** Good messages found in the dead-letter queue (the loss this suite exists to prevent). */
  goodDeadLettered: number;
  /** Copies beyond the first (a crash between the dead-letter confirm and the ack). */
  extraCopies: number;
  examples: string[];
}

export function checkDeadLetters(
  expected: readonly ConfirmedMalformed[],
  dead: readonly DeadLetter[],
): DeadLetterCheck {
  const byId = new Map<string, DeadLetter[]>();
  for (const d of dead) {
    const id = d.messageId ?? '(none)';
    const list = byId.get(id) ?? [];
    list.push(d);
    byId.set(id, list);
  }
  const out: DeadLetterCheck = {
    expected: 0,
    found: 0,
    missing: 0,
    wrongReason: 0,
    goodDeadLettered: 0,
    extraCopies: 0,
    examples: [],
  };
  const seen = new Set<string>();
  for (const m of expected) {
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    out.expected++;
    const copies = byId.get(m.id) ?? [];
    if (copies.length === 0) {
      out.missing++;
      if (out.examples.length < 5) out.examples.push(`${m.id}: not in the dead-letter queue`);
      continue;
    }
    out.found++;
    out.extraCopies += copies.length - 1;
    const first = copies[0] as DeadLetter;
    if (!m.reason.test(first.reason ?? '')) {
      out.wrongReason++;
      if (out.examples.length < 5) out.examples.push(`${m.id}: reason ${JSON.stringify(first.reason)}`);
    }
  }
  for (const [id, copies] of byId) {
    if (id.startsWith('good-')) {
      out.goodDeadLettered += copies.length;
      if (out.examples.length < 5) out.examples.push(`${id} (good) dead-lettered: ${copies[0]?.reason}`);
    }
  }
  return out;
}
