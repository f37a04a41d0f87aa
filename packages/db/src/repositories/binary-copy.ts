import type { Pool, PoolClient } from '../pool.js';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * Encoder for PostgreSQL's binary COPY format: one Buffer per batch.
 *
 * Layout: 11-byte signature, int32 flags, int32 header-extension length; per
 * row an int16 field count then, per field, an int32 byte length (-1 = NULL)
 * and the value in the type's binary send format; an int16 -1 trailer.
 * Values: int8 = big-endian int64, float8 = IEEE 754 big-endian,
 * timestamptz = int64 microseconds since 2000-01-01 00:00:00 UTC, text = UTF-8.
 */

const SIGNATURE = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
/** Bytes of the header (signature + flags + extension length). */
export const COPY_HEADER_BYTES = SIGNATURE.length + 8;
/** Bytes of the trailer. */
export const COPY_TRAILER_BYTES = 2;
/** Unix epoch to PostgreSQL epoch (2000-01-01) in microseconds. */
export const PG_EPOCH_OFFSET_US = 946_684_800_000_000;
const TWO_POW_32 = 4_294_967_296;

export class BinaryCopyBuffer {
  private buf: Buffer;
  private view: DataView;
  private off = 0;
  private rowCount = 0;

  /** `capacity`: initial size in bytes; an exact size avoids any regrowth. */
  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(capacity, COPY_HEADER_BYTES + COPY_TRAILER_BYTES));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.buf.set(SIGNATURE, 0);
    this.view.setInt32(SIGNATURE.length, 0); // flags: no OIDs
    this.view.setInt32(SIGNATURE.length + 4, 0); // no header extension
    this.off = COPY_HEADER_BYTES;
  }

  get rows(): number {
    return this.rowCount;
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  beginRow(fields: number): void {
    this.ensure(2);
    this.view.setInt16(this.off, fields);
    this.off += 2;
    this.rowCount++;
  }

  null(): void {
    this.ensure(4);
    this.view.setInt32(this.off, -1);
    this.off += 4;
  }

  int4(v: number): void {
    this.ensure(8);
    this.view.setInt32(this.off, 4);
    this.view.setInt32(this.off + 4, v);
    this.off += 8;
  }

  /** A safe integer as int8 (no BigInt on the hot path). */
  int8(v: number): void {
    this.ensure(12);
    this.view.setInt32(this.off, 8);
    this.writeInt64(this.off + 4, v);
    this.off += 12;
  }

  int2(v: number): void {
    this.ensure(6);
    this.view.setInt32(this.off, 2);
    this.view.setInt16(this.off + 4, v);
    this.off += 6;
  }

  float8(v: number): void {
    this.ensure(12);
    this.view.setInt32(this.off, 8);
    this.view.setFloat64(this.off + 4, v);
    this.off += 12;
  }

  /** Integer microseconds since the Unix epoch, as timestamptz. */
  timestamptzUs(unixUs: number): void {
    this.ensure(12);
    this.view.setInt32(this.off, 8);
    this.writeInt64(this.off + 4, Math.round(unixUs) - PG_EPOCH_OFFSET_US);
    this.off += 12;
  }

  text(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.off + 4, 'utf8');
    this.view.setInt32(this.off, n);
    this.off += 4 + n;
  }

  /** Pre-encoded UTF-8 text (encode a repeated value once per batch). */
  textBytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.view.setInt32(this.off, b.length);
    this.buf.set(b, this.off + 4);
    this.off += 4 + b.length;
  }

  /** Appends the trailer and returns the encoded bytes (a view, not a copy). */
  finish(): Buffer {
    this.ensure(2);
    this.view.setInt16(this.off, -1);
    this.off += 2;
    return this.buf.subarray(0, this.off);
  }

  private writeInt64(at: number, v: number): void {
    const hi = Math.floor(v / TWO_POW_32);
    this.view.setInt32(at, hi);
    this.view.setUint32(at + 4, v - hi * TWO_POW_32);
  }
}

export const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === UNIQUE_VIOLATION;
}

/** Runs one `COPY <target> FROM STDIN (FORMAT binary)` with `data`; resolves with the row count. */
export function copyBinary(client: PoolClient, target: string, data: Buffer): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const stream = client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`));
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    stream.end(data);
  });
}

/** Where and how an idempotent COPY writes. Identifiers are trusted constants, never input. */
export interface CopyTarget {
  table: string;
  /** Column list in the order the COPY buffer encodes them: `(a, b, c)`. */
  columns: string;
  /** Temporary staging table name (one per connection, emptied at commit). */
  staging: string;
  /** Column definitions of the staging table, same order as `columns`. */
  stagingColumns: string;
}

export interface IdempotentWriteResult {
  /** Rows actually inserted (the others were stored already). */
  inserted: number;
  /** True when the plain COPY hit a unique violation and the staging path ran. */
  deduplicated: boolean;
}

/**
 * COPY into a temporary staging table, then insert what is not stored yet
 * (`ON CONFLICT DO NOTHING`), in one transaction.
 */
export async function copyViaStaging(client: PoolClient, t: CopyTarget, data: Buffer): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query(
      `CREATE TEMP TABLE IF NOT EXISTS ${t.staging} (${t.stagingColumns}) ON COMMIT DELETE ROWS`,
    );
    await copyBinary(client, `${t.staging} ${t.columns}`, data);
    const cols = t.columns.slice(1, -1);
    const r = await client.query(
      `INSERT INTO ${t.table} ${t.columns} SELECT ${cols} FROM ${t.staging} ON CONFLICT DO NOTHING`,
    );
    await client.query('COMMIT');
    return r.rowCount ?? 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The fast idempotent write: one plain binary COPY straight into the table (a
 * single COPY is atomic: no BEGIN/COMMIT round trips); only when it fails on
 * a unique violation (a redelivered batch: nothing was written) the same
 * buffer goes through {@link copyViaStaging}. Resolves after the commit.
 */
export async function copyIdempotent(
  pool: Pool,
  t: CopyTarget,
  data: Buffer,
  mode: 'copy' | 'staging' = 'copy',
): Promise<IdempotentWriteResult> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    if (mode === 'copy') {
      try {
        return { inserted: await copyBinary(client, `${t.table} ${t.columns}`, data), deduplicated: false };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
    return { inserted: await copyViaStaging(client, t, data), deduplicated: mode === 'copy' };
  } catch (err) {
    broken = connectionBroken(err);
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * A server error (it has a SQLSTATE) leaves the connection usable; anything
 * else (socket closed, protocol error) means the client must be discarded.
 */
export function connectionBroken(err: unknown): Error | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    !code.startsWith('08') &&
    !code.startsWith('57P')
  ) {
    return undefined;
  }
  return err instanceof Error ? err : new Error(String(err));
}
