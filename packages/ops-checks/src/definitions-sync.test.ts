import { readFileSync } from 'node:fs';
import path from 'node:path';
import { brokerDefinitions, SERVICE_ROLES } from '@sensor-streaming/identity';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './repo-root.js';

// The broker definitions committed for compose and Kubernetes are written by
// `pnpm --filter @sensor-streaming/identity definitions` and then kept: a role
// changed in packages/identity (a new queue, a shard, an RPC key) must reach
// them too, or that service is refused in compose and Kubernetes only. Users
// (password hashes) are per deployment; everything else must be what
// brokerDefinitions writes today.

const root = repoRoot();
const FILES = [
  'deploy/compose/rabbitmq/definitions.json',
  'deploy/overlays/dev/rabbitmq-definitions.json',
  'deploy/overlays/prod/secrets/rabbitmq-definitions.json.example',
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
  const expected = brokerDefinitions({
    vhost: '/',
    passwordHashes: Object.fromEntries(SERVICE_ROLES.map((r) => [r, 'x'])),
    admin: { name: 'admin', passwordHash: 'x' },
  });
  const expectedUsers = ((expected.users as Array<{ name: string }>) ?? []).map((u) => u.name).sort();

  const cases: Array<[string, () => Record<string, unknown>]> = [
    ...FILES.map((f): [string, () => Record<string, unknown>] => [
      f,
      () => JSON.parse(readFileSync(path.join(root, f), 'utf8')),
    ]),
    ['deploy/base/secrets.yaml (rabbitmq-definitions)', baseSecretDefinitions],
  ];
  it.each(cases)('%s has the roles, topology and policies packages/identity writes today', (_f, load) => {
    const d = load();
    expect(withoutUsers(d)).toEqual(withoutUsers(expected));
    expect(((d.users as Array<{ name: string }>) ?? []).map((u) => u.name).sort()).toEqual(expectedUsers);
  });
});
