import { createBus } from '@sensor-streaming/bus';
import { createTestVhost, waitFor } from '@sensor-streaming/bus/testing';
import { createTestDatabase } from '@sensor-streaming/db/testing';
import { routingKeys, type SensorState, sensorStateCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { loadConfig } from '../config.js';
import { createSensorRegistry } from '../sensor-registry.js';

/*
 * How many SensorState messages/s the registry absorbs (decode, one upsert +
 * state-change statement per batch, reconcile lookup, ack). A fleet of
 * SENSORS sensors sends a BIRTH then HEARTBEATS heartbeats each, published as
 * fast as confirms allow while the registry consumes; reported: the rate from
 * first publish to the last message processed. Own vhost and database.
 *
 *   pnpm --filter @sensor-streaming/sensor-registry bench [SENSORS] [HEARTBEATS]
 */
const sensors = Number(process.argv[2] ?? 10_000);
const heartbeats = Number(process.argv[3] ?? 4);
const logger = createLogger({ service: 'registry-bench', level: 'warn' });

function state(serial: string, reason: SensorState['reason'], timeUs: number): SensorState {
  return {
    serial,
    kind: 'vibration',
    channels: ['vibration'],
    firmware: '1.0.0',
    location: { lat: 57.7, lon: 11.9 },
    state: 'AWAKE',
    sampleFrequencyHz: 100,
    uptimeS: 1,
    reason,
    timeUs,
    labels: { site: 'bench' },
    minFrequencyHz: 1,
    maxFrequencyHz: 1000,
  };
}

const [vhost, db] = await Promise.all([
  createTestVhost('registry-bench'),
  createTestDatabase({ prefix: 'regbench' }),
]);
const metrics = new Registry();
const registry = createSensorRegistry({
  config: loadConfig({ AMQP_URL: vhost.url, DATABASE_URL: db.url, METRICS_PORT: '0' }),
  logger,
  registry: metrics,
});
const bus = createBus({ url: vhost.url, connectionName: 'registry-bench', logger });
try {
  await registry.start();
  await bus.start();
  const total = sensors * (1 + heartbeats);
  const received = async (): Promise<number> => {
    const m = (await metrics.getMetricsAsJSON()).find(
      (x) => x.name === 'sensor_streaming_messages_received_total',
    );
    return (m?.values ?? []).reduce((n, v) => n + (v.labels.kind === 'state' ? v.value : 0), 0);
  };
  const t0 = performance.now();
  for (let round = 0; round <= heartbeats; round++) {
    const nowUs = Date.now() * 1000;
    await Promise.all(
      Array.from({ length: sensors }, (_, i) => {
        const serial = `bench-${i}`;
        const body = sensorStateCodec.encode(
          state(serial, round === 0 ? 'BIRTH' : 'HEARTBEAT', nowUs + round),
        );
        return bus.publish(routingKeys.state(serial), body);
      }),
    );
  }
  const published = performance.now();
  await waitFor(async () => (await received()) >= total, 'all states processed', 600_000);
  // the last batch is acked after its statement: wait for the rows too
  await waitFor(async () => {
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM sensors WHERE online');
    return Number(rows[0]?.n) === sensors;
  }, 'sensors online');
  const done = performance.now();
  const batches = (await metrics.getMetricsAsJSON()).find(
    (x) => x.name === 'sensor_streaming_write_duration_seconds',
  );
  const count =
    batches?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))?.value ?? 0;
  const sum =
    batches?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum'))?.value ?? 0;
  console.log(
    JSON.stringify({
      sensors,
      messages: total,
      publishSeconds: +((published - t0) / 1000).toFixed(2),
      totalSeconds: +((done - t0) / 1000).toFixed(2),
      messagesPerSecond: Math.round(total / ((done - t0) / 1000)),
      batches: count,
      meanBatchMs: count > 0 ? +((sum / count) * 1000).toFixed(1) : null,
      meanBatchSize: count > 0 ? Math.round(total / count) : null,
    }),
  );
} finally {
  await bus.stop();
  await registry.stop();
  await Promise.all([db.drop(), vhost.drop()]);
}
