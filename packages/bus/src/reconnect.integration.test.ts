import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, createBus } from './bus.js';
import {
  closeConnectionsByName,
  createTestVhost,
  listConnectionsByName,
  queueMessageCount,
  type TestVhost,
  waitFor,
} from './testing/index.js';
import { serviceQueue } from './topology.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ vhost: TestVhost; bus: Bus; name: string; registry: Registry }> {
  const vhost = await createTestVhost('bus-reconnect');
  cleanups.push(() => vhost.drop());
  const name = `bus-reconnect-${randomUUID()}`;
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
  // the management API lists new connections with a delay: wait until both are visible
  await waitFor(async () => (await listConnectionsByName(name)).length === 2, 'connections listed', 20_000);
  return { vhost, bus, name, registry };
}

async function metricSum(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((s, v) => s + v.value, 0);
}

describe('bus reconnection against the real broker', () => {
  it('delivers every one of 20,000 confirmed publishes across a forced close of both connections', async () => {
    const { vhost, bus, name, registry } = await setup();
    const seen = new Set<number>();
    let deliveries = 0;
    await bus.consumeBatch({
      queue: serviceQueue('it-stream', ['sensor.*.data']),
      maxBatch: 500,
      maxWaitMs: 20,
      prefetch: 1000,
      handler: async (ds) => {
        for (const d of ds) seen.add(Number(d.body.readUInt32BE(0)));
        deliveries += ds.length;
        return {};
      },
    });
    const total = 20_000;
    const chunk = 1000;
    const t0 = performance.now();
    let kill: Promise<number> | undefined;
    const all: Array<Promise<void>> = [];
    for (let start = 0; start < total; start += chunk) {
      if (start === 5 * chunk) kill = closeConnectionsByName(name, { expect: 2 });
      if (start === 12 * chunk) expect(await kill).toBe(2); // the kill lands mid-stream
      const batch: Array<Promise<void>> = [];
      for (let i = start; i < start + chunk; i++) {
        const body = Buffer.alloc(4);
        body.writeUInt32BE(i);
        batch.push(bus.publish(`sensor.s${i % 50}.data`, body));
      }
      all.push(...batch);
      // keep a couple of chunks in flight, like a producer honouring backpressure
      if (all.length >= 3 * chunk) await Promise.all(all.splice(0, chunk));
    }
    await Promise.all(all);
    const publishMs = performance.now() - t0;
    await waitFor(() => seen.size === total, `all ${total} distinct ids (have ${seen.size})`, 60_000);
    expect(
      await metricSum(registry, 'sensor_streaming_bus_reconnects_total', { connection: 'publish' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await metricSum(registry, 'sensor_streaming_bus_reconnects_total', { connection: 'consume' }),
    ).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await queueMessageCount(vhost.url, 'it-stream')) === 0, 'queue drained');
    logger.info({
      publishMs,
      deliveries,
      resends: await metricSum(registry, 'sensor_streaming_bus_publish_resends_total'),
    });
    console.log(
      `20k stream with forced close: published+confirmed in ${Math.round(publishMs)} ms, ` +
        `${deliveries} deliveries (${deliveries - total} duplicates), ` +
        `${await metricSum(registry, 'sensor_streaming_bus_publish_resends_total')} re-sends`,
    );
  }, 90_000); // ~5 s on an idle 2-core box; allow for a CI machine shared with other suites

  it('resumes a consumer after its connection is killed', async () => {
    const { bus, name, registry } = await setup();
    const got: string[] = [];
    const events: string[] = [];
    bus.on('disconnected', () => events.push('disconnected'));
    bus.on('connected', () => events.push('connected'));
    await bus.consume({
      queue: serviceQueue('it-resume', ['sensor.*.acks']),
      handler: async (d) => {
        got.push(d.body.toString());
      },
    });
    await bus.publish('sensor.s1.acks', Buffer.from('before'));
    await waitFor(() => got.includes('before'), 'first message');
    expect(await closeConnectionsByName(`${name}.consume`)).toBe(1);
    await waitFor(() => events.includes('connected'), 'reconnected', 10_000);
    expect(events).toEqual(['disconnected', 'connected']);
    await bus.publish('sensor.s1.acks', Buffer.from('after'));
    await waitFor(() => got.includes('after'), 'message after the reconnect', 10_000);
    expect(
      await metricSum(registry, 'sensor_streaming_bus_reconnects_total', { connection: 'consume' }),
    ).toBe(1);
    expect(
      await metricSum(registry, 'sensor_streaming_bus_reconnects_total', { connection: 'publish' }),
    ).toBe(0);
    expect(bus.isConnected()).toBe(true);
  });
});
