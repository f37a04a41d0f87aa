// Helpers of the data-path integration tests (shards, broker definitions): what a sensor publishes, what
// reached the table, and by which routes data reaches a queue.
import { managementRequest } from '@sensor-streaming/bus/testing';
import type { Queryable } from '@sensor-streaming/db';
import { measurementBatchCodec, releaseExchangeName } from '@sensor-streaming/protocol';

/** A vibration batch of `samples` values, its first sample placed by `sequence` after `t0Us` (no overlap). */
export function vibrationBatch(serial: string, sequence: number, samples: number, t0Us: number): Buffer {
  return measurementBatchCodec.encode({
    serial,
    channel: 'vibration',
    unit: 'mm/s',
    sequence,
    firstSampleTimeUs: t0Us + sequence * samples * 1000,
    samplePeriodNs: 1_000_000,
    values: Array.from({ length: samples }, (_, i) => i),
  });
}

/** Rows in `measurements`. */
export async function measurementRows(pool: Queryable): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM measurements');
  return rows[0]?.n ?? 0;
}

/**
 * The routes data reaches `queue` by (`<source>:<key>`): its bindings but the default exchange's and its own
 * release exchange's.
 */
export async function dataRoutesOf(vhost: string, queue: string): Promise<string[]> {
  const list = (await managementRequest(
    'GET',
    `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/bindings`,
  )) as Array<{ source: string; routing_key: string }>;
  return list
    .filter((b) => b.source !== '' && b.source !== releaseExchangeName(queue))
    .map((b) => `${b.source}:${b.routing_key}`);
}
