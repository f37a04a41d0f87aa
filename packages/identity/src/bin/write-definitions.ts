#!/usr/bin/env node
// Writes RabbitMQ definitions for the platform's roles and topology, and an env file with the
// role passwords (both 0600). Passwords come from RABBITMQ_PASSWORD_<ROLE> (e.g.
// RABBITMQ_PASSWORD_MEASUREMENTS_INGESTER) or are generated. RABBITMQ_ADMIN_PASSWORD (or a generated
// one) is the `admin` administrator's: management UI and device provisioning, never a service's.
// --ingest-shards is the deployment's INGEST_SHARDS: the ingesters' data queues are declared with it
// (brokerDefinitions' ingestShards), so data published before the first ingester starts is kept.
// --keep-users rewrites an existing file (a definitions .json, or a Secret manifest .yaml holding one as
// `definitions.json`) with today's definitions but the users (password hashes) it has: no password is
// generated and no env file written. That is how the committed definitions are kept in sync.
// Usage: pnpm --filter @sensor-streaming/identity definitions <out.json> [vhost] --ingest-shards <n> [--keep-users]
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MAX_SHARDS } from '@sensor-streaming/ingest';
import { brokerDefinitions } from '../broker-definitions.js';
import { generateSecret, rabbitPasswordHash } from '../password-hash.js';
import { roleUser, SERVICE_ROLES } from '../platform-definitions.js';

const USAGE = 'usage: write-definitions <out.json> [vhost] --ingest-shards <n> [--keep-users]\n';
function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

const args = parseArgs({
  allowPositionals: true,
  options: { 'ingest-shards': { type: 'string' }, 'keep-users': { type: 'boolean' } },
});
const [out, vhost = '/', ...extra] = args.positionals;
if (out === undefined || extra.length > 0) fail('write-definitions: one output file and at most a vhost');
const shardsArg = args.values['ingest-shards'];
const ingestShards = Number(shardsArg);
if (
  shardsArg === undefined ||
  !Number.isInteger(ingestShards) ||
  ingestShards < 1 ||
  ingestShards > MAX_SHARDS
) {
  fail(
    `write-definitions: --ingest-shards must be the deployment's INGEST_SHARDS (1..${MAX_SHARDS}), got ${shardsArg ?? 'nothing'}`,
  );
}

if (args.values['keep-users']) {
  rewriteKeepingUsers(out);
  process.stdout.write(`rewrote ${out} (its users kept, ${ingestShards} ingest shards)\n`);
  process.exit(0);
}

const env: string[] = [];
const hashes = Object.fromEntries(
  SERVICE_ROLES.map((role) => {
    const key = `RABBITMQ_PASSWORD_${role.toUpperCase().replace(/-/g, '_')}`;
    const password = process.env[key] ?? generateSecret();
    env.push(
      `${key}=${password}`,
      `RABBITMQ_USER_${role.toUpperCase().replace(/-/g, '_')}=${roleUser(role)}`,
    );
    return [role, rabbitPasswordHash(password)];
  }),
);
const adminPassword = process.env.RABBITMQ_ADMIN_PASSWORD ?? generateSecret();
env.push(`RABBITMQ_ADMIN_PASSWORD=${adminPassword}`, 'RABBITMQ_ADMIN_USER=admin');
const admin = { name: 'admin', passwordHash: rabbitPasswordHash(adminPassword) };
for (const [file, text] of [
  [out, json(brokerDefinitions({ vhost, passwordHashes: hashes, admin, ingestShards }))],
  [`${out}.env`, `${env.join('\n')}\n`],
] as const) {
  const h = await open(file, 'wx', 0o600);
  await h.writeFile(text);
  await h.close();
}
process.stdout.write(`wrote ${out} and ${out}.env (0600)\n`);

function json(d: unknown): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

/** Today's definitions with the users of `old` (which must have every user today's definitions have). */
function withUsersOf(old: Record<string, unknown>): Record<string, unknown> {
  const fresh = brokerDefinitions({
    vhost,
    passwordHashes: Object.fromEntries(SERVICE_ROLES.map((r) => [r, 'kept'])),
    admin: { name: 'admin', passwordHash: 'kept' },
    ingestShards,
  });
  const users = (old.users ?? []) as Array<{ name: string }>;
  const missing = (fresh.users as Array<{ name: string }>)
    .map((u) => u.name)
    .filter((n) => !users.some((u) => u.name === n));
  if (missing.length > 0) {
    fail(`write-definitions: ${out} has no user ${missing.join(', ')}: write it anew without --keep-users`);
  }
  // same key order as brokerDefinitions (vhosts, users, ...): a diff shows only what changed
  return Object.fromEntries(Object.entries(fresh).map(([k, v]) => [k, k === 'users' ? users : v]));
}

/** Rewrites `file` in place: a definitions .json, or the `definitions.json: |` block of a Secret manifest. */
function rewriteKeepingUsers(file: string): void {
  const text = readFileSync(file, 'utf8');
  if (!/\.ya?ml$/.test(file)) {
    writeFileSync(file, json(withUsersOf(JSON.parse(text))));
    return;
  }
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^\s+definitions\.json: \|$/.test(l));
  if (start < 0) fail(`write-definitions: ${file} has no 'definitions.json: |' block`);
  const indent = ' '.repeat(lines[start]!.search(/\S/) + 2);
  let end = start + 1;
  while (end < lines.length && (lines[end]!.startsWith(indent) || lines[end] === '')) end++;
  // trailing blank lines belong to what follows the block
  while (end > start + 1 && lines[end - 1] === '') end--;
  const old = JSON.parse(lines.slice(start + 1, end).join('\n'));
  const block = json(withUsersOf(old))
    .trimEnd()
    .split('\n')
    .map((l) => indent + l);
  writeFileSync(file, [...lines.slice(0, start + 1), ...block, ...lines.slice(end)].join('\n'));
}
