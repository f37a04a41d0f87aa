import type { DashboardFile } from './grafana-files.js';

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

/** One query of a dashboard: a panel target or a query variable. */
export interface DashboardQuery {
  dashboard: string;
  /** e.g. `panel 3 "Logs" target A` or `variable channel`. */
  where: string;
  datasource: DatasourceRef | undefined;
  /** rawSql for SQL targets and variables, expr for Prometheus. */
  text: string;
  kind: 'sql' | 'prometheus' | 'other';
  /** SQL targets: Grafana's result format (table, time_series, logs). */
  format?: string;
}

export const SQL_DATASOURCE_TYPES = new Set(['grafana-postgresql-datasource', 'postgres']);

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Panels at any depth (rows may nest panels). */
export function allPanels(dashboard: Json): Json[] {
  const out: Json[] = [];
  const walk = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const p of list) {
      if (!isObject(p)) continue;
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

export function templateVariables(dashboard: Json): Json[] {
  const templating = dashboard.templating;
  if (!isObject(templating) || !Array.isArray(templating.list)) return [];
  return templating.list.filter(isObject);
}

function kindOf(ds: DatasourceRef | undefined): DashboardQuery['kind'] {
  if (ds?.type && SQL_DATASOURCE_TYPES.has(ds.type)) return 'sql';
  if (ds?.type === 'prometheus') return 'prometheus';
  return 'other';
}

/** Every query of every panel target and query variable. */
export function collectQueries(d: DashboardFile): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const name = String(d.json.uid ?? d.file);
  for (const p of allPanels(d.json)) {
    const targets = Array.isArray(p.targets) ? p.targets.filter(isObject) : [];
    for (const t of targets) {
      const ds = (
        isObject(t.datasource) ? t.datasource : isObject(p.datasource) ? p.datasource : undefined
      ) as DatasourceRef | undefined;
      const kind = kindOf(ds);
      const text = kind === 'sql' ? t.rawSql : t.expr;
      out.push({
        dashboard: name,
        where: `panel ${String(p.id)} "${String(p.title)}" target ${String(t.refId)}`,
        datasource: ds,
        text: typeof text === 'string' ? text : '',
        kind,
        ...(typeof t.format === 'string' ? { format: t.format } : {}),
      });
    }
  }
  for (const v of templateVariables(d.json)) {
    if (v.type !== 'query') continue;
    const ds = (isObject(v.datasource) ? v.datasource : undefined) as DatasourceRef | undefined;
    const q = isObject(v.query) ? (v.query.rawSql ?? v.query.query) : v.query;
    out.push({
      dashboard: name,
      where: `variable ${String(v.name)}`,
      datasource: ds,
      text: typeof q === 'string' ? q : '',
      kind: kindOf(ds),
    });
  }
  return out;
}
