import { randomBytes } from 'node:crypto';
import {
  type Bus,
  createBus,
  type Delivery,
  DependencyUnavailableError,
  HEADER_REASON,
  serviceQueue,
} from '@sensor-streaming/bus';
import {
  createTestVhost,
  drainQueue,
  managementRequest,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from '@sensor-streaming/bus/testing';
import { DEAD_LETTER_QUEUE, releaseExchangeName } from '@sensor-streaming/protocol';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolePermissions } from './platform-definitions.js';

// The bus's own settling (dead-letter, release) under an ingester's least-privilege role, against the real
// broker: a role with no write on the default exchange must still dead-letter a bad message and give a batch
// back uncounted while its database is down.

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let vhost: TestVhost;
const user = `test-ingester-${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const buses: Bus[] = [];

function withUser(url: string, name: string, secret: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(name);
  u.password = encodeURIComponent(secret);
  return u.toString();
}

beforeAll(async () => {
  vhost = await createTestVhost('ingester-role');
  await managementRequest('PUT', `/users/${encodeURIComponent(user)}`, { password, tags: '' });
  const v = encodeURIComponent(vhost.vhost);
  const { permissions, topic } = rolePermissions('measurements-ingester');
  await managementRequest('PUT', `/permissions/${v}/${encodeURIComponent(user)}`, permissions);
  for (const t of topic)
    await managementRequest('PUT', `/topic-permissions/${v}/${encodeURIComponent(user)}`, t);
});
afterAll(async () => {
  for (const b of buses) await b.stop();
  await vhost?.drop();
  await managementRequest('DELETE', `/users/${encodeURIComponent(user)}`).catch(() => undefined);
});

async function start(url: string, name: string): Promise<Bus> {
  const bus = createBus({ url, connectionName: `ingester-role-${name}`, logger });
  buses.push(bus);
  await bus.start();
  return bus;
}

describe("an ingester's role (no write on the default exchange)", () => {
  it('releases a batch uncounted through its queue release exchange, and dead-letters a bad message', async () => {
    const admin = await start(vhost.url, 'admin');
    const ingester = await start(withUser(vhost.url, user, password), 'ingester');
    const seen: Array<{ body: string; count: number }> = [];
    let databaseDown = 3; // the first three batches meet a database that is down
    await ingester.consumeBatch({
      queue: serviceQueue('measurements-ingester', ['sensor.*.data'], { deliveryLimit: 2 }),
      maxBatch: 10,
      maxWaitMs: 200,
      handler: async (ds: Delivery[]) => {
        for (const d of ds) seen.push({ body: d.body.toString(), count: d.deliveryCount });
        if (databaseDown-- > 0) throw new DependencyUnavailableError('database down');
        const bad = ds.findIndex((d) => d.body.toString() === 'bad');
        return { rejected: bad >= 0 ? [{ index: bad, reason: 'value out of range' }] : [] };
      },
    });
    await admin.publish('sensor.s1.data', Buffer.from('good'));
    await admin.publish('sensor.s1.data', Buffer.from('bad'));
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 1,
      'the dead letter',
    );
    await waitFor(
      async () => (await queueMessageCount(vhost.url, 'measurements-ingester')) === 0,
      'queue empty',
    );
    // released three times past a delivery limit of 2, and each copy was a first delivery: uncounted
    expect(seen.filter((s) => s.body === 'good').length).toBe(4);
    expect(seen.every((s) => s.count === 1)).toBe(true);
    const dead = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead.map((d) => [d.body.toString(), d.headers[HEADER_REASON]])).toEqual([
      ['bad', 'value out of range'],
    ]);
    // and the route it released through is the queue's own
    const bindings = (await managementRequest(
      'GET',
      `/exchanges/${encodeURIComponent(vhost.vhost)}/${encodeURIComponent(releaseExchangeName('measurements-ingester'))}/bindings/source`,
    )) as Array<{ destination: string }>;
    expect(bindings.map((b) => b.destination)).toEqual(['measurements-ingester']);
  });

  it('cannot put a message into another queue through the default exchange', async () => {
    const conn = await connect(withUser(vhost.url, user, password));
    try {
      const ch = await conn.createConfirmChannel();
      const refused = new Promise<Error>((resolve) => ch.on('error', resolve));
      ch.publish('', 'sensor.victim.commands', Buffer.from('x'));
      expect((await refused).message).toMatch(/ACCESS_REFUSED.*amq\.default/);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
