/**
 * Bounded memory of recently handled command ids and the ack each produced,
 * least recently used evicted first. A redelivered command is answered from
 * here instead of being applied twice.
 */
export class RecentCommands<V> {
  readonly #capacity: number;
  readonly #map = new Map<string, V>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  get(id: string): V | undefined {
    const v = this.#map.get(id);
    if (v !== undefined) {
      this.#map.delete(id);
      this.#map.set(id, v);
    }
    return v;
  }

  set(id: string, v: V): void {
    this.#map.delete(id);
    this.#map.set(id, v);
    if (this.#map.size > this.#capacity) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
  }
}
