// `pnpm bench:writers`: the idempotent write strategies of @sensor-streaming/db side by side, without
// RabbitMQ, into a fresh database (PRIMARY KEY (time, sensor_id, channel) from the migrations).
import {
  type MeasurementSeries,
  type MeasurementWriteStrategy,
  writeMeasurements,
} from '@sensor-streaming/db';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { readEnv } from '@sensor-streaming/runtime';

const r = readEnv(process.env);
const TOTAL = r.int('BENCH_ROWS', 400_000, { min: 10_000 });
const BATCH = r.int('BENCH_BATCH_ROWS', 20_000, { min: 1_000 });
r.done();
const SERIES_PER_BATCH = 20;
const SENSORS = 50;

function batch(k: number): MeasurementSeries[] {
  const per = Math.ceil(BATCH / SERIES_PER_BATCH);
  return Array.from({ length: SERIES_PER_BATCH }, (_, j) => {
    const n = k * SERIES_PER_BATCH + j;
    const start = Date.now() * 1000 - 3_600_000_000 + Math.floor(n / SENSORS) * per * 1000;
    return {
      sensorId: (n % SENSORS) + 1,
      channel: 'vibration',
      timesUs: Array.from({ length: per }, (_, i) => start + i * 1000),
      values: Array.from({ length: per }, (_, i) => Math.sin(i)),
    };
  });
}

const db = await createTestDatabase({ prefix: 'bench_writers', max: 4 });
try {
  const batches = Array.from({ length: Math.ceil(TOTAL / BATCH) }, (_, k) => batch(k));
  const rows = batches.length * BATCH;
  const results: Array<[string, number]> = [];
  const run = async (
    name: string,
    strategy: MeasurementWriteStrategy,
    opts: { preload?: boolean; concurrency?: number } = {},
  ) => {
    await db.pool.query('TRUNCATE measurements');
    if (opts.preload) for (const b of batches) await writeMeasurements(db.pool, b);
    await db.pool.query('CHECKPOINT');
    const t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 1 }, async () => {
        while (next < batches.length)
          await writeMeasurements(db.pool, batches[next++] as MeasurementSeries[], { strategy });
      }),
    );
    const rate = rows / ((performance.now() - t) / 1000);
    results.push([name, rate]);
    console.log(`[writers] ${name}: ${Math.round(rate).toLocaleString('en-US')} rows/s`);
  };
  console.log(
    `[writers] ${rows.toLocaleString('en-US')} rows in batches of ${BATCH.toLocaleString('en-US')}`,
  );
  await run('binary COPY (fallback unused)', 'copy');
  await run('binary COPY, 2 connections', 'copy', { concurrency: 2 });
  await run('COPY to staging + INSERT ON CONFLICT', 'staging');
  await run('UNNEST + ON CONFLICT', 'unnest');
  await run('binary COPY, every row a duplicate (fallback path)', 'copy', { preload: true });
  console.log('\n| strategy | rows/s |\n|---|---:|');
  for (const [name, rate] of results)
    console.log(`| ${name} | ${Math.round(rate).toLocaleString('en-US')} |`);
} finally {
  await db.drop();
}
