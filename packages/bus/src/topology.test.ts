import { describe, expect, it } from 'vitest';
import {
  commandQueue,
  queueDeclareOptions,
  queueDefinitions,
  queueMetricLabel,
  serviceQueue,
  validateQueueSpec,
} from './topology.js';

describe('topology', () => {
  it('a service queue is a durable quorum queue with delivery limit and at-least-once dead-lettering', () => {
    const spec = serviceQueue('measurements-ingester', ['sensor.*.data']);
    expect(spec).toMatchObject({
      name: 'measurements-ingester',
      type: 'quorum',
      bindings: ['sensor.*.data'],
    });
    expect(queueDeclareOptions(spec)).toEqual({
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 5,
        'x-dead-letter-exchange': 'sensor_streaming.dlx',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });

  it('a service queue takes an explicit delivery limit', () => {
    const args = queueDeclareOptions(serviceQueue('q', [], { deliveryLimit: 3 })).arguments;
    expect(args['x-delivery-limit']).toBe(3);
  });

  it('a command queue is a classic durable queue with TTL, dead-lettering to the DLX', () => {
    const spec = commandQueue('crane-7', 30_000);
    expect(spec).toMatchObject({
      name: 'sensor.crane-7.commands',
      type: 'classic',
      bindings: ['sensor.crane-7.commands.*'],
    });
    expect(queueDeclareOptions(spec)).toEqual({
      durable: true,
      exclusive: false,
      autoDelete: false,
      arguments: {
        'x-queue-type': 'classic',
        'x-message-ttl': 30_000,
        'x-dead-letter-exchange': 'sensor_streaming.dlx',
      },
    });
  });

  it('a command queue for an invalid serial is refused', () => {
    expect(() => commandQueue('bad.serial', 1000)).toThrow();
  });

  it('validation names the bad field', () => {
    expect(() => validateQueueSpec({ name: '', type: 'quorum', bindings: [] })).toThrow(/name/);
    expect(() => validateQueueSpec({ name: 'q', type: 'quorum', bindings: [], deliveryLimit: 0 })).toThrow(
      /deliveryLimit/,
    );
    expect(() => validateQueueSpec({ name: 'q', type: 'quorum', bindings: [], exclusive: true })).toThrow(
      /quorum/,
    );
    expect(() => validateQueueSpec({ name: 'amq.x', type: 'classic', bindings: [] })).toThrow(/amq\./);
    expect(() =>
      validateQueueSpec({ name: 'q', type: 'classic', bindings: [1 as unknown as string] }),
    ).toThrow(/bindings/);
    expect(() => validateQueueSpec(serviceQueue('ok', ['sensor.*.data']))).not.toThrow();
  });

  it('a shard queue has weights as bindings and a consistent-hash exchange of its own', () => {
    const shardOf = { name: 'mi.shards', bindings: ['sensor.*.data'] };
    expect(() => validateQueueSpec(serviceQueue('mi.shard-0', ['1'], { shardOf }))).not.toThrow();
    expect(() => validateQueueSpec(serviceQueue('mi.shard-0', ['sensor.*.data'], { shardOf }))).toThrow(
      /weights/,
    );
    expect(() =>
      validateQueueSpec(
        serviceQueue('mi.shard-0', ['1'], { shardOf: { ...shardOf, name: 'sensor_streaming' } }),
      ),
    ).toThrow(/shardOf.name/);
    expect(() =>
      validateQueueSpec(serviceQueue('mi.shard-0', ['1'], { shardOf: { ...shardOf, bindings: [''] } })),
    ).toThrow(/shardOf.bindings/);
  });

  it('metric labels never carry a serial', () => {
    expect(queueMetricLabel('sensor.crane-7.commands')).toBe('sensor.*.commands');
    expect(queueMetricLabel('measurements-ingester')).toBe('measurements-ingester');
  });

  it('definitions of shard queues: the hash exchange and its binding once, each queue as the bus declares it', () => {
    const shardOf = { name: 'mi.shards', bindings: ['sensor.*.data'] };
    const specs = [0, 1].map((i) => serviceQueue(`mi.shard-${i}`, ['1'], { shardOf }));
    const d = queueDefinitions([...specs, serviceQueue('li', ['sensor.*.logs'])], 'v');
    const x = (name: string, type: string) => ({
      name,
      vhost: 'v',
      type,
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    });
    // the hash exchange once; each quorum queue's own release fanout
    expect(d.exchanges).toEqual([
      x('mi.shards', 'x-consistent-hash'),
      x('mi.shard-0.release', 'fanout'),
      x('mi.shard-1.release', 'fanout'),
      x('li.release', 'fanout'),
    ]);
    expect(d.queues.map((q) => q.name)).toEqual(['mi.shard-0', 'mi.shard-1', 'li']);
    for (const [i, q] of d.queues.entries()) {
      expect(q).toEqual({
        name: q.name,
        vhost: 'v',
        durable: true,
        auto_delete: false,
        arguments: queueDeclareOptions([...specs, serviceQueue('li', [])][i]!).arguments,
      });
    }
    const b = (source: string, destination: string, type: string, key: string) => ({
      source,
      vhost: 'v',
      destination,
      destination_type: type,
      routing_key: key,
      arguments: {},
    });
    expect(d.bindings).toEqual([
      b('sensor_streaming', 'mi.shards', 'exchange', 'sensor.*.data'),
      b('mi.shards', 'mi.shard-0', 'queue', '1'),
      b('mi.shard-0.release', 'mi.shard-0', 'queue', ''),
      b('mi.shards', 'mi.shard-1', 'queue', '1'),
      b('mi.shard-1.release', 'mi.shard-1', 'queue', ''),
      b('sensor_streaming', 'li', 'queue', 'sensor.*.logs'),
      b('li.release', 'li', 'queue', ''),
    ]);
  });

  it('definitions refuse a retired or an exclusive queue', () => {
    expect(() => queueDefinitions([{ ...serviceQueue('q', []), retired: true }], '/')).toThrow(/retired/);
    expect(() =>
      queueDefinitions([{ name: 'q', type: 'classic', bindings: [], exclusive: true }], '/'),
    ).toThrow(/exclusive/);
  });
});
