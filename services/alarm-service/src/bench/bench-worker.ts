// Child process of the alarm benchmark: runs either the real alarm service or a
// decode-only consumer on the same queue, and reports samples processed to the
// parent over IPC every 50 ms. One Node process = one core for the evaluation.
import { createBus, serviceQueue } from '@sensor-streaming/bus';
import { bindingPatterns, measurementBatchCodec } from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { Registry } from 'prom-client';
import { createAlarmService } from '../alarm-service.js';
import { loadConfig } from '../config.js';

const mode = process.argv[2];
const logger = createLogger({ service: `alarm-bench-${mode}`, level: process.env.LOG_LEVEL ?? 'warn' });
const config = loadConfig(process.env);
let samples = 0;
let stop: () => Promise<void>;

if (mode === 'service') {
  const registry = new Registry();
  const svc = createAlarmService({ config, logger, registry });
  await svc.start();
  const read = async () => {
    const all = await registry.getMetricsAsJSON();
    const m = all.find((x) => x.name === 'sensor_streaming_samples_received_total');
    const n = ((m?.values ?? []) as Array<{ value: number }>).reduce((s, v) => s + v.value, 0);
    // sample time -> alarm publish confirmed, as the service measures it (+Inf as 1e9: IPC is JSON)
    const lag = all.find((x) => x.name === 'sensor_streaming_e2e_lag_seconds');
    const values = (lag?.values ?? []) as Array<{
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }>;
    const buckets = values
      .filter((v) => v.metricName?.endsWith('_bucket'))
      .map((v) => [v.labels.le === '+Inf' ? 1e9 : Number(v.labels.le), v.value] as [number, number]);
    return { n, buckets };
  };
  const timer = setInterval(() => {
    void read().then(({ n, buckets }) => {
      samples = n;
      process.send?.({ samples, leader: svc.isLeader, lagBuckets: buckets });
    });
  }, 50);
  stop = async () => {
    clearInterval(timer);
    await svc.stop();
  };
} else if (mode === 'decode') {
  const bus = createBus({ url: config.amqpUrl, connectionName: 'alarm-bench-decode', logger });
  await bus.start();
  await bus.consumeBatch({
    queue: serviceQueue(config.queueName, [
      bindingPatterns.data,
      bindingPatterns.logs,
      bindingPatterns.state,
    ]),
    prefetch: config.consume.prefetch,
    maxBatch: config.consume.maxBatch,
    maxWaitMs: config.consume.maxWaitMs,
    handler: async (ds) => {
      for (const d of ds) samples += measurementBatchCodec.decode(d.body, d.contentType).values.length;
      return {};
    },
  });
  const timer = setInterval(() => process.send?.({ samples, leader: true }), 50);
  stop = async () => {
    clearInterval(timer);
    await bus.stop();
  };
} else {
  throw new Error(`usage: bench-worker.ts service|decode (got ${mode})`);
}

process.on('message', (m) => {
  if (m === 'stop') {
    void stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  }
});
process.send?.({ ready: true, samples: 0 });
