import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, createBus } from './bus.js';
import { UnroutableError } from './errors.js';
import {
  closeConnectionsByName,
  createTestVhost,
  drainQueue,
  managementRequest,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from './testing/index.js';
import { commandQueue, DEAD_LETTER_QUEUE, HEADER_REASON, type QueueSpec } from './topology.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const cleanups: Array<() => Promise<void>> = [];
// dropping a vhost with thousands of queues takes the broker tens of seconds on a loaded machine
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
}, 180_000);

async function setup(): Promise<{ vhost: TestVhost; bus: Bus; name: string; registry: Registry }> {
  const vhost = await createTestVhost('bus-multi');
  cleanups.push(() => vhost.drop());
  const name = `bus-multi-${randomUUID()}`;
  const registry = new Registry();
  const bus = createBus({
    url: vhost.url,
    connectionName: name,
    logger,
    registry,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
  });
  cleanups.push(() => bus.stop());
  await bus.start();
  return { vhost, bus, name, registry };
}

async function gauge(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
}

const serials = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const queues = (ss: string[]): QueueSpec[] => ss.map((s) => commandQueue(s, 600_000));

/** Channels the broker lists for the bus's consume connection (the management API lags: poll). */
async function consumeChannels(name: string): Promise<number> {
  const all = (await managementRequest(
    'GET',
    '/connections?columns=name,client_properties,channels',
  )) as Array<{
    client_properties?: { connection_name?: string };
    channels?: number;
  }>;
  return all.find((c) => c.client_properties?.connection_name === `${name}.consume`)?.channels ?? -1;
}

