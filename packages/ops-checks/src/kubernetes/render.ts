import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../repo-root.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field by the validators
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
}

export const OVERLAYS = ['dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** Runs `kubectl kustomize <dir>` and parses every rendered object. */
export function kustomize(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('kubectl is not installed: these checks render with `kubectl kustomize`');
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(out)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`kustomize ${dir}: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * Renders an overlay, optionally with extra patch files of the overlay's
 * directory enabled (`extraPatches`, e.g. prod's restore.yaml). The prod overlay generates its Secrets from git-ignored
 * files; it is rendered from a temporary copy of deploy/ where those files are
 * made from their committed `.example`s, exactly as deploy/README.md tells an
 * operator to start.
 */
export function renderOverlay(
  overlay: Overlay,
  root = repoRoot(),
  opts: { extraPatches?: string[] } = {},
): K8sObject[] {
  if (overlay !== 'prod' && !opts.extraPatches?.length)
    return kustomize(path.join(root, 'deploy', 'overlays', overlay));
  const tmp = mkdtempSync(path.join(tmpdir(), 'ops-checks-deploy-'));
  try {
    // deploy/ plus what it references from outside (components/grafana uses grafana/)
    for (const dir of ['deploy', 'grafana']) {
      cpSync(path.join(root, dir), path.join(tmp, dir), { recursive: true });
    }
    const dir = path.join(tmp, 'deploy', 'overlays', overlay);
    const secrets = path.join(dir, 'secrets');
    if (existsSync(secrets)) {
      for (const f of readdirSync(secrets).filter((n) => n.endsWith('.example'))) {
        cpSync(path.join(secrets, f), path.join(secrets, f.slice(0, -'.example'.length)));
      }
    }
    if (opts.extraPatches?.length) {
      // what deploy/README.md tells an operator to do, e.g. for a restore
      const file = path.join(dir, 'kustomization.yaml');
      const text = readFileSync(file, 'utf8');
      if (!/^patches:\n/m.test(text)) throw new Error(`${overlay}: kustomization.yaml has no patches: list`);
      const lines = opts.extraPatches.map((p) => `  - path: ${p}\n`).join('');
      writeFileSync(file, text.replace(/^patches:\n/m, `patches:\n${lines}`));
    }
    return kustomize(dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
