import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, createBus } from './bus.js';
import type { Delivery } from './delivery.js';
import { BusClosedError, RpcRemoteError, RpcTimeoutError, UnroutableError } from './errors.js';
import { createTestVhost, drainQueue, queueMessageCount, type TestVhost, waitFor } from './testing/index.js';
import {
  commandQueue,
  DEAD_LETTER_QUEUE,
  HEADER_ORIGINAL_QUEUE,
  HEADER_REASON,
  serviceQueue,
} from './topology.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { registry?: Registry; stopTimeoutMs?: number } = {}): Promise<{
  vhost: TestVhost;
  bus: Bus;
}> {
  const vhost = await createTestVhost('bus');
  cleanups.push(() => vhost.drop());
  const bus = createBus({
    url: vhost.url,
    connectionName: `bus-test-${randomUUID()}`,
    logger,
    registry: opts.registry ?? new Registry(),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...(opts.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: opts.stopTimeoutMs }),
  });
  cleanups.push(() => bus.stop());
  await bus.start();
  return { vhost, bus };
}

class PermanentError extends Error {
  readonly permanent = true;
}

describe('bus against the real broker', () => {
  it('publishes with confirms and consumes every message once acked', async () => {
    const registry = new Registry();
    const { vhost, bus } = await setup({ registry });
    const seen = new Set<string>();
    await bus.consume({
      queue: serviceQueue('it-basic', ['sensor.*.data']),
      prefetch: 500,
      handler: async (d) => {
        seen.add(d.body.toString());
      },
    });
    const n = 1000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        bus.publish(`sensor.s${i % 7}.data`, Buffer.from(String(i)), { contentType: 'text/plain' }),
      ),
    );
    await waitFor(() => seen.size === n, `${n} deliveries`);
    await waitFor(async () => (await queueMessageCount(vhost.url, 'it-basic')) === 0, 'queue empty');
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string) =>
      metrics.find((m) => m.name === name)?.values.reduce((s, v) => s + v.value, 0);
    expect(value('sensor_streaming_bus_publish_confirms_total')).toBe(n);
    expect(value('sensor_streaming_bus_messages_acked_total')).toBe(n);
  });

  it('rejects a mandatory publish to an unbound routing key with UnroutableError', async () => {
    const { bus } = await setup();
    await bus.declareQueue(commandQueue('known', 60_000));
    await expect(
      bus.publish('sensor.unknown.commands.sleep', Buffer.from('x'), { mandatory: true }),
    ).rejects.toBeInstanceOf(UnroutableError);
    // a routable mandatory publish still resolves
    await expect(
      bus.publish('sensor.known.commands.sleep', Buffer.from('x'), { mandatory: true }),
    ).resolves.toBeUndefined();
  });

  it('dead-letters a poison message with the reason while the valid ones around it are consumed', async () => {
    const { vhost, bus } = await setup();
    const ok: string[] = [];
    await bus.consume({
      queue: serviceQueue('it-poison', ['sensor.*.logs']),
      handler: async (d) => {
        if (d.body.toString() === 'poison') throw new PermanentError('cannot decode LogBatch: field entries');
        ok.push(d.body.toString());
      },
    });
    for (const body of ['a', 'b', 'poison', 'c', 'd']) await bus.publish('sensor.s1.logs', Buffer.from(body));
    await waitFor(() => ok.length === 4, 'valid messages');
    expect(ok).toEqual(['a', 'b', 'c', 'd']);
    await waitFor(async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 1, 'dead letter');
    const [dead] = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead?.body.toString()).toBe('poison');
    expect(dead?.routingKey).toBe('sensor.s1.logs');
    expect(dead?.headers[HEADER_REASON]).toBe('cannot decode LogBatch: field entries');
    expect(dead?.headers[HEADER_ORIGINAL_QUEUE]).toBe('it-poison');
    expect(await queueMessageCount(vhost.url, 'it-poison')).toBe(0);
  });

  it('retries a transient failure up to the delivery limit, then dead-letters it with the last reason', async () => {
    const { vhost, bus } = await setup();
    const attempts: number[] = [];
    const times: number[] = [];
    await bus.consume({
      queue: serviceQueue('it-transient', ['sensor.*.state'], { deliveryLimit: 3 }),
      retryDelayMs: 200,
      handler: async (d) => {
        attempts.push(d.deliveryCount);
        times.push(Date.now());
        throw new Error(`database unavailable (attempt ${d.deliveryCount})`);
      },
    });
    await bus.publish('sensor.s2.state', Buffer.from('state'));
    await waitFor(async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 1, 'dead letter');
    expect(attempts).toEqual([1, 2, 3]);
    // requeues are paused with backoff (>= 200*0.5, then >= 400*0.5)
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(90);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(190);
    const [dead] = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead?.headers[HEADER_REASON]).toBe('database unavailable (attempt 3)');
    expect(await queueMessageCount(vhost.url, 'it-transient')).toBe(0);
  });

  it('consumeBatch acks the batch after the handler and dead-letters only the rejected index', async () => {
    const registry = new Registry();
    const { vhost, bus } = await setup({ registry });
    const acked = async () =>
      (await registry.getSingleMetric('sensor_streaming_bus_messages_acked_total')?.get())?.values.reduce(
        (s, v) => s + v.value,
        0,
      );
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    cleanups.push(async () => release());
    await bus.consumeBatch({
      queue: serviceQueue('it-batch', ['sensor.*.data']),
      maxBatch: 5,
      maxWaitMs: 1500,
      handler: async (ds: Delivery[]) => {
        batches.push(ds.map((d) => d.body.toString()));
        await gate;
        const bad = ds.findIndex((d) => d.body.toString() === 'm2');
        return { rejected: bad >= 0 ? [{ index: bad, reason: 'value out of range: values[3]' }] : [] };
      },
    });
    await Promise.all([0, 1, 2, 3, 4].map((i) => bus.publish('sensor.s3.data', Buffer.from(`m${i}`))));
    await waitFor(() => batches.length === 1, 'first batch');
    expect(batches[0]).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // nothing is acked or dead-lettered while the handler runs
    await new Promise((r) => setTimeout(r, 100));
    expect(await acked()).toBe(0);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
    release();
    await waitFor(async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 1, 'dead letter');
    await waitFor(async () => (await acked()) === 4, 'four acks');
    expect(await queueMessageCount(vhost.url, 'it-batch')).toBe(0);
    const dead = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead.map((d) => d.body.toString())).toEqual(['m2']);
    expect(dead[0]?.headers[HEADER_REASON]).toBe('value out of range: values[3]');
    // the time limit flushes a partial batch
    await bus.publish('sensor.s3.data', Buffer.from('late'));
    await waitFor(() => batches.length === 2, 'second (timed) batch');
    expect(batches[1]).toEqual(['late']);
  });

  it('consumeBatch retries a batch whose handler failed transiently, then acks it', async () => {
    const registry = new Registry();
    const { vhost, bus } = await setup({ registry });
    const sum = async (name: string) =>
      (await registry.getSingleMetric(name)?.get())?.values.reduce((s, v) => s + v.value, 0);
    const calls: Array<{ bodies: string[]; counts: number[] }> = [];
    await bus.consumeBatch({
      queue: serviceQueue('it-batch-retry', ['sensor.*.data']),
      maxBatch: 3,
      maxWaitMs: 1500,
      retryDelayMs: 50,
      handler: async (ds) => {
        calls.push({ bodies: ds.map((d) => d.body.toString()), counts: ds.map((d) => d.deliveryCount) });
        if (calls.length === 1) throw new Error('connection to database lost');
        return {};
      },
    });
    await Promise.all(['a', 'b', 'c'].map((b) => bus.publish('sensor.s4.data', Buffer.from(b))));
    await waitFor(() => calls.length >= 2 && calls.flatMap((c) => c.bodies).length >= 6, 'retried batch');
    expect(calls[0]).toEqual({ bodies: ['a', 'b', 'c'], counts: [1, 1, 1] });
    expect(
      calls
        .slice(1)
        .flatMap((c) => c.bodies)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(calls.slice(1).flatMap((c) => c.counts)).toEqual([2, 2, 2]);
    await waitFor(async () => (await sum('sensor_streaming_bus_messages_acked_total')) === 3, 'three acks');
    expect(await sum('sensor_streaming_bus_messages_requeued_total')).toBe(3);
    expect(await queueMessageCount(vhost.url, 'it-batch-retry')).toBe(0);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
  });

  it('serves RPC round trips and times out when nobody answers in time', async () => {
    const { bus } = await setup();
    await bus.rpcServe('rpc.registry.get', async (req) => {
      if (req.body.toString() === 'boom')
        throw Object.assign(new Error('unknown sensor'), { code: 'NOT_FOUND' });
      if (req.body.toString() === 'slow') await new Promise((r) => setTimeout(r, 600));
      return Buffer.from(`hello ${req.body.toString()}`);
    });
    const reply = await bus.rpcCall('rpc.registry.get', Buffer.from('world'), { timeoutMs: 2000 });
    expect(reply.body.toString()).toBe('hello world');
    const err = await bus.rpcCall('rpc.registry.get', Buffer.from('boom')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcRemoteError);
    expect((err as RpcRemoteError).remoteCode).toBe('NOT_FOUND');
    await expect(
      bus.rpcCall('rpc.registry.get', Buffer.from('slow'), { timeoutMs: 200 }),
    ).rejects.toBeInstanceOf(RpcTimeoutError);
    await expect(bus.rpcCall('rpc.nobody', Buffer.from('x'))).rejects.toBeInstanceOf(UnroutableError);
  });

  it('dead-letters an expired command to the DLX where it can be observed', async () => {
    const { vhost, bus } = await setup();
    await bus.declareQueue(commandQueue('s-ttl', 300));
    const observed: Delivery[] = [];
    await bus.consume({
      queue: serviceQueue('it-expired-commands', [], { deadLetterBindings: ['sensor.*.commands.*'] }),
      handler: async (d) => {
        observed.push(d);
      },
    });
    await bus.publish('sensor.s-ttl.commands.sleep', Buffer.from('cmd-1'), { mandatory: true });
    await waitFor(() => observed.length === 1, 'expired command on the DLX', 10_000);
    expect(observed[0]?.routingKey).toBe('sensor.s-ttl.commands.sleep');
    expect(observed[0]?.body.toString()).toBe('cmd-1');
    expect(observed[0]?.headers).not.toHaveProperty('x-sensor-streaming-publish-id'); // internal, hidden
    const deaths = observed[0]?.headers['x-death'] as Array<{ reason: string; queue: string }> | undefined;
    const death = deaths?.[0];
    expect(death?.reason).toBe('expired');
    expect(death?.queue).toBe('sensor.s-ttl.commands');
    expect(await queueMessageCount(vhost.url, 'sensor.s-ttl.commands')).toBe(0);
  });

  it('Consumer.stop() waits for the in-flight handler, acks its message, then stops consuming', async () => {
    const { vhost, bus } = await setup();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    cleanups.push(async () => release());
    const handled: string[] = [];
    const consumer = await bus.consume({
      queue: serviceQueue('it-stop', ['sensor.*.data']),
      handler: async (d) => {
        await gate;
        handled.push(d.body.toString());
      },
    });
    await bus.publish('sensor.s9.data', Buffer.from('in-flight'));
    await new Promise((r) => setTimeout(r, 200));
    let stopped = false;
    const stopping = consumer.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(handled).toEqual(['in-flight']);
    await bus.publish('sensor.s9.data', Buffer.from('after-stop'));
    await new Promise((r) => setTimeout(r, 200));
    expect(handled).toEqual(['in-flight']);
    // the in-flight one was acked (not requeued): only the new one is waiting
    expect(await queueMessageCount(vhost.url, 'it-stop')).toBe(1);
  });

  it('Bus.stop() waits for outstanding confirms and then refuses new work', async () => {
    const { vhost, bus } = await setup();
    await bus.declareQueue(serviceQueue('it-bus-stop', ['sensor.*.logs']));
    const pending = Array.from({ length: 500 }, (_, i) =>
      bus.publish('sensor.s1.logs', Buffer.from(String(i))),
    );
    await bus.stop();
    await expect(Promise.all(pending)).resolves.toHaveLength(500);
    expect(await queueMessageCount(vhost.url, 'it-bus-stop')).toBe(500);
    await expect(bus.publish('sensor.s1.logs', Buffer.from('late'))).rejects.toBeInstanceOf(BusClosedError);
    expect(bus.isConnected()).toBe(false);
  });

  it('Bus.stop() does not wait past its deadline for a handler that never settles', async () => {
    const { vhost, bus } = await setup({ stopTimeoutMs: 500 });
    let started = false;
    await bus.consume({
      queue: serviceQueue('it-hung', ['sensor.*.data']),
      handler: () => {
        started = true;
        return new Promise<void>(() => undefined);
      },
    });
    await bus.publish('sensor.s1.data', Buffer.from('x'));
    await waitFor(() => started, 'handler started');
    const t0 = Date.now();
    await bus.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
    // the unacked message went back to the queue
    await waitFor(async () => (await queueMessageCount(vhost.url, 'it-hung')) === 1, 'message requeued');
  });

  it('a failure in a queue fed by the DLX goes to the dead queue without looping back', async () => {
    const { vhost, bus } = await setup();
    await bus.declareQueue(commandQueue('s-loop', 100));
    let calls = 0;
    await bus.consume({
      queue: serviceQueue('it-dlx-observer', [], { deadLetterBindings: ['sensor.*.commands.*'] }),
      handler: async () => {
        calls++;
        throw new PermanentError('cannot decode Command');
      },
    });
    await bus.publish('sensor.s-loop.commands.awake', Buffer.from('c'));
    // expired copy -> dead queue (via the DLX) and -> observer; observer's failure -> dead queue directly
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 2,
      'two dead letters',
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(1);
    const dead = await drainQueue(vhost.url, DEAD_LETTER_QUEUE);
    expect(dead.map((d) => d.headers[HEADER_REASON] ?? 'expired').sort()).toEqual([
      'cannot decode Command',
      'expired',
    ]);
    expect(dead.map((d) => d.routingKey)).toEqual([
      'sensor.s-loop.commands.awake',
      'sensor.s-loop.commands.awake',
    ]);
  });
});

describe('bus without a reachable broker', () => {
  it('keeps retrying start() until stop(), which ends it with BusClosedError', async () => {
    const bus = createBus({
      url: 'amqp://guest:guest@127.0.0.1:1/',
      connectionName: 'unreachable',
      logger,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      stopTimeoutMs: 500,
    });
    const starting = bus.start().then(
      () => 'started',
      (err: unknown) => err,
    );
    const pub = bus.publish('sensor.x.data', Buffer.from('x')).then(
      () => 'confirmed',
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(bus.isConnected()).toBe(false);
    await bus.stop();
    expect(await starting).toBeInstanceOf(BusClosedError);
    expect(await pub).toBeInstanceOf(BusClosedError);
  });
});
