import { assertSerial } from '@sensor-streaming/protocol';
import type { Queryable } from '../pool.js';

/** One sensor to provision: kind '' keeps the stored kind; labels are merged over the stored ones. */
export interface SensorRegistrationInput {
  serial: string;
  kind: string;
  labels: Record<string, string>;
}

function serialsOf(serials: readonly string[]): string[] {
  const unique = [...new Set(serials)];
  for (const [i, s] of unique.entries()) assertSerial(s, `serials[${i}]`);
  return unique;
}

/**
 * Marks the sensors provisioned (creating their rows), in one statement for the whole list, and records a
 * PROVISIONED event each. Provisioning a revoked sensor again clears revoked_at. Returns how many rows were
 * written.
 */
export async function registerSensors(
  db: Queryable,
  sensors: readonly SensorRegistrationInput[],
  by: string,
): Promise<number> {
  if (sensors.length === 0) return 0;
  const bySerial = new Map(sensors.map((s) => [assertSerial(s.serial, 'serial'), s]));
  const list = [...bySerial.values()];
  const { rowCount } = await db.query(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS t (serial, kind, labels)
     ), upserted AS (
       INSERT INTO sensors AS s (serial, kind, labels, provisioned_at)
       SELECT serial, kind, labels, now() FROM input ORDER BY serial
       ON CONFLICT (serial) DO UPDATE SET
         kind = COALESCE(NULLIF(EXCLUDED.kind, ''), s.kind),
         labels = s.labels || EXCLUDED.labels,
         provisioned_at = now(),
         revoked_at = NULL
       RETURNING s.serial, s.kind, s.labels
     )
     INSERT INTO sensor_registration_events (serial, event, kind, labels, by)
     SELECT serial, 'PROVISIONED', kind, labels, $4 FROM upserted`,
    [list.map((s) => s.serial), list.map((s) => s.kind), list.map((s) => JSON.stringify(s.labels)), by],
  );
  return rowCount ?? 0;
}

/** Marks the sensors revoked (rows and their data kept) and records a REVOKED event; returns the serials revoked now. */
export async function revokeSensors(
  db: Queryable,
  serials: readonly string[],
  by: string,
): Promise<string[]> {
  const unique = serialsOf(serials);
  if (unique.length === 0) return [];
  const { rows } = await db.query<{ serial: string }>(
    `WITH revoked AS (
       UPDATE sensors SET revoked_at = now()
       WHERE serial = ANY($1::text[]) AND provisioned_at IS NOT NULL AND revoked_at IS NULL
       RETURNING serial
     ), events AS (
       INSERT INTO sensor_registration_events (serial, event, by)
       SELECT serial, 'REVOKED', $2 FROM revoked
     )
     SELECT serial FROM revoked`,
    [unique, by],
  );
  return rows.map((r) => r.serial).sort();
}

/** The serials of the list that are provisioned and not revoked (closed registration admits only these). */
export async function provisionedSerials(db: Queryable, serials: readonly string[]): Promise<Set<string>> {
  const unique = serialsOf(serials);
  if (unique.length === 0) return new Set();
  const { rows } = await db.query<{ serial: string }>(
    `SELECT serial FROM sensors
     WHERE serial = ANY($1::text[]) AND provisioned_at IS NOT NULL AND revoked_at IS NULL`,
    [unique],
  );
  return new Set(rows.map((r) => r.serial));
}
