// Storage on whichever backend the test server offers (TEST_DATABASE_URL):
// plain PostgreSQL (partitions, incremental rollups, retention by
// sensor_streaming_maintain_storage) or TimescaleDB (hypertables, continuous
// aggregates on continuous aggregates, policies). Same assertions on the data.
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DbLogger } from '../logger.js';
import { defaultMigrationsDir, loadMigrationFiles } from '../migrations/migration-files.js';
import { runMigrations } from '../migrations/run-migrations.js';
import type { Pool } from '../pool.js';
import {
  createTestDatabase,
  pauseTimescaleJobs,
  refreshContinuousAggregates,
  type TestDatabase,
  testBackend,
} from '../testing/index.js';
import { describeStorage, formatStorageLine } from './storage-backend.js';
import { createStorageMaintainer, maintainStorage } from './storage-maintainer.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function database(migrate = true): Promise<TestDatabase> {
  const db = await createTestDatabase({ migrate, max: 6 });
  cleanups.push(db.drop);
  return db;
}

/** migrations/ up to and including `last` (the schema of an older release). */
async function migrationsUpTo(last: number): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ss-old-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const src = defaultMigrationsDir();
  for (const name of await readdir(src)) {
    if (name.endsWith('.sql') && Number(name.slice(0, 4)) <= last)
      await cp(path.join(src, name), path.join(dir, name));
  }
  return dir;
}

/** Materialises every rollup level the way the backend does it. */
async function materialise(pool: Pool): Promise<void> {
  if ((await testBackend()) === 'timescaledb') {
    await pauseTimescaleJobs(pool);
    await refreshContinuousAggregates(
      pool,
      ['measurements_1m', 'error_counts_1m', 'measurements_1h', 'measurements_1d'],
      { from: null, to: null },
    );
  } else {
    await maintainStorage(pool);
  }
}

