import { createHash } from 'node:crypto';

/**
 * RabbitMQ's rabbit_password_hashing_sha256: base64(salt(4 bytes) ++ sha256(salt ++ utf8(password))).
 * `rabbitmqctl hash_password` prints the same with a random salt.
 */
export function rabbitPasswordHash(password: string, salt: Buffer): string {
  if (salt.length !== 4) throw new RangeError('salt must be 4 bytes');
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** True when `hash` (from a definitions file) is the hash of `password`. */
export function rabbitPasswordMatches(hash: string, password: string): boolean {
  const salt = Buffer.from(hash, 'base64').subarray(0, 4);
  return salt.length === 4 && rabbitPasswordHash(password, salt) === hash;
}

export interface RabbitDefinitions {
  users?: Array<{
    name: string;
    password_hash: string;
    hashing_algorithm?: string;
    tags?: string[] | string;
  }>;
  vhosts?: Array<{ name: string }>;
  permissions?: Array<{ user: string; vhost: string; configure: string; write: string; read: string }>;
  exchanges?: Array<{ name: string; vhost: string; type: string; durable: boolean }>;
  queues?: Array<{ name: string; vhost: string; durable: boolean; arguments: Record<string, unknown> }>;
  bindings?: Array<{
    source: string;
    vhost: string;
    destination: string;
    destination_type: string;
    routing_key: string;
  }>;
}

/**
 * What the platform needs from a definitions file (DESIGN.md): the topic
 * exchange, the topic dead-letter exchange, the dead-letter queue declared
 * exactly as the bus declares it (a different `x-queue-type` would make the
 * bus's declaration fail), bound with '#', and users with permissions.
 */
export function definitionsProblems(d: RabbitDefinitions): string[] {
  const problems: string[] = [];
  for (const name of ['sensor_streaming', 'sensor_streaming.dlx']) {
    const x = d.exchanges?.find((e) => e.name === name && e.vhost === '/');
    if (!x) problems.push(`exchange ${name} missing`);
    else if (x.type !== 'topic' || !x.durable)
      problems.push(`exchange ${name} must be a durable topic exchange`);
  }
  const dead = d.queues?.find((q) => q.name === 'sensor_streaming.dead' && q.vhost === '/');
  if (!dead) problems.push('queue sensor_streaming.dead missing');
  else if (!dead.durable || JSON.stringify(dead.arguments) !== JSON.stringify({ 'x-queue-type': 'quorum' })) {
    problems.push(
      'queue sensor_streaming.dead must be durable with arguments exactly {"x-queue-type":"quorum"} (as the bus declares it)',
    );
  }
  const bound = d.bindings?.some(
    (b) =>
      b.source === 'sensor_streaming.dlx' &&
      b.destination === 'sensor_streaming.dead' &&
      b.destination_type === 'queue' &&
      b.routing_key === '#',
  );
  if (!bound) problems.push("binding sensor_streaming.dlx -> sensor_streaming.dead with '#' missing");
  if (!d.users?.length)
    problems.push('no users: RabbitMQ creates no default user when definitions load at boot');
  for (const u of d.users ?? []) {
    if (u.hashing_algorithm !== 'rabbit_password_hashing_sha256')
      problems.push(`user ${u.name}: unexpected hashing algorithm`);
    if (!d.permissions?.some((p) => p.user === u.name && p.vhost === '/'))
      problems.push(`user ${u.name}: no permissions on /`);
  }
  return problems;
}
