import type { Bus } from '@sensor-streaming/bus';
import { serviceQueue } from '@sensor-streaming/bus';
import { type Pool, upsertSensorsBySerial } from '@sensor-streaming/db';
import { measurementBatchCodec, sampleTimesUs } from '@sensor-streaming/protocol';

/**
 * The baseline a first implementation would be: consume one message at a
 * time and INSERT each sample with its own statement (autocommit), then ack.
 * Stops after `samples` samples or `maxSeconds`, whichever comes first.
 */
export async function runNaiveIngester(opts: {
  bus: Bus;
  pool: Pool;
  queue: string;
  bindings: string[];
  samples: number;
  maxSeconds: number;
  publish: () => Promise<void>;
}): Promise<{ samples: number; seconds: number }> {
  const ids = new Map<string, number>();
  let inserted = 0;
  let start = 0;
  let stopAt = Number.POSITIVE_INFINITY;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    finish = r;
  });
  const consumer = await opts.bus.consume({
    queue: serviceQueue(opts.queue, opts.bindings),
    prefetch: 10,
    async handler(d) {
      if (inserted >= opts.samples || performance.now() > stopAt) return;
      const b = measurementBatchCodec.decode(d.body, d.contentType);
      let id = ids.get(b.serial);
      if (id === undefined) {
        id = (await upsertSensorsBySerial(opts.pool, [b.serial])).get(b.serial) as number;
        ids.set(b.serial, id);
      }
      const times = sampleTimesUs(b);
      for (let i = 0; i < b.values.length; i++) {
        if (start === 0) {
          start = performance.now();
          stopAt = start + opts.maxSeconds * 1000;
        }
        await opts.pool.query(
          'INSERT INTO measurements (sensor_id, channel, time, value) VALUES ($1, $2, $3, $4)',
          [id, b.channel, new Date(Math.floor((times[i] as number) / 1000)).toISOString(), b.values[i]],
        );
        inserted++;
        if (inserted >= opts.samples || performance.now() > stopAt) {
          finish();
          return;
        }
      }
    },
  });
  await opts.publish();
  const guard = setTimeout(finish, (opts.maxSeconds + 30) * 1000);
  await done;
  clearTimeout(guard);
  const seconds = (performance.now() - start) / 1000;
  await consumer.stop();
  return { samples: inserted, seconds };
}
