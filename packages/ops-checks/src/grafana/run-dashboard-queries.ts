import { collectQueries, templateVariables } from './dashboard-queries.js';
import { type ExpandOptions, expandGrafanaSql, type TemplateVariableValue } from './grafana-macros.js';
import type { DashboardFile } from './grafana-files.js';

/** What both a node-postgres Pool and PGlite offer. */
export interface SqlClient {
  query(text: string): Promise<{ rows: unknown[] }>;
}

export interface QueryOutcome {
  dashboard: string;
  where: string;
  /** The statement as sent, after variables and macros. */
  sql: string;
  rows: number;
  /** Grafana's result format of a panel target. */
  format?: string;
  /** The rows themselves (absent when the query failed). */
  data?: unknown[];
  error?: string;
}

export interface RunOptions {
  from: Date;
  to: Date;
  intervalMs?: number;
  timescaledb: boolean;
  /** Preferred value of single-value query variables, when the query returns it (e.g. { serial: 'sim-0-0' }). */
  prefer?: Record<string, string>;
}

type Json = Record<string, unknown>;

function firstColumn(rows: unknown[]): string[] {
  return rows.map((r) => String(Object.values(r as Json)[0]));
}

/**
 * Resolves the dashboard's variables the way Grafana does on load (query
 * variables run their SQL, in order; multi/All variables take every value),
 * then runs every SQL target. Errors are collected, not thrown, so one run
 * reports every broken query.
 */
export async function runDashboardQueries(
  db: SqlClient,
  d: DashboardFile,
  o: RunOptions,
): Promise<QueryOutcome[]> {
  const outcomes: QueryOutcome[] = [];
  const variables: Record<string, TemplateVariableValue> = {};
  const expandOpts = (): ExpandOptions => ({
    from: o.from,
    to: o.to,
    intervalMs: o.intervalMs ?? 60_000,
    timescaledb: o.timescaledb,
    variables,
  });
  const run = async (where: string, text: string, format?: string): Promise<unknown[] | undefined> => {
    let sql = text;
    const base = { dashboard: String(d.json.uid), where, ...(format ? { format } : {}) };
    try {
      sql = expandGrafanaSql(text, expandOpts());
      const result = await db.query(sql);
      outcomes.push({ ...base, sql, rows: result.rows.length, data: result.rows });
      return result.rows;
    } catch (err) {
      outcomes.push({ ...base, sql, rows: 0, error: (err as Error).message });
      return undefined;
    }
  };

  for (const v of templateVariables(d.json)) {
    const name = String(v.name);
    const multi = v.multi === true || v.includeAll === true;
    let values: string[] = [];
    if (v.type === 'query') {
      const rows = await run(`variable ${name}`, typeof v.query === 'string' ? v.query : '');
      values = rows ? firstColumn(rows) : [];
    } else if (v.type === 'custom' || v.type === 'constant') {
      values = String(v.query ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    }
    const preferred = o.prefer?.[name];
    if (!multi && values.length > 0)
      values = [preferred && values.includes(preferred) ? preferred : values[0]!];
    // Grafana sends a query with an empty multi-value variable as no value at all; keep one placeholder so
    // the statement still runs (and returns nothing) rather than being a syntax error.
    if (values.length === 0) values = [''];
    variables[name] = { multi, values };
  }

  for (const q of collectQueries(d)) {
    if (q.kind !== 'sql' || q.where.startsWith('variable ')) continue;
    await run(q.where, q.text, q.format);
  }
  return outcomes;
}

const isNumeric = (v: unknown): boolean =>
  typeof v === 'number' ||
  typeof v === 'bigint' ||
  (typeof v === 'string' && /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v));

/**
 * Grafana's time_series format needs a column named "time" holding a time and
 * at least one numeric value column (string columns become series labels): a
 * query that returns rows without them renders "no data" or an error.
 */
export function timeSeriesShapeProblem(o: QueryOutcome): string | undefined {
  if (o.format !== 'time_series' || !o.data?.length) return undefined;
  const row = o.data[0] as Record<string, unknown>;
  const t = row.time;
  if (!(t instanceof Date) && typeof t !== 'number')
    return `${o.dashboard} ${o.where}: no time column named "time"`;
  const values = Object.entries(row).filter(([k, v]) => k !== 'time' && (v === null || isNumeric(v)));
  if (values.length === 0) return `${o.dashboard} ${o.where}: time_series result has no numeric value column`;
  return undefined;
}
