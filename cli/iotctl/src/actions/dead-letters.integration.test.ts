import { randomUUID } from 'node:crypto';
import { type Bus, createBus, type Delivery, serviceQueue } from '@sensor-streaming/bus';
import { createTestVhost, queueMessageCount, type TestVhost, waitFor } from '@sensor-streaming/bus/testing';
import {
  CONTENT_TYPE_PROTOBUF,
  DEAD_LETTER_QUEUE,
  measurementBatchCodec,
  routingKeys,
} from '@sensor-streaming/protocol';
import { createLogger } from '@sensor-streaming/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

const logger = createLogger({ service: 'iotctl-dead-letters-test', level: 'silent', pretty: false });
let vhost: TestVhost;
let bus: Bus;

async function iotctl(args: string[]) {
  const io = captureIo();
  const code = await runCli(['node', 'iotctl', '--amqp-url', vhost.url, ...args], io);
  return { code, stdout: io.out(), stderr: io.err() };
}

class Poison extends Error {
  readonly permanent = true;
  readonly code = 'TEST_POISON';
}

beforeAll(async () => {
  vhost = await createTestVhost('iotctl-dl');
  bus = createBus({ url: vhost.url, connectionName: `iotctl-dl-${randomUUID()}`, logger });
  await bus.start();
});

afterAll(async () => {
  await bus?.stop();
  await vhost?.drop();
});

describe('iotctl dead-letters', () => {
  it('lists dead letters with their reason, shows one decoded, replays it into its queue with its routing key, purges the rest', async () => {
    const queue = serviceQueue('dl-ingest', ['sensor.*.data']);
    let failing = true;
    const seen: Delivery[] = [];
    const consumer = await bus.consume({
      queue,
      handler: async (d) => {
        if (failing) throw new Poison(`cannot store ${d.routingKey}`);
        seen.push(d);
      },
    });
    const batch = {
      serial: 'pump-7',
      channel: 'vibration',
      unit: 'mm/s',
      sequence: 1,
      firstSampleTimeUs: (Date.now() - 60_000) * 1000,
      samplePeriodNs: 1_000_000,
      values: [1, 2, 3],
    };
    await bus.publish(routingKeys.data('pump-7'), measurementBatchCodec.encode(batch), {
      contentType: CONTENT_TYPE_PROTOBUF,
      messageId: 'm-1',
    });
    await bus.publish(routingKeys.data('pump-8'), Buffer.from('not protobuf'), { messageId: 'm-2' });
    await waitFor(
      async () => (await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)) === 2,
      'two dead letters',
    );

    const list = await iotctl(['dead-letters', 'list', '--json']);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as { total: number; shown: Array<Record<string, unknown>> };
    expect(listed.total).toBe(2);
    expect(listed.shown.map((d) => d.routingKey).sort()).toEqual([
      'sensor.pump-7.data',
      'sensor.pump-8.data',
    ]);
    const good = listed.shown.find((d) => d.routingKey === 'sensor.pump-7.data')!;
    expect(good.reason).toBe('TEST_POISON: cannot store sensor.pump-7.data');
    expect(good.queue).toBe('dl-ingest');
    // listing leaves them in place
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(2);

    const text = await iotctl(['dead-letters', 'list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ID\s+ROUTING KEY\s+QUEUE\s+DEAD AT\s+REASON/);
    expect(text.stdout).toContain('2 shown of 2 in sensor_streaming.dead');

    const show = await iotctl(['dead-letters', 'show', String(good.id), '--json']);
    expect(show.code).toBe(0);
    const detail = JSON.parse(show.stdout) as { body: { serial: string; values: number[] }; reason: string };
    expect(detail.body.serial).toBe('pump-7');
    expect(detail.body.values).toEqual([1, 2, 3]);

    expect((await iotctl(['dead-letters', 'show', 'nothex'])).code).toBe(2);
    expect((await iotctl(['dead-letters', 'replay'])).code).toBe(2);

    // the cause is fixed: replay the good one
    failing = false;
    const replay = await iotctl(['dead-letters', 'replay', String(good.id)]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`replayed ${good.id} to dl-ingest (sensor.pump-7.data)`);
    await waitFor(() => seen.length === 1, 'the replayed message consumed');
    expect(seen[0]?.routingKey).toBe('sensor.pump-7.data');
    expect(seen[0]?.messageId).toBe('m-1');
    expect(measurementBatchCodec.decode(seen[0]!.body, seen[0]!.contentType).values).toEqual([1, 2, 3]);
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(1);

    expect((await iotctl(['dead-letters', 'purge', '--all'])).code).toBe(2);
    const purge = await iotctl(['dead-letters', 'purge', '--reason', 'cannot store', '--yes']);
    expect(purge.code).toBe(0);
    expect(purge.stdout).toBe('1 purged\n');
    expect(await queueMessageCount(vhost.url, DEAD_LETTER_QUEUE)).toBe(0);
    await consumer.stop();
  });
});
