/**
 * The same question as a dashboard query, answered from the raw rows: each
 * rollup (measurements_1m/_1h/_1d, error_counts_1m) becomes a GROUP BY over
 * the raw table restricted to the query's time range (so the raw side uses
 * the time index too, as a hand-written raw query would).
 */

const MEASUREMENT_LEVELS: Record<string, string> = {
  measurements_1m: '1 minute',
  measurements_1h: '1 hour',
  measurements_1d: '1 day',
};

/** True when the dashboard query reads a rollup restricted by the dashboard's time range. */
export function readsRollupInRange(dashboardSql: string): boolean {
  return (
    /\b(measurements_1[mhd]|error_counts_1m)\b/.test(dashboardSql) && dashboardSql.includes('$__timeFilter')
  );
}

/** True when it reads one of the measurement rollups (the ones the speed-up goal is about). */
export function readsMeasurementRollup(dashboardSql: string): boolean {
  return /\bmeasurements_1[mhd]\b/.test(dashboardSql);
}

/**
 * Temporary views with the rollups' names and columns that aggregate the raw
 * rows in [from - 1 bucket, to + 1 bucket). In that session they shadow the
 * real ones (pg_temp comes first in the search path), so the dashboard query
 * runs unchanged against raw rows.
 */
export function rawViewStatements(from: Date, to: Date): string[] {
  const out: string[] = [];
  for (const [name, width] of Object.entries(MEASUREMENT_LEVELS)) {
    const widthMs = { '1 minute': 60_000, '1 hour': 3_600_000, '1 day': 86_400_000 }[width]!;
    const lo = new Date(from.getTime() - widthMs).toISOString();
    const hi = new Date(to.getTime() + widthMs).toISOString();
    out.push(`CREATE OR REPLACE TEMP VIEW ${name} AS
  SELECT time_bucket(INTERVAL '${width}', time) AS bucket, sensor_id, channel, avg(value) AS avg,
         min(value) AS min, max(value) AS max, sqrt(avg(value * value)) AS rms, count(*) AS count
  FROM public.measurements WHERE time >= '${lo}' AND time < '${hi}' GROUP BY 1, 2, 3`);
  }
  const lo = new Date(from.getTime() - 60_000).toISOString();
  const hi = new Date(to.getTime() + 60_000).toISOString();
  out.push(`CREATE OR REPLACE TEMP VIEW error_counts_1m AS
  SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, sensor_id, error_code, count(*) AS count
  FROM public.sensor_logs WHERE level = 'ERROR' AND time >= '${lo}' AND time < '${hi}' GROUP BY 1, 2, 3`);
  return out;
}
