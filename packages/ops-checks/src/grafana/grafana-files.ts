import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../repo-root.js';

/** A dashboard file as Grafana would read it (not yet validated). */
export interface DashboardFile {
  file: string;
  json: Record<string, unknown>;
}

export interface ProvisionedDatasource {
  name: string;
  uid: string;
  type: string;
  jsonData: Record<string, unknown>;
}

export function grafanaDir(root = repoRoot()): string {
  return path.join(root, 'grafana');
}

/** Every grafana/dashboards/*.json, parsed; a file that is not JSON throws naming the file. */
export function loadDashboards(root = repoRoot()): DashboardFile[] {
  const dir = path.join(grafanaDir(root), 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(dir, file), 'utf8');
      try {
        return { file, json: JSON.parse(text) as Record<string, unknown> };
      } catch (err) {
        throw new Error(`grafana/dashboards/${file}: not valid JSON: ${(err as Error).message}`);
      }
    });
}

/** The datasources of grafana/provisioning/datasources/*.yaml. */
export function loadProvisionedDatasources(root = repoRoot()): ProvisionedDatasource[] {
  const dir = path.join(grafanaDir(root), 'provisioning', 'datasources');
  const out: ProvisionedDatasource[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const doc = parseYaml(readFileSync(path.join(dir, file), 'utf8')) as { datasources?: unknown };
    if (!Array.isArray(doc?.datasources)) throw new Error(`${file}: no datasources list`);
    for (const ds of doc.datasources as Array<Record<string, unknown>>) {
      if (typeof ds.uid !== 'string' || typeof ds.type !== 'string' || typeof ds.name !== 'string') {
        throw new Error(`${file}: every datasource needs name, uid and type`);
      }
      out.push({
        name: ds.name,
        uid: ds.uid,
        type: ds.type,
        jsonData: (ds.jsonData as Record<string, unknown> | undefined) ?? {},
      });
    }
  }
  return out;
}
