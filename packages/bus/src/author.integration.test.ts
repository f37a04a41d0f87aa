import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, type BusOptions, createBus } from './bus.js';
import type { Delivery } from './delivery.js';
import { DependencyUnavailableError, PublishRefusedError } from './errors.js';
import { createTestVhost, type TestVhost, waitFor } from './testing/index.js';
import { serviceQueue } from './topology.js';

// The broker-validated author (AMQP user_id): stamped on every publish and RPC request, refused by the
// broker when it is not the connection's user. The shared broker has only `guest`, so the "other user"
// cases use a user_id that is not the connection's (what a forger would send).
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function vhost(): Promise<TestVhost> {
  const v = await createTestVhost('author');
  cleanups.push(() => v.drop());
  return v;
}

async function bus(url: string, extra: Partial<BusOptions> = {}): Promise<Bus> {
  const b = createBus({
    url,
    connectionName: `author-test-${randomUUID()}`,
    logger,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    publishTimeoutMs: 20_000,
    ...extra,
  });
  cleanups.push(() => b.stop());
  await b.start();
  return b;
}

describe('the broker-validated author of a message', () => {
  it('stamps the URL user on every publish and RPC request; consumers see it as Delivery.userId', async () => {
    const v = await vhost();
    const b = await bus(v.url);
    const seen: Delivery[] = [];
    await b.consume({
      queue: serviceQueue('author-seen', ['sensor.*.data']),
      handler: async (d) => void seen.push(d),
    });
    await b.publish('sensor.a.data', Buffer.from('x'));
    await waitFor(() => seen.length === 1, 'the delivery');
    expect(seen[0]?.userId).toBe(new URL(v.url).username || 'guest');

    let asker: string | undefined;
    await b.rpcServe('author-rpc', async (req) => {
      asker = req.userId;
      return Buffer.from('ok');
    });
    await b.rpcCall('author-rpc', Buffer.from('who?'));
    expect(asker).toBe(seen[0]?.userId);
  });

  it('fails a publish with a user_id that is not the connection user at once with PublishRefusedError', async () => {
    const v = await vhost();
    const forger = await bus(v.url, { userId: 'op.operator' });
    const started = Date.now();
    const err = await forger.publish('sensor.a.data', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRefusedError);
    expect((err as PublishRefusedError).message).toMatch(/PRECONDITION_FAILED.*user_id.*op\.operator/);
    expect(Date.now() - started).toBeLessThan(15_000); // refused, not timed out (publishTimeoutMs 20 s)
    const rpcErr = await forger.rpcCall('nobody-serves-this', Buffer.from('x')).catch((e: unknown) => e);
    expect(rpcErr).toBeInstanceOf(PublishRefusedError);
    // the bus keeps working for publishes the broker accepts (none here: all carry the forged user_id)
    expect(forger.isConnected()).toBe(true);
  });

  it('gives no author to a message published without user_id, even after the consumer released it', async () => {
    const v = await vhost();
    const consumerBus = await bus(v.url);
    const anonymous = await bus(v.url, { userId: false });
    const seen: Array<string | undefined> = [];
    let failOnce = true;
    await consumerBus.consume({
      queue: serviceQueue('author-release', ['sensor.*.logs']),
      retryDelayMs: 10,
      handler: async (d) => {
        seen.push(d.userId ?? '(none)');
        if (failOnce) {
          failOnce = false;
          throw new DependencyUnavailableError('database down');
        }
      },
    });
    await anonymous.publish('sensor.a.logs', Buffer.from('no author'));
    await consumerBus.publish('sensor.b.logs', Buffer.from('guest'));
    await waitFor(() => seen.length === 3, 'both messages, one of them twice (released)');
    // the released copy is published by the consumer's own user: its author is the original's, not that
    expect(seen.filter((s) => s === '(none)')).toHaveLength(2);
    expect(seen.filter((s) => s !== '(none)')).toHaveLength(1);
  });
});
