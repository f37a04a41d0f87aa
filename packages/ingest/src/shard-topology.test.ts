import { queueDeclareOptions, serviceQueue } from '@sensor-streaming/bus';
import { describe, expect, it } from 'vitest';
import { MAX_SHARDS, retiredShardQueues, shardQueues } from './shard-topology.js';

describe('shard topology', () => {
  it('one shard is the single queue bound to the routing pattern, as before sharding', () => {
    expect(shardQueues('mi', 'sensor.*.data', 1)).toEqual([serviceQueue('mi', ['sensor.*.data'])]);
  });

  it('N shards are N quorum queues of weight 1 behind one consistent-hash exchange bound to the pattern', () => {
    const qs = shardQueues('mi', 'sensor.*.data', 3);
    expect(qs.map((q) => q.name)).toEqual(['mi.shard-0', 'mi.shard-1', 'mi.shard-2']);
    for (const q of qs) {
      expect(q).toMatchObject({
        type: 'quorum',
        bindings: ['1'],
        shardOf: { name: 'mi.shards', bindings: ['sensor.*.data'] },
      });
      // same arguments as the single queue: delivery limit and at-least-once dead-lettering
      expect(queueDeclareOptions(q)).toEqual(queueDeclareOptions(serviceQueue('mi', [])));
    }
  });

  it('refuses a shard count outside 1..MAX_SHARDS', () => {
    for (const n of [0, MAX_SHARDS + 1, 1.5])
      expect(() => shardQueues('mi', 'k', n)).toThrow(/shards must be/);
  });

  it('the retired queues of N shards are the single queue and every shard from N up', () => {
    const names = retiredShardQueues('mi', 'sensor.*.data', 4).map((q) => q.name);
    expect(names[0]).toBe('mi');
    expect(names.slice(1)).toEqual(Array.from({ length: MAX_SHARDS - 4 }, (_, i) => `mi.shard-${i + 4}`));
    for (const q of retiredShardQueues('mi', 'sensor.*.data', 4)) expect(q.retired).toBe(true);
  });

  it('unsharded, every shard queue is retired and the single queue is not', () => {
    const names = retiredShardQueues('mi', 'sensor.*.data', 1).map((q) => q.name);
    expect(names).toHaveLength(MAX_SHARDS);
    expect(names).not.toContain('mi');
    expect(names[0]).toBe('mi.shard-0');
  });
});
