import { EventEmitter } from 'node:events';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createBusMetrics } from './metrics.js';
import { MultiQueueConsumer } from './multi-consumer.js';
import type { Publisher } from './publisher.js';
import { commandQueue, serviceQueue } from './topology.js';

/*
 * Pure logic of the multi-queue consumer against a fake amqplib connection: how queues are spread over
 * channels, per-queue order under a concurrency bound, and what happens to messages taken on a channel
 * that is gone. The real broker is in multi-consumer.integration.test.ts.
 */

class FakeChannel extends EventEmitter {
  consumers = new Map<string, { queue: string; cb: (m: ConsumeMessage | null) => void }>();
  acked: number[] = [];
  nacked: number[] = [];
  closed = false;
  private tags = 0;
  async assertQueue() {
    return {};
  }
  async bindQueue() {
    return {};
  }
  async prefetch() {
    return {};
  }
  async consume(queue: string, cb: (m: ConsumeMessage | null) => void) {
    const consumerTag = `ctag-${++this.tags}`;
    this.consumers.set(consumerTag, { queue, cb });
    return { consumerTag };
  }
  async cancel(tag: string) {
    this.consumers.delete(tag);
    return {};
  }
  ack(m: ConsumeMessage) {
    this.acked.push(m.fields.deliveryTag);
  }
  nack(m: ConsumeMessage) {
    this.nacked.push(m.fields.deliveryTag);
  }
  async close() {
    this.closed = true;
    this.emit('close');
  }
  deliver(queue: string, tag: number, body: string): void {
    for (const c of this.consumers.values()) {
      if (c.queue !== queue) continue;
      c.cb({
        content: Buffer.from(body),
        fields: { deliveryTag: tag, redelivered: false, exchange: 'sensor_streaming', routingKey: 'k' },
        properties: { headers: {} },
      } as unknown as ConsumeMessage);
    }
  }
}

function fakeModel(): { model: ChannelModel; channels: FakeChannel[] } {
  const channels: FakeChannel[] = [];
  const model = {
    async createChannel() {
      const ch = new FakeChannel();
      channels.push(ch);
      return ch as unknown as Channel;
    },
  } as unknown as ChannelModel;
  return { model, channels };
}

const logger = pino({ level: 'silent' });

function consumer(
  handler: (d: { queue: string; body: Buffer }) => Promise<void>,
  o: { queuesPerChannel?: number; maxChannels?: number; concurrency?: number } = {},
) {
  return new MultiQueueConsumer(
    {
      logger,
      metrics: createBusMetrics(new Registry()),
      publisher: {} as Publisher,
      userId: undefined,
      onStopped: () => undefined,
    },
    {
      queuesPerChannel: o.queuesPerChannel ?? 100,
      maxChannels: o.maxChannels ?? 1000,
      prefetch: 10,
      concurrency: o.concurrency ?? 100,
      retryDelayMs: 10,
      declareChannels: 4,
      handler,
    },
  );
}

const specs = (n: number) => Array.from({ length: n }, (_, i) => commandQueue(`s-${i}`, 60_000));
const consuming = (channels: FakeChannel[]) => channels.filter((c) => c.consumers.size > 0);
const flush = () => new Promise((r) => setImmediate(r));