async function seedSensors(pool: Pool, n: number): Promise<number[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO sensors (serial) SELECT 'st-' || g FROM generate_series(1, $1) g RETURNING id`,
    [n],
  );
  return rows.map((r) => Number(r.id));
}

/** Samples every `stepS` seconds over [now - hours, now - endMinutes), value a deterministic wave. */
async function seedSamples(
  pool: Pool,
  ids: number[],
  hours: number,
  stepS: number,
  endMinutes = 0,
): Promise<number> {
  const r = await pool.query(
    `INSERT INTO measurements (sensor_id, channel, time, value)
     SELECT s, c, g, sin(extract(epoch FROM g) / 600 + s) * 10 + length(c)
     FROM unnest($1::bigint[]) s, unnest(ARRAY['vibration', 'temperature']) c,
          generate_series(date_trunc('second', now()) - $2 * interval '1 hour',
                          now() - $4 * interval '1 minute', $3 * interval '1 second') g
     ON CONFLICT DO NOTHING`,
    [ids, hours, stepS, endMinutes],
  );
  return r.rowCount ?? 0;
}

interface Mismatch {
  level: string;
  problems: unknown[];
}

/**
 * Every bucket of a rollup level against a GROUP BY over the raw rows: count,
 * min, max exact; avg and rms within 1e-9 relative (summation order differs).
 */
async function compareWithRaw(pool: Pool, level: '1m' | '1h' | '1d'): Promise<Mismatch> {
  const width = { '1m': '1 minute', '1h': '1 hour', '1d': '1 day' }[level];
  const { rows } = await pool.query(
    `WITH raw AS (
       SELECT time_bucket(INTERVAL '${width}', time) AS bucket, sensor_id, channel,
              avg(value) AS avg, min(value) AS min, max(value) AS max, sqrt(avg(value * value)) AS rms,
              count(*) AS count
       FROM measurements GROUP BY 1, 2, 3
     )
     SELECT coalesce(r.bucket, a.bucket) AS bucket, coalesce(r.sensor_id, a.sensor_id) AS sensor_id,
            coalesce(r.channel, a.channel) AS channel, r.count AS raw_count, a.count AS rollup_count,
            r.avg AS raw_avg, a.avg AS rollup_avg
     FROM raw r
     FULL JOIN measurements_${level} a USING (bucket, sensor_id, channel)
     WHERE r.bucket IS NULL OR a.bucket IS NULL
        OR r.count <> a.count OR r.min <> a.min OR r.max <> a.max
        OR abs(r.avg - a.avg) > 1e-9 * greatest(1, abs(r.avg))
        OR abs(r.rms - a.rms) > 1e-9 * greatest(1, abs(r.rms))
     LIMIT 5`,
  );
  return { level, problems: rows };
}

async function expectRollupsMatchRaw(pool: Pool): Promise<void> {
  for (const level of ['1m', '1h', '1d'] as const) {
    expect(await compareWithRaw(pool, level)).toEqual({ level, problems: [] });
  }
}

describe('storage on the backend the test server offers', () => {
  it('upgrading a database with data keeps every row and serves 1m/1h/1d rollups equal to the raw rows', {
    timeout: 120_000,
  }, async () => {
    const backend = await testBackend();
    const db = await database(false);
    await runMigrations(db.pool, { dir: await migrationsUpTo(9) });
    const ids = await seedSensors(db.pool, 3);
    const written = await seedSamples(db.pool, ids, 50, 30);
    await db.pool.query(
      `INSERT INTO sensor_logs (sensor_id, time, level, error_code, message)
       SELECT $1, now() - g * interval '7 minutes', 'ERROR', 'E' || (g % 3), 'old entry ' || g
       FROM generate_series(1, 100) g`,
      [ids[0]],
    );

    const upgrade = await runMigrations(db.pool);
    const newer = (await loadMigrationFiles(defaultMigrationsDir())).filter((f) => f.version > 9);
    expect(upgrade.applied).toEqual(newer.map((f) => f.name));
    expect(upgrade.applied.slice(0, 3)).toEqual([
      '0010_sensor_positions.sql',
      '0011_plain_storage.sql',
      '0012_hierarchical_aggregates.sql',
    ]);
    const { rows: count } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM measurements');
    expect(count[0]?.n).toBe(written);

    if (backend === 'postgresql') {
      // the old table, rows and all, became the first partition
      const { rows } = await db.pool.query<{ relkind: string; part: string; n: number }>(
        `SELECT (SELECT relkind::text FROM pg_class WHERE oid = 'measurements'::regclass) AS relkind,
                tableoid::regclass::text AS part, count(*)::int AS n
         FROM measurements GROUP BY tableoid`,
      );
      expect(rows).toEqual([{ relkind: 'p', part: 'measurements_p_legacy', n: written }]);
    } else {
      const { rows } = await db.pool.query(
        `SELECT hypertable_name FROM timescaledb_information.hypertables
         WHERE hypertable_name IN ('measurements', 'sensor_positions') ORDER BY 1`,
      );
      expect(rows).toEqual([{ hypertable_name: 'measurements' }, { hypertable_name: 'sensor_positions' }]);
    }

    // Plain PostgreSQL: exact before anything is materialised (the views compute it). Not asserted with
    // TimescaleDB: its scheduler may already have refreshed a level from a parent not refreshed yet;
    // the levels agree once refreshed in order, as below.
    if (backend === 'postgresql') await expectRollupsMatchRaw(db.pool);
    await materialise(db.pool);
    await expectRollupsMatchRaw(db.pool);
    const { rows: errors } = await db.pool.query<{ n: number }>(
      'SELECT sum(count)::int AS n FROM error_counts_1m',
    );
    expect(errors[0]?.n).toBe(100);

    // a late row (two days old) and new rows reach every level after the next pass
    await db.pool.query(
      `INSERT INTO measurements (sensor_id, channel, time, value)
       VALUES ($1, 'vibration', now() - interval '47 hours 30 minutes' + interval '17 ms', 1000)`,
      [ids[1]],
    );
    await seedSamples(db.pool, ids, 0.05, 1);
    await materialise(db.pool);
    await expectRollupsMatchRaw(db.pool);
    const { rows: late } = await db.pool.query<{ max: number }>(
      `SELECT max(max) AS max FROM measurements_1d WHERE sensor_id = $1 AND channel = 'vibration'`,
      [ids[1]],
    );
    expect(late[0]?.max).toBe(1000);
  });

  it('rows written while maintenance runs are all aggregated (no lost update between threshold and refresh)', {
    timeout: 120_000,
  }, async () => {
    const db = await database();
    const ids = await seedSensors(db.pool, 4);
    await seedSamples(db.pool, ids, 3, 20);
    let writing = true;
    let batches = 0;
    const writer = (async () => {
      while (writing) {
        // just below the newest complete minute: exactly what a refresh is materialising
        await db.pool.query(
          `INSERT INTO measurements (sensor_id, channel, time, value)
           SELECT s, 'vibration', now() - interval '75 seconds' - g * interval '1 ms', g
           FROM unnest($1::bigint[]) s, generate_series(1, 200) g
           ON CONFLICT DO NOTHING`,
          [ids],
        );
        batches++;
      }
    })();
    try {
      for (let i = 0; i < 4; i++) await materialise(db.pool);
    } finally {
      writing = false;
      await writer;
    }
    expect(batches).toBeGreaterThan(0);
    await materialise(db.pool);
    await expectRollupsMatchRaw(db.pool);
  });

  it('keeps raw samples for measurements_retention and rollups longer, on either backend', async () => {
    const backend = await testBackend();
    const db = await database();
    if (backend === 'timescaledb') {
      const { rows } = await db.pool.query<{ hypertable_name: string; drop_after: string }>(
        `SELECT hypertable_name, config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
         WHERE proc_name = 'policy_retention' ORDER BY hypertable_name`,
      );
      expect(rows).toEqual([
        { hypertable_name: 'error_counts_1m', drop_after: '365 days' },
        { hypertable_name: 'measurements', drop_after: '30 days' },
        { hypertable_name: 'measurements_1d', drop_after: '3650 days' },
        { hypertable_name: 'measurements_1h', drop_after: '730 days' },
        { hypertable_name: 'measurements_1m', drop_after: '365 days' },
        { hypertable_name: 'sensor_logs', drop_after: '90 days' },
        { hypertable_name: 'sensor_positions', drop_after: '365 days' },
        { hypertable_name: 'sensor_state_changes', drop_after: '365 days' },
      ]);
      return;
    }
    const { rows: policies } = await db.pool.query(
      'SELECT relation, partition_step::text AS step, retention::text AS retention FROM storage_policies ORDER BY 1',
    );
    expect(policies).toEqual([
      { relation: 'measurements', step: '1 day', retention: '30 days' },
      { relation: 'rollup_error_counts_1m', step: null, retention: '365 days' },
      { relation: 'rollup_measurements_1d', step: null, retention: '3650 days' },
      { relation: 'rollup_measurements_1h', step: null, retention: '730 days' },
      { relation: 'rollup_measurements_1m', step: '7 days', retention: '365 days' },
      { relation: 'sensor_logs', step: null, retention: '90 days' },
      { relation: 'sensor_positions', step: null, retention: '365 days' },
      { relation: 'sensor_state_changes', step: null, retention: '365 days' },
    ]);
    const [id] = await seedSensors(db.pool, 1);
    // a row now (in the first partition) and one that lands in a partition 35 days ahead
    await db.pool.query(
      `INSERT INTO measurements (sensor_id, channel, time, value) VALUES ($1, 'x', now(), 1)`,
      [id],
    );
    const partitionsOf = async () =>
      (
        await db.pool.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'measurements'::regclass ORDER BY 1`,
        )
      ).rows.map((r) => r.name);
    // a new database: partitions cover the retention window, older rows go to the catch-all below it
    // (the table of the old schema, empty, attached FROM MINVALUE)
    const before = await partitionsOf();
    expect(before).toContain('measurements_p_legacy');
    expect(before.length).toBeGreaterThanOrEqual(33);
    // created ahead: at least the next two days exist already
    const tomorrow = await db.pool.query<{ ok: boolean }>(
      `SELECT count(*) = 2 AS ok FROM generate_series(1, 2) d
       WHERE to_regclass(quote_ident('measurements_p' || to_char((date_bin('1 day', now(), '2000-01-03') + d * interval '1 day')
                         AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MI'))) IS NOT NULL`,
    );
    expect(tomorrow.rows[0]?.ok).toBe(true);

    // 40 days later: created up to then, everything older than 30 days detached and dropped
    const { rows: later } = await db.pool.query<{
      r: { partitions_created: string[]; partitions_dropped: string[] };
    }>("SELECT sensor_streaming_manage_partitions(now() + interval '40 days') AS r");
    const report = later[0]?.r;
    expect(report?.partitions_dropped).toContain('measurements_p_legacy');
    expect(report?.partitions_dropped.length).toBeGreaterThanOrEqual(30);
    expect(report?.partitions_created).toContain('measurements_p_before');
    expect(report?.partitions_created.length).toBeGreaterThanOrEqual(10);
    await db.pool.query(
      `INSERT INTO measurements (sensor_id, channel, time, value) VALUES ($1, 'x', now() + interval '39 days', 2)`,
      [id],
    );
    const { rows: left } = await db.pool.query<{ value: number }>(
      'SELECT value FROM measurements ORDER BY time',
    );
    expect(left).toEqual([{ value: 2 }]);
    expect(await partitionsOf()).toContain('measurements_p_before');
    // no partition entirely older than now + 40 days - 30 days is left, but the catch-all below the oldest
    const { rows: old } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'measurements'::regclass
         AND pg_get_expr(c.relpartbound, c.oid) NOT LIKE '%MINVALUE%'
         AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz
             <= now() + interval '10 days'`,
    );
    expect(old[0]?.n).toBe(0);

    // small tables are trimmed with DELETE
    await db.pool.query(
      `INSERT INTO sensor_logs (sensor_id, time, level, message)
       VALUES ($1, now() - interval '91 days', 'INFO', 'old'), ($1, now(), 'INFO', 'new')`,
      [id],
    );
    const trimmed = await maintainStorage(db.pool);
    expect(trimmed.rows_deleted).toEqual({ sensor_logs: 1 });
  });

  it('says which backend and retention are in force in one line', async () => {
    const backend = await testBackend();
    const db = await database();
    const d = await describeStorage(db.pool);
    expect(d).toMatchObject({
      backend,
      migrated: true,
      measurementsRetention: '30 days',
      rollups: ['1m', '1h', '1d'],
    });
    expect(formatStorageLine(d)).toMatch(
      backend === 'timescaledb'
        ? /^storage: TimescaleDB 2\.\d+\.\d+ on PostgreSQL \d+\.\d+, retention 30 days, rollups 1m\/1h\/1d$/
        : /^storage: PostgreSQL \d+\.\d+ \(plain, partitions of 1 day\), retention 30 days, rollups 1m\/1h\/1d$/,
    );
    const bare = await database(false);
    expect(formatStorageLine(await describeStorage(bare.pool))).toMatch(/schema not migrated yet/);
  });

  it('the maintainer runs passes on plain PostgreSQL and stays idle with TimescaleDB', async () => {
    const backend = await testBackend();
    const db = await database();
    const lines: string[] = [];
    const at = (level: string) => (_obj: object, msg?: string) => {
      lines.push(`${level} ${msg ?? ''}`);
    };
    const logger: DbLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const maintainer = createStorageMaintainer({ pool: db.pool, logger, intervalMs: 50 });
    await maintainer.start();
    try {
      if (backend === 'timescaledb') {
        expect(lines).toEqual(['info TimescaleDB: its jobs maintain storage; no storage maintainer']);
        return;
      }
      const deadline = Date.now() + 20_000;
      while (
        lines.filter((l) => l === 'debug storage maintenance pass').length < 3 &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(lines.filter((l) => l === 'debug storage maintenance pass').length).toBeGreaterThanOrEqual(3);
      const { rows } = await db.pool.query<{ moved: boolean }>(
        "SELECT watermark > '-infinity' AS moved FROM rollup_watermarks WHERE name = 'measurements_1m'",
      );
      expect(rows[0]?.moved).toBe(true);
    } finally {
      await maintainer.stop();
    }
    expect(maintainer.failures()).toBe(0);
  });
});
