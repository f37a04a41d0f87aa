import { readFileSync } from 'node:fs';
import path from 'node:path';
import { brokerDefinitions, INGEST_QUEUES, SERVICE_ROLES } from '@sensor-streaming/identity';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadCompose } from './compose/compose-file.js';
import { repoRoot } from './repo-root.js';

// The broker definitions committed for compose and Kubernetes are written by
// `pnpm --filter @sensor-streaming/identity definitions` and then kept: a role
// changed in packages/identity (a new queue, a shard, an RPC key) must reach
// them too, or that service is refused in compose and Kubernetes only. Users
// (password hashes) are per deployment; everything else must be what
// brokerDefinitions writes today, with the ingesters' data queues for the
// INGEST_SHARDS that deployment runs (a different count leaves the shards the
// definitions declare and the ingesters do not use to be unbound and drained
// at every broker start, and those they use and the definitions lack to lose
// what arrives before the first ingester). Rewrite them, keeping their users:
//   pnpm --filter @sensor-streaming/identity definitions <file> --ingest-shards <n> --keep-users

const root = repoRoot();

/** The one INGEST_SHARDS both ingesters run with, given each one's value (unset: 1). */
function oneCount(where: string, values: Array<unknown>): number {
  const counts = new Set(values.map((v) => Number(v ?? 1)));
  if (counts.size !== 1)
    throw new Error(`${where}: the ingesters run different INGEST_SHARDS (${[...counts]})`);
  return [...counts][0]!;
}

function composeShards(): number {
  const services = loadCompose(root).services;
  return oneCount(
    'compose.yaml',
    INGEST_QUEUES.map((q) => services[q.base]?.environment?.INGEST_SHARDS),
  );
}

/** INGEST_SHARDS of the ingester Deployments in deploy/base (the overlays do not change it: kustomize.test.ts). */
function deployShards(): number {
  return oneCount(
    'deploy/base',
    INGEST_QUEUES.map((q) => {
      const file = `deploy/base/${q.base}.yaml`;
      for (const d of parseAllDocuments(readFileSync(path.join(root, file), 'utf8'))) {
        const o = d.toJSON() as {
          kind?: string;
          spec?: {
            template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } };
          };
        };
        if (o?.kind !== 'Deployment') continue;
        return o.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'INGEST_SHARDS')?.value;
      }
      throw new Error(`${file} has no Deployment`);
    }),
  );
}

const FILES: Array<[string, () => number]> = [
  ['deploy/compose/rabbitmq/definitions.json', composeShards],
  ['deploy/overlays/dev/rabbitmq-definitions.json', deployShards],
  ['deploy/overlays/prod/secrets/rabbitmq-definitions.json.example', deployShards],
];

function baseSecretDefinitions(): Record<string, unknown> {
  const docs = parseAllDocuments(readFileSync(path.join(root, 'deploy/base/secrets.yaml'), 'utf8'));
  for (const d of docs) {
    const o = d.toJSON() as {
      kind?: string;
      metadata?: { name?: string };
      stringData?: Record<string, string>;
    };
    if (o?.kind === 'Secret' && o.metadata?.name === 'rabbitmq-definitions') {
      return JSON.parse(o.stringData?.['definitions.json'] ?? '{}');
    }
  }
  throw new Error('deploy/base/secrets.yaml has no rabbitmq-definitions Secret');
}

function withoutUsers(d: Record<string, unknown>): Record<string, unknown> {
  const { users: _users, ...rest } = d;
  return rest;
}

describe('committed broker definitions', () => {
  const expectedFor = (ingestShards: number) =>
    brokerDefinitions({
      vhost: '/',
      passwordHashes: Object.fromEntries(SERVICE_ROLES.map((r) => [r, 'x'])),
      admin: { name: 'admin', passwordHash: 'x' },
      ingestShards,
    });
  const expectedUsers = ((expectedFor(1).users as Array<{ name: string }>) ?? []).map((u) => u.name).sort();

  const cases: Array<[string, () => Record<string, unknown>, () => number]> = [
    ...FILES.map(([f, shards]): [string, () => Record<string, unknown>, () => number] => [
      f,
      () => JSON.parse(readFileSync(path.join(root, f), 'utf8')),
      shards,
    ]),
    ['deploy/base/secrets.yaml (rabbitmq-definitions)', baseSecretDefinitions, deployShards],
  ];
  it.each(cases)(
    '%s has the roles, topology and policies packages/identity writes today',
    (_f, load, shards) => {
      const d = load();
      const expected = expectedFor(shards());
      expect(withoutUsers(d)).toEqual(withoutUsers(expected));
      expect(((d.users as Array<{ name: string }>) ?? []).map((u) => u.name).sort()).toEqual(expectedUsers);
    },
  );
});