describe('multi-queue consumer against the real broker', () => {
  it('consumes 1,000 queues over 10 channels and hands every message to the handler once', async () => {
    const { bus, name, registry } = await setup();
    const ss = serials('mq-a-', 1000);
    const seen = new Map<string, number>();
    const consumer = await bus.consumeMany({
      queues: queues(ss),
      queuesPerChannel: 100,
      handler: async (d) => {
        seen.set(d.queue, (seen.get(d.queue) ?? 0) + 1);
      },
    });
    expect(consumer.size()).toBe(1000);
    expect(consumer.isConsuming()).toBe(true);
    expect(await gauge(registry, 'sensor_streaming_bus_multi_consumer_queues')).toBe(1000);
    await Promise.all(ss.map((s) => bus.publish(`sensor.${s}.commands.awake`, Buffer.from(s))));
    await waitFor(() => seen.size === 1000, 'a message from every queue', 60_000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // 10 consume channels (+ none left over from the declarations)
    await waitFor(
      () =>
        consumeChannels(name).then(
          (n) => n === 10,
          () => false,
        ),
      'the broker to list 10 channels',
      30_000,
    );
  }, 120_000);

  it('handles the messages of one queue in order, one at a time, and queues in parallel', async () => {
    const { bus } = await setup();
    const ss = serials('mq-o-', 20);
    const got = new Map<string, number[]>();
    let running = 0;
    let maxRunning = 0;
    const perQueueRunning = new Map<string, number>();
    let overlapInQueue = false;
    await bus.consumeMany({
      queues: queues(ss),
      queuesPerChannel: 5,
      prefetch: 50,
      concurrency: 8,
      handler: async (d) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const inQueue = (perQueueRunning.get(d.queue) ?? 0) + 1;
        if (inQueue > 1) overlapInQueue = true;
        perQueueRunning.set(d.queue, inQueue);
        await new Promise((r) => setTimeout(r, 2));
        const list = got.get(d.queue) ?? [];
        list.push(d.body.readUInt32BE(0));
        got.set(d.queue, list);
        perQueueRunning.set(d.queue, inQueue - 1);
        running--;
      },
    });
    for (let i = 0; i < 30; i++) {
      await Promise.all(
        ss.map((s) => {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(i);
          return bus.publish(`sensor.${s}.commands.sleep`, b);
        }),
      );
    }
    await waitFor(() => [...got.values()].reduce((n, l) => n + l.length, 0) === 600, 'all 600 messages');
    for (const list of got.values()) expect(list).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(overlapInQueue).toBe(false);
    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(8);
  }, 60_000);

  it('adds and removes queues at run time: a removed queue keeps its messages for the next consumer', async () => {
    const { vhost, bus } = await setup();
    const seen: string[] = [];
    const consumer = await bus.consumeMany({
      queues: queues(['mq-r-0']),
      handler: async (d) => {
        seen.push(d.body.toString());
      },
    });
    await consumer.add(queues(['mq-r-1', 'mq-r-2', 'mq-r-0'])); // mq-r-0 already there: skipped
    expect(consumer.size()).toBe(3);
    await bus.publish('sensor.mq-r-2.commands.awake', Buffer.from('to-added'));
    await waitFor(() => seen.includes('to-added'), 'the message to a queue added at run time');

    await consumer.remove(['sensor.mq-r-1.commands']);
    expect(consumer.size()).toBe(2);
    await bus.publish('sensor.mq-r-1.commands.awake', Buffer.from('to-removed'));
    await bus.publish('sensor.mq-r-0.commands.awake', Buffer.from('to-kept'));
    await waitFor(() => seen.includes('to-kept'), 'the message to a queue still consumed');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).not.toContain('to-removed');
    expect(await queueMessageCount(vhost.url, 'sensor.mq-r-1.commands')).toBe(1);
    expect(consumer.isConsuming()).toBe(true);
  }, 60_000);

  it('dead-letters a poison message with its reason and requeues a transient failure once', async () => {
    const { vhost, bus } = await setup();
    const handled: string[] = [];
    let transientLeft = 1;
    await bus.consumeMany({
      queues: queues(['mq-p-0', 'mq-p-1']),
      retryDelayMs: 10,
      handler: async (d) => {
        const body = d.body.toString();
        if (body === 'poison') throw Object.assign(new Error('cannot decode'), { permanent: true });
        if (body === 'flaky' && transientLeft-- > 0) throw new Error('database hiccup');
        handled.push(`${d.queue}:${body}`);
      },
    });
    await bus.publish('sensor.mq-p-0.commands.awake', Buffer.from('poison'));
    await bus.publish('sensor.mq-p-0.commands.awake', Buffer.from('after'));
    await bus.publish('sensor.mq-p-1.commands.awake', Buffer.from('flaky'));
    await waitFor(() => handled.length === 2, 'the good and the flaky message handled');
    expect(handled.sort()).toEqual(['sensor.mq-p-0.commands:after', 'sensor.mq-p-1.commands:flaky']);
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 1,
      'one dead letter',
    );
    const [dead] = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead?.body.toString()).toBe('poison');
    expect(String(dead?.headers[HEADER_REASON])).toContain('cannot decode');
    expect(await queueMessageCount(vhost.url, 'sensor.mq-p-0.commands')).toBe(0);
  }, 60_000);

  it('declares a queue deleted under it again and keeps consuming it', async () => {
    const { vhost, bus } = await setup();
    const seen: string[] = [];
    const consumer = await bus.consumeMany({
      queues: queues(['mq-d-0', 'mq-d-1']),
      handler: async (d) => {
        seen.push(d.body.toString());
      },
    });
    const conn = await connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.deleteQueue('sensor.mq-d-0.commands');
    } finally {
      await conn.close();
    }
    // the broker's consumer-cancel reaches the consumer a moment after the delete, so isConsuming()
    // can still be true from before it: publish (mandatory) until the re-declared, re-bound queue routes it
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await bus.publish('sensor.mq-d-0.commands.awake', Buffer.from('after-delete'), { mandatory: true });
        break;
      } catch (err) {
        if (!(err instanceof UnroutableError) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await waitFor(() => consumer.isConsuming(), 'the deleted queue consumed again', 20_000);
    await waitFor(() => seen.includes('after-delete'), 'the message to the re-declared queue');
  }, 60_000);

  it('loses nothing across a forced close of the consume connection with 3,000 queues', async () => {
    const { vhost, bus, name, registry } = await setup();
    const n = 3000;
    const ss = serials('mq-k-', n);
    const seen = new Set<number>();
    let deliveries = 0;
    const consumer = await bus.consumeMany({
      queues: queues(ss),
      queuesPerChannel: 200,
      prefetch: 5,
      handler: async (d) => {
        seen.add(d.body.readUInt32BE(0));
        deliveries++;
      },
    });
    const total = 6000; // 2 per queue
    const chunk = 1000;
    let kill: Promise<number> | undefined;
    for (let start = 0; start < total; start += chunk) {
      if (start === 2 * chunk) kill = closeConnectionsByName(`${name}.consume`);
      await Promise.all(
        Array.from({ length: chunk }, (_, k) => {
          const i = start + k;
          const b = Buffer.alloc(4);
          b.writeUInt32BE(i);
          return bus.publish(`sensor.${ss[i % n]}.commands.awake`, b);
        }),
      );
    }
    expect(await kill).toBe(1);
    await waitFor(() => seen.size === total, `all ${total} messages (seen ${seen.size})`, 120_000);
    await waitFor(() => consumer.isConsuming(), 'every queue consumed again', 60_000);
    expect(await gauge(registry, 'sensor_streaming_bus_multi_consumer_queues')).toBe(n);
    expect(await gauge(registry, 'sensor_streaming_bus_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(deliveries).toBeGreaterThanOrEqual(total); // redeliveries after the loss are allowed, loss is not
    // nothing left behind in any queue
    for (const s of [ss[0]!, ss[n - 1]!])
      expect(await queueMessageCount(vhost.url, `sensor.${s}.commands`)).toBe(0);
  }, 400_000);

  it('refuses more queues than its channels can carry, and maxChannels above channel_max', async () => {
    const { bus } = await setup();
    await expect(
      bus.consumeMany({
        queues: queues(serials('mq-c-', 11)),
        queuesPerChannel: 5,
        maxChannels: 2,
        handler: async () => undefined,
      }),
    ).rejects.toThrow(/at most 10 \(2 channels of 5 consumers\)/);
    await expect(
      bus.consumeMany({ queues: [], maxChannels: 2048, handler: async () => undefined }),
    ).rejects.toThrow(/maxChannels must be at most 2000/);
  });
});