describe('MultiQueueConsumer', () => {
  it('deals 250 queues out over 3 channels of at most 100 consumers in turn, and closes the declaration channels', async () => {
    const c = consumer(async () => undefined);
    await c.add(specs(250));
    const { model, channels } = fakeModel();
    await c.attach(model);
    const used = consuming(channels);
    expect(used.map((ch) => ch.consumers.size).sort()).toEqual([83, 83, 84]);
    // neighbours on different channels: a burst to queues 0..2 is spread over all three
    const channelOf = (q: string) =>
      used.findIndex((ch) => [...ch.consumers.values()].some((x) => x.queue === q));
    expect(new Set([0, 1, 2].map((i) => channelOf(`sensor.s-${i}.commands`))).size).toBe(3);
    expect(channels.filter((ch) => !used.includes(ch)).every((ch) => ch.closed)).toBe(true);
    expect(c.isConsuming()).toBe(true);
  });

  it('refuses more queues than its channels carry, and global QoS for quorum queues; skips duplicates', async () => {
    const c = consumer(async () => undefined, { queuesPerChannel: 5, maxChannels: 2 });
    await c.add(specs(10));
    await c.add(specs(10)); // the same ones: nothing new
    expect(c.size()).toBe(10);
    await expect(c.add([commandQueue('one-more', 60_000)])).rejects.toThrow(
      'cannot consume 11 queues: at most 10 (2 channels of 5 consumers)',
    );
    const g = new MultiQueueConsumer(
      {
        logger,
        metrics: createBusMetrics(new Registry()),
        publisher: {} as Publisher,
        userId: undefined,
        onStopped: () => undefined,
      },
      {
        queuesPerChannel: 10,
        maxChannels: 10,
        prefetch: 1,
        channelPrefetch: 10,
        concurrency: 1,
        retryDelayMs: 10,
        declareChannels: 1,
        handler: async () => undefined,
      },
    );
    await expect(g.add([serviceQueue('q', ['k'])])).rejects.toThrow(/classic queues only/);
  });

  it('handles one queue in order, several queues at once, never more than `concurrency`', async () => {
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const c = consumer(
      async (d) => {
        running++;
        most = Math.max(most, running);
        log.push(`start ${d.queue} ${d.body}`);
        await new Promise<void>((r) => release.push(r));
        running--;
      },
      { concurrency: 2 },
    );
    await c.add(specs(3));
    const { model, channels } = fakeModel();
    await c.attach(model);
    const ch = consuming(channels)[0]!;
    ch.deliver('sensor.s-0.commands', 1, 'a');
    ch.deliver('sensor.s-0.commands', 2, 'b');
    ch.deliver('sensor.s-1.commands', 3, 'c');
    ch.deliver('sensor.s-2.commands', 4, 'd');
    await flush();
    // s-0 'a' and s-1 'c' run; s-0 'b' waits for 'a', s-2 'd' waits for a free slot
    expect(log).toEqual(['start sensor.s-0.commands a', 'start sensor.s-1.commands c']);
    release.shift()!(); // 'a' done
    await flush();
    expect(log.slice(2)).toEqual(['start sensor.s-2.commands d']);
    while (release.length > 0) {
      release.shift()!();
      await flush();
    }
    expect(log.at(-1)).toBe('start sensor.s-0.commands b');
    expect(most).toBe(2);
    expect(ch.acked.sort()).toEqual([1, 2, 3, 4]);
  });

  it('after a connection loss, a message taken on the old channel is not acked there; every queue is consumed again', async () => {
    let finish: (() => void) | undefined;
    const c = consumer(async () => {
      await new Promise<void>((r) => {
        finish = r;
      });
    });
    await c.add(specs(150));
    const first = fakeModel();
    await c.attach(first.model);
    const old = consuming(first.channels)[0]!;
    old.deliver('sensor.s-0.commands', 7, 'x');
    await flush();
    c.detach();
    expect(c.isConsuming()).toBe(false);
    finish!();
    await flush();
    expect(old.acked).toEqual([]); // the broker redelivers it on the new connection
    const second = fakeModel();
    await c.attach(second.model);
    expect(consuming(second.channels).reduce((n, ch) => n + ch.consumers.size, 0)).toBe(150);
    expect(c.isConsuming()).toBe(true);
  });

  it('a channel lost alone is re-opened with its queues; removed queues are not consumed again', async () => {
    const c = consumer(async () => undefined, { queuesPerChannel: 2 });
    await c.add(specs(4));
    const { model, channels } = fakeModel();
    await c.attach(model);
    const [a] = consuming(channels);
    await c.remove(['sensor.s-1.commands']);
    expect(c.size()).toBe(3);
    a!.consumers.clear();
    a!.emit('close');
    expect(c.isConsuming()).toBe(false);
    // re-opened after a backoff (~200 ms): poll, with a deadline far beyond it
    for (let t = 0; t < 100 && !c.isConsuming(); t++) await new Promise((r) => setTimeout(r, 50));
    expect(c.isConsuming()).toBe(true);
    const queues = consuming(channels).flatMap((ch) => [...ch.consumers.values()].map((x) => x.queue));
    expect(queues.sort()).toEqual(['sensor.s-0.commands', 'sensor.s-2.commands', 'sensor.s-3.commands']);
  });
});
