/**
 * Names of a sharded consumer group (issue 15): a consistent-hash exchange `<base>.shards` bound to
 * `sensor_streaming`, hashing the routing key onto the queues `<base>.shard-0 .. <base>.shard-(N-1)`.
 * The ingesters declare them (packages/ingest), broker permissions grant them (packages/identity),
 * KEDA scales on their depth (deploy/).
 */
export const MAX_SHARDS = 64;

export const shardExchangeName = (base: string): string => `${base}.shards`;

export function shardQueueName(base: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SHARDS) {
    throw new RangeError(`shard index must be an integer in 0..${MAX_SHARDS - 1}, got ${index}`);
  }
  return `${base}.shard-${index}`;
}

/**
 * The fanout exchange through which a consumer gives a message of quorum queue `queue` back to it (a release:
 * uncounted towards the delivery limit), bound to that queue alone. A service may write to its own queues'
 * release exchanges, so it needs no write on the default exchange, which reaches every queue.
 */
export const releaseExchangeName = (queue: string): string => `${queue}.release`;
