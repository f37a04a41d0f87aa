// Which queues an ingester consumes: one queue, or N shards behind a consistent-hash exchange.
import { type QueueSpec, serviceQueue } from '@sensor-streaming/bus';
import { MAX_SHARDS, shardExchangeName, shardQueueName } from '@sensor-streaming/protocol';

// MAX_SHARDS: the most shards an ingester accepts (INGEST_SHARDS), and so the most retired ones it looks for.
export { MAX_SHARDS };

/**
 * The queues of `shards` shards for routing pattern `binding` (e.g. `sensor.*.data`):
 * - 1: the queue `<base>` bound to `sensor_streaming` with `binding` (the unsharded topology);
 * - N > 1: `<base>.shards`, a consistent-hash exchange bound to `sensor_streaming` with `binding`, hashing
 *   the routing key (so the serial: one sensor's messages always land in the same shard while N is unchanged),
 *   and `<base>.shard-0 .. <base>.shard-(N-1)`, each bound to it with weight 1. Every shard is a quorum queue
 *   with the same delivery limit and dead-lettering as the single queue.
 */
export function shardQueues(base: string, binding: string, shards: number): QueueSpec[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new RangeError(`shards must be an integer in 1..${MAX_SHARDS}, got ${shards}`);
  }
  if (shards === 1) return [serviceQueue(base, [binding])];
  const shardOf = { name: shardExchangeName(base), bindings: [binding] };
  return Array.from({ length: shards }, (_, i) => serviceQueue(shardQueueName(base, i), ['1'], { shardOf }));
}

/**
 * The queues another shard count would have used and this one does not: the unsharded `<base>` when sharded,
 * the shards `<base>.shard-<i>` for i >= shards. When one exists it is left over from a change of
 * INGEST_SHARDS: the ingester unbinds it (nothing new arrives) and consumes it until it is empty.
 */
export function retiredShardQueues(base: string, binding: string, shards: number): QueueSpec[] {
  const out: QueueSpec[] = [];
  if (shards > 1) out.push({ ...serviceQueue(base, [binding]), retired: true });
  const shardOf = { name: shardExchangeName(base), bindings: [binding] };
  for (let i = shards === 1 ? 0 : shards; i < MAX_SHARDS; i++) {
    out.push({ ...serviceQueue(shardQueueName(base, i), ['1'], { shardOf }), retired: true });
  }
  return out;
}
