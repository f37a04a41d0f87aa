import { EventEmitter } from 'node:events';
import type { ChannelModel } from 'amqplib';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManagedConnection } from './connection.js';
import type { BusLogger } from './logger.js';
import { createBusMetrics } from './metrics.js';

class FakeModel extends EventEmitter {
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
  }
}

const silent: BusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
};

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  return (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.connection === 'publish')
    ?.value;
}

describe('ManagedConnection (fake amqplib)', () => {
  let registry: Registry;
  let attempts: string[];
  let models: FakeModel[];
  let failuresLeft: number;

  beforeEach(() => {
    vi.useFakeTimers();
    registry = new Registry();
    attempts = [];
    models = [];
    failuresLeft = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function make(onConnect = async () => undefined) {
    return new ManagedConnection({
      url: 'amqp://u:secret@broker:5672/vh?heartbeat=60',
      name: 'svc.publish',
      role: 'publish',
      heartbeatS: 15,
      backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
      connectTimeoutMs: 1000,
      logger: silent,
      metrics: createBusMetrics(registry),
      onConnect,
      connect: async (url, sock) => {
        attempts.push(`${url} ${String(sock.clientProperties.connection_name)}`);
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error('ECONNREFUSED');
        }
        const m = new FakeModel();
        models.push(m);
        return m as unknown as ChannelModel;
      },
    });
  }

  it('connects with the explicit heartbeat and connection name, retrying with backoff until it succeeds', async () => {
    failuresLeft = 3;
    const conn = make();
    let started = false;
    void conn.start().then(() => {
      started = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toBe('amqp://u:secret@broker:5672/vh?heartbeat=15 svc.publish');
    // delays: attempt 1 in [50,100], 2 in [100,200], 3 in [200,400]
    await vi.advanceTimersByTimeAsync(100);
    expect(attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(attempts).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(400);
    expect(attempts).toHaveLength(4);
    expect(started).toBe(true);
    expect(await gauge(registry, 'sensor_streaming_bus_connection_up')).toBe(1);
  });

  it('reconnects after a loss, emits down/up and counts the reconnect', async () => {
    const conn = make();
    const events: string[] = [];
    conn.on('up', () => events.push('up'));
    conn.on('down', () => events.push('down'));
    await conn.start();
    models[0]!.emit('error', new Error('CONNECTION_FORCED'));
    models[0]!.emit('close', new Error('CONNECTION_FORCED'));
    expect(conn.model).toBeUndefined();
    expect(await gauge(registry, 'sensor_streaming_bus_connection_up')).toBe(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['up', 'down', 'up']);
    expect(conn.model).toBe(models[1]);
    expect(await gauge(registry, 'sensor_streaming_bus_reconnects_total')).toBe(1);
  });

  it('exposes connection.blocked / unblocked as a gauge and events', async () => {
    const conn = make();
    const events: string[] = [];
    conn.on('blocked', (reason: string) => events.push(`blocked:${reason}`));
    conn.on('unblocked', () => events.push('unblocked'));
    await conn.start();
    models[0]!.emit('blocked', 'low on memory');
    expect(await gauge(registry, 'sensor_streaming_bus_connection_blocked')).toBe(1);
    models[0]!.emit('unblocked');
    expect(await gauge(registry, 'sensor_streaming_bus_connection_blocked')).toBe(0);
    expect(events).toEqual(['blocked:low on memory', 'unblocked']);
  });

  it('closes and retries when declaring the topology fails', async () => {
    let calls = 0;
    const conn = make(async () => {
      calls++;
      if (calls === 1) throw new Error('PRECONDITION_FAILED');
    });
    const started = conn.start();
    await vi.advanceTimersByTimeAsync(200);
    await started;
    expect(models).toHaveLength(2);
    expect(models[0]!.closed).toBe(true);
    expect(conn.model).toBe(models[1]);
  });

  it('stop() ends a pending connect loop and closes the connection', async () => {
    failuresLeft = Number.POSITIVE_INFINITY;
    const conn = make();
    const started = conn.start().catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(1000);
    await conn.stop(100);
    expect(((await started) as Error).name).toBe('BusClosedError');
    const before = attempts.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempts.length).toBe(before);
  });

  it('passes TCP_NODELAY when asked and tells onConnectError of every failed attempt', async () => {
    const seen: unknown[] = [];
    const sockets: Array<{ noDelay?: boolean }> = [];
    failuresLeft = 2;
    const conn = new ManagedConnection({
      url: 'amqp://u:p@broker:5672',
      name: 'cli.publish',
      role: 'publish',
      heartbeatS: 10,
      backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
      connectTimeoutMs: 1000,
      logger: silent,
      metrics: createBusMetrics(new Registry()),
      onConnect: async () => undefined,
      noDelay: true,
      onConnectError: (err) => seen.push(err),
      connect: async (_url, sock) => {
        sockets.push(sock);
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error('ECONNREFUSED');
        }
        const m = new FakeModel();
        models.push(m);
        return m as unknown as ChannelModel;
      },
    });
    const started = conn.start();
    await vi.advanceTimersByTimeAsync(5_000);
    await started;
    expect(seen.map((e) => (e as Error).message)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    expect(sockets.every((s) => s.noDelay === true)).toBe(true);
    expect(sockets).toHaveLength(3);
    await conn.stop(100);
  });
});
