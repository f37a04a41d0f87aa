import { assertSerial } from '@sensor-streaming/protocol';
import type { Queryable } from '../pool.js';

/** sensors.id: a bigint in SQL, always far below 2^53, returned as a number. */
export type SensorId = number;

interface IdRow {
  id: string;
  serial: string;
}

function uniqueSerials(serials: readonly string[]): string[] {
  const unique = [...new Set(serials)];
  for (const [i, s] of unique.entries()) assertSerial(s, `serials[${i}]`);
  return unique;
}

function toMap(rows: IdRow[]): Map<string, SensorId> {
  return new Map(rows.map((r) => [r.serial, Number(r.id)]));
}

/**
 * Ids of the given serials, creating bare sensor rows for unknown ones (the
 * registry fills in their metadata when their SensorState arrives).
 * Idempotent and race-free in one statement: existing rows are read without
 * writing; only missing serials are inserted, in serial order (no deadlocks
 * between concurrent callers), and one that another transaction inserted
 * meanwhile is returned through ON CONFLICT DO UPDATE. Every serial is in the
 * result. Throws ProtocolError for an invalid serial.
 */
export async function upsertSensorsBySerial(
  db: Queryable,
  serials: readonly string[],
): Promise<Map<string, SensorId>> {
  const unique = uniqueSerials(serials);
  if (unique.length === 0) return new Map();
  const { rows } = await db.query<IdRow>(
    `WITH input AS (
       SELECT DISTINCT serial FROM unnest($1::text[]) AS t (serial)
     ), existing AS (
       SELECT s.id, s.serial FROM sensors s JOIN input USING (serial)
     ), inserted AS (
       INSERT INTO sensors (serial)
       SELECT serial FROM input WHERE serial NOT IN (SELECT serial FROM existing) ORDER BY serial
       ON CONFLICT (serial) DO UPDATE SET serial = EXCLUDED.serial
       RETURNING id, serial
     )
     SELECT id, serial FROM existing
     UNION ALL
     SELECT id, serial FROM inserted`,
    [unique],
  );
  return toMap(rows);
}

/** Ids of the serials that exist; unknown serials are absent from the map. */
export async function getSensorIdsBySerial(
  db: Queryable,
  serials: readonly string[],
): Promise<Map<string, SensorId>> {
  const unique = uniqueSerials(serials);
  if (unique.length === 0) return new Map();
  const { rows } = await db.query<IdRow>('SELECT id, serial FROM sensors WHERE serial = ANY($1::text[])', [
    unique,
  ]);
  return toMap(rows);
}
