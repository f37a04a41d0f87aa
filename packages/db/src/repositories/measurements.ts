import type { Pool, PoolClient } from '../pool.js';
import {
  BinaryCopyBuffer,
  COPY_HEADER_BYTES,
  COPY_TRAILER_BYTES,
  type CopyTarget,
  connectionBroken,
  copyIdempotent,
} from './binary-copy.js';

/**
 * Samples of one sensor and channel: `timesUs[i]` (integer microseconds since
 * the Unix epoch) is the time of `values[i]`. A decoded MeasurementBatch maps
 * to one series without copying its arrays.
 */
export interface MeasurementSeries {
  sensorId: number;
  channel: string;
  timesUs: ArrayLike<number>;
  values: ArrayLike<number>;
}

/**
 * - `copy` (default, fastest measured): one binary COPY straight into
 *   `measurements`; only on a unique violation (a redelivered batch) the same
 *   buffer goes through `staging`.
 * - `staging`: binary COPY into a temporary table, then
 *   `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, in one transaction.
 * - `unnest`: `INSERT ... SELECT FROM unnest($1..$4) ON CONFLICT DO NOTHING`.
 *
 * All three are idempotent and atomic; `staging` and `unnest` exist for the
 * ingest benchmark's comparison.
 */
export type MeasurementWriteStrategy = 'copy' | 'staging' | 'unnest';

export interface WriteMeasurementsOptions {
  strategy?: MeasurementWriteStrategy;
}

export interface MeasurementWriteResult {
  /** Rows submitted. */
  rows: number;
  /** Rows actually inserted (rows - inserted were stored already). */
  inserted: number;
  /** True when the plain COPY hit duplicates and the staging path ran. */
  deduplicated: boolean;
}

const MEASUREMENTS: CopyTarget = {
  table: 'measurements',
  columns: '(sensor_id, channel, time, value)',
  staging: 'measurements_staging',
  stagingColumns: 'sensor_id bigint, channel text, time timestamptz, value float8',
};

function validateSeries(s: MeasurementSeries): void {
  if (s.timesUs.length !== s.values.length) {
    throw new RangeError(
      `measurement series for sensor ${s.sensorId}/${s.channel}: ${s.timesUs.length} times but ${s.values.length} values`,
    );
  }
}

export function countSamples(series: readonly MeasurementSeries[]): number {
  let n = 0;
  for (const s of series) n += s.values.length;
  return n;
}

/** Encodes the series as one binary COPY buffer for columns (sensor_id, channel, time, value). */
export function encodeMeasurementsCopy(series: readonly MeasurementSeries[]): Buffer {
  let size = COPY_HEADER_BYTES + COPY_TRAILER_BYTES;
  const channels: Buffer[] = [];
  for (const s of series) {
    validateSeries(s);
    const ch = Buffer.from(s.channel, 'utf8');
    channels.push(ch);
    // int16 field count + 4 int32 lengths + int8 + text + timestamptz + float8
    size += s.values.length * (2 + 16 + 8 + ch.length + 8 + 8);
  }
  const out = new BinaryCopyBuffer(size);
  series.forEach((s, k) => {
    const ch = channels[k] as Buffer;
    const { timesUs, values, sensorId } = s;
    for (let i = 0; i < values.length; i++) {
      out.beginRow(4);
      out.int8(sensorId);
      out.textBytes(ch);
      out.timestamptzUs(timesUs[i] as number);
      out.float8(values[i] as number);
    }
  });
  return out.finish();
}

async function insertViaUnnest(client: PoolClient, series: readonly MeasurementSeries[]): Promise<number> {
  const ids: number[] = [];
  const chans: string[] = [];
  const times: number[] = [];
  const vals: number[] = [];
  for (const s of series) {
    validateSeries(s);
    for (let i = 0; i < s.values.length; i++) {
      ids.push(s.sensorId);
      chans.push(s.channel);
      times.push(Math.round(s.timesUs[i] as number));
      vals.push(s.values[i] as number);
    }
  }
  const r = await client.query(
    `INSERT INTO measurements (sensor_id, channel, time, value)
     SELECT id, ch, timestamptz 'epoch' + us * interval '1 microsecond', v
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::float8[]) AS t(id, ch, us, v)
     ON CONFLICT DO NOTHING`,
    [ids, chans, times, vals],
  );
  return r.rowCount ?? 0;
}

/**
 * Writes the series idempotently (rows already stored are skipped) and
 * atomically (all or nothing). Resolves after the commit.
 */
export async function writeMeasurements(
  pool: Pool,
  series: readonly MeasurementSeries[],
  opts: WriteMeasurementsOptions = {},
): Promise<MeasurementWriteResult> {
  const rows = countSamples(series);
  if (rows === 0) return { rows: 0, inserted: 0, deduplicated: false };
  const strategy = opts.strategy ?? 'copy';
  if (strategy !== 'unnest') {
    const r = await copyIdempotent(pool, MEASUREMENTS, encodeMeasurementsCopy(series), strategy);
    return { rows, ...r };
  }
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return { rows, inserted: await insertViaUnnest(client, series), deduplicated: false };
  } catch (err) {
    broken = connectionBroken(err);
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * True for errors caused by the rows themselves (SQLSTATE class 22 data
 * exception, class 23 integrity violation other than a duplicate): retrying
 * the same rows cannot help, a smaller batch without the offending rows can.
 */
export function isRowDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || (code.startsWith('23') && code !== '23505'));
}
