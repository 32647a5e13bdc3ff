/**
 * An LRU bounded by total weight: a Map in recency order. Over capacity, it evicts down to 90% in
 * one pass, since each pass over a Map walks the slots its deletions left behind.
 */
export class LruCache<V> {
  private readonly map = new Map<string, { value: V; weight: number }>();
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    const weight = this.weigh(value);
    if (weight > this.capacity) return;
    this.total -= this.map.get(key)?.weight ?? 0;
    this.map.delete(key);
    this.map.set(key, { value, weight });
    this.total += weight;
    if (this.total <= this.capacity) return;
    for (const [oldest, entry] of this.map) {
      if (this.total <= this.capacity * 0.9) break;
      this.map.delete(oldest);
      this.total -= entry.weight;
    }
  }
}
