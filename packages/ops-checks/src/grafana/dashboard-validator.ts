import { Ajv } from 'ajv';
import { allPanels, collectQueries, templateVariables } from './dashboard-queries.js';
import { dashboardSchema } from './dashboard-schema.js';
import type { DashboardFile, ProvisionedDatasource } from './grafana-files.js';

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Variables Grafana itself defines; a dashboard may use them without declaring them. */
export const GRAFANA_GLOBAL_VARIABLES = new Set([
  '__interval',
  '__interval_ms',
  '__rate_interval',
  '__rate_interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  '__dashboard',
  '__org',
  '__user',
  '__timezone',
  '__all',
]);
/** Grafana's built-in annotation datasource. */
const BUILT_IN_DATASOURCES = new Set(['-- Grafana --', 'grafana']);

const VARIABLE_REF = /\$(\w+)(?!\w*\()|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:[.:][^}]*)?\}/g;

/** Names of the template variables a text refers to (macros `$__x(` excluded). */
export function referencedVariables(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(VARIABLE_REF)) names.push((m[1] ?? m[2] ?? m[3])!);
  return names;
}

let compiled: ReturnType<Ajv['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv['compile']> {
  compiled ??= new Ajv({ allErrors: true, strict: false }).compile(dashboardSchema);
  return compiled;
}

/**
 * Every problem of every dashboard, as `file: message` lines (empty = valid):
 * the JSON schema of dashboard-schema.ts, then uid/title uniqueness across
 * files, unique panel ids, panels inside the 24-column grid without overlaps,
 * every datasource uid (panels, targets, variables, annotations) provisioned
 * with the same type, and every `$variable` used by a query or title defined
 * (before use, for variables that depend on variables).
 */
export function validateDashboards(
  dashboards: DashboardFile[],
  datasources: ProvisionedDatasource[],
): string[] {
  const problems: string[] = [];
  const validate = schemaValidator();
  const dsByUid = new Map(datasources.map((d) => [d.uid, d]));
  const uids = new Map<string, string>();
  const titles = new Map<string, string>();

  for (const d of dashboards) {
    const at = (msg: string) => problems.push(`${d.file}: ${msg}`);
    if (!validate(d.json)) {
      for (const e of validate.errors ?? []) at(`schema: ${e.instancePath || '/'} ${e.message ?? ''}`);
      continue;
    }
    const uid = String(d.json.uid);
    const title = String(d.json.title);
    if (uids.has(uid)) at(`uid ${uid} also used by ${uids.get(uid)}`);
    uids.set(uid, d.file);
    if (titles.has(title)) at(`title "${title}" also used by ${titles.get(title)}`);
    titles.set(title, d.file);

    const checkDatasource = (ref: unknown, where: string) => {
      if (!isObject(ref)) return;
      const refUid = String(ref.uid);
      if (BUILT_IN_DATASOURCES.has(refUid)) return;
      const ds = dsByUid.get(refUid);
      if (!ds) at(`${where}: datasource uid "${refUid}" is not provisioned`);
      else if (ds.type !== ref.type)
        at(`${where}: datasource "${refUid}" has type ${ds.type}, not ${String(ref.type)}`);
    };

    // panels: ids, layout, datasources
    const panels = allPanels(d.json);
    const ids = new Set<number>();
    const boxes: Array<{ id: number; x: number; y: number; w: number; h: number }> = [];
    for (const p of panels) {
      const id = Number(p.id);
      const where = `panel ${id} "${String(p.title)}"`;
      if (ids.has(id)) at(`${where}: duplicate panel id ${id}`);
      ids.add(id);
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      if (g.x + g.w > 24) at(`${where}: gridPos x + w = ${g.x + g.w} > 24 columns`);
      for (const b of boxes) {
        if (g.x < b.x + b.w && b.x < g.x + g.w && g.y < b.y + b.h && b.y < g.y + g.h) {
          at(`${where}: overlaps panel ${b.id}`);
        }
      }
      boxes.push({ id, ...g });
      checkDatasource(p.datasource, where);
      const refIds = new Set<string>();
      for (const t of Array.isArray(p.targets) ? p.targets.filter(isObject) : []) {
        const refId = String(t.refId);
        if (refIds.has(refId)) at(`${where}: duplicate target refId ${refId}`);
        refIds.add(refId);
        checkDatasource(t.datasource, `${where} target ${refId}`);
      }
    }
    const annotations =
      isObject(d.json.annotations) && Array.isArray(d.json.annotations.list) ? d.json.annotations.list : [];
    for (const a of annotations.filter(isObject))
      checkDatasource(a.datasource, `annotation "${String(a.name)}"`);

    // variables: unique, datasources, defined before use
    const defined = new Set<string>();
    for (const v of templateVariables(d.json)) {
      const name = String(v.name);
      if (defined.has(name)) at(`variable ${name} defined twice`);
      checkDatasource(v.datasource, `variable ${name}`);
      const q = typeof v.query === 'string' ? v.query : '';
      for (const ref of referencedVariables(q)) {
        if (!defined.has(ref) && !GRAFANA_GLOBAL_VARIABLES.has(ref)) {
          at(`variable ${name} uses $${ref}, which is not defined before it`);
        }
      }
      defined.add(name);
    }
    const texts: Array<[string, string]> = collectQueries(d)
      .filter((q) => !q.where.startsWith('variable '))
      .map((q) => [q.where, q.text]);
    for (const p of panels) texts.push([`panel ${String(p.id)} title`, String(p.title)]);
    for (const [where, text] of texts) {
      for (const ref of referencedVariables(text)) {
        if (!defined.has(ref) && !GRAFANA_GLOBAL_VARIABLES.has(ref))
          at(`${where}: uses undefined variable $${ref}`);
      }
    }
  }
  return problems;
}
