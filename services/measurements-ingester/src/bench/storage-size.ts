// Bytes on disk per stored sample: `pnpm --filter @sensor-streaming/measurements-ingester bench:storage`.
// Writes BENCH_STORAGE_ROWS samples (BENCH_STORAGE_SENSORS sensors at 1 Hz, one channel, the ingester's
// COPY path) into a fresh migrated database, then reports the size of the measurements table (every
// partition, heap + primary key + TOAST) and of the rollups the platform keeps beside it, per row.
import { writeMeasurements } from '@sensor-streaming/db';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { readEnv } from '@sensor-streaming/runtime';

async function main(): Promise<void> {
  const r = readEnv(process.env);
  const rows = r.int('BENCH_STORAGE_ROWS', 2_000_000, { min: 10_000, max: 50_000_000 });
  const sensors = r.int('BENCH_STORAGE_SENSORS', 1000, { min: 1, max: 1_000_000 });
  r.done();
  const db = await createTestDatabase({ prefix: 'bench_storage', max: 2 });
  try {
    const seconds = Math.ceil(rows / sensors);
    const startUs = (Date.now() - seconds * 1000 - 60_000) * 1000;
    const chunk = 60; // seconds per write: sensors * 60 rows
    for (let s0 = 0; s0 < seconds; s0 += chunk) {
      const n = Math.min(chunk, seconds - s0);
      const series = Array.from({ length: sensors }, (_, k) => ({
        sensorId: k + 1,
        channel: 'temperature',
        timesUs: Array.from({ length: n }, (_, i) => startUs + (s0 + i) * 1_000_000 + k),
        values: Array.from({ length: n }, (_, i) => 20 + Math.sin((s0 + i + k) / 300) * 5 + (i % 7) * 0.01),
      }));
      await writeMeasurements(db.pool, series);
    }
    await db.pool.query('VACUUM ANALYZE measurements');
    await db.pool.query('CALL sensor_streaming_maintain_storage(NULL)').catch(() => undefined);
    const { rows: size } = await db.pool.query<{ n: string; bytes: string; rollup: string; version: string }>(
      `SELECT (SELECT count(*) FROM measurements) AS n,
              (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('measurements')) AS bytes,
              (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                 WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'rollup%') AS rollup,
              current_setting('server_version') AS version`,
    );
    const row = size[0] as { n: string; bytes: string; rollup: string; version: string };
    const n = Number(row.n);
    const perRow = Number(row.bytes) / n;
    console.log(
      `storage: ${n.toLocaleString('en-US')} rows (${sensors} sensors x ${seconds} s at 1 Hz), PostgreSQL ${row.version}, ` +
        `measurements ${(Number(row.bytes) / 1e6).toFixed(1)} MB, rollups ${(Number(row.rollup) / 1e6).toFixed(1)} MB`,
    );
    console.log(`storage: ${perRow.toFixed(1)} bytes/sample uncompressed (heap + primary key)`);
  } finally {
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
