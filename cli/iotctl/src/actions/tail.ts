import { randomUUID } from 'node:crypto';
import { type MeasurementBatch, measurementBatchCodec, sampleTimesUs } from '@sensor-streaming/protocol';
import { ControlError } from '@sensor-streaming/control';
import { EXIT_OK } from '../cli-error.js';
import { type Context, err, out, withSession } from '../context.js';

export interface TailInput {
  serial: string;
  channel?: string;
  json: boolean;
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** `iotctl tail <serial>`: the sensor's live samples, one line each, until Ctrl-C. */
export async function tail(ctx: Context, input: TailInput): Promise<number> {
  return withSession(ctx, {}, async (session) => {
    // a typo must not wait forever for samples that never come; a registry that does not answer is no reason
    // not to follow the data
    try {
      await session.registry.showSensor(input.serial, 1);
    } catch (e) {
      if (e instanceof ControlError && e.code === 'REGISTRY_UNKNOWN_SENSOR') throw e;
    }
    const stop = new Promise<void>((resolve) => {
      const remove = ctx.io.onInterrupt(() => {
        remove();
        resolve();
      });
    });
    const consumer = await session.bus.consume({
      queue: {
        name: `iotctl.tail.${randomUUID()}`,
        type: 'classic',
        bindings: [`sensor.${input.serial}.data`],
        exclusive: true,
        autoDelete: true,
        deadLetter: false,
        // a terminal slower than the sensor drops old samples instead of piling them up in the broker
        messageTtlMs: 10_000,
      },
      prefetch: 100,
      handler: async (d) => {
        let b: MeasurementBatch;
        try {
          b = measurementBatchCodec.decode(d.body, d.contentType);
        } catch (e) {
          err(ctx, `iotctl: skipped an invalid data message: ${e instanceof Error ? e.message : e}\n`);
          return;
        }
        if (input.channel !== undefined && b.channel !== input.channel) return;
        const times = sampleTimesUs(b);
        let text = '';
        for (const [i, v] of b.values.entries()) {
          const t = new Date(Math.floor((times[i] ?? 0) / 1000)).toISOString();
          text += input.json
            ? `${JSON.stringify({ serial: b.serial, channel: b.channel, time: t, value: v, unit: b.unit })}\n`
            : `${t}  ${b.channel}  ${num(v)}${b.unit === '' ? '' : ` ${b.unit}`}\n`;
        }
        out(ctx, text);
      },
    });
    if (!input.json) {
      err(
        ctx,
        `following the samples of ${input.serial}${input.channel === undefined ? '' : ` (${input.channel})`} (Ctrl-C to stop)\n`,
      );
    }
    await stop;
    await consumer.stop();
    return EXIT_OK;
  });
}
