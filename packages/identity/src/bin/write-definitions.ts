#!/usr/bin/env node
// Writes RabbitMQ definitions for the platform's roles and topology, and an env file with the
// role passwords (both 0600). Passwords come from RABBITMQ_PASSWORD_<ROLE> (e.g.
// RABBITMQ_PASSWORD_MEASUREMENTS_INGESTER) or are generated. RABBITMQ_ADMIN_PASSWORD (or a generated
// one) is the `admin` administrator's: management UI and device provisioning, never a service's.
// Usage: pnpm --filter @sensor-streaming/identity definitions <out.json> [vhost]
import { open } from 'node:fs/promises';
import { brokerDefinitions } from '../broker-definitions.js';
import { generateSecret, rabbitPasswordHash } from '../password-hash.js';
import { roleUser, SERVICE_ROLES } from '../platform-definitions.js';

const [out, vhost = '/'] = process.argv.slice(2);
if (out === undefined) {
  process.stderr.write('usage: write-definitions <out.json> [vhost]\n');
  process.exit(2);
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
  [out, `${JSON.stringify(brokerDefinitions({ vhost, passwordHashes: hashes, admin }), null, 2)}\n`],
  [`${out}.env`, `${env.join('\n')}\n`],
] as const) {
  const h = await open(file, 'wx', 0o600);
  await h.writeFile(text);
  await h.close();
}
process.stdout.write(`wrote ${out} and ${out}.env (0600)\n`);
