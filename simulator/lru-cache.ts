/** The simulator's response caches: a weight-bounded LRU. */

/** One entry of {@link LruCache}: a node of its recency list. */
interface LruNode<V> {
  key: string;
  value: V;
  weight: number;
  newer: LruNode<V> | undefined;
  older: LruNode<V> | undefined;
}

/**
 * A size-bounded LRU, sized by a caller-supplied weight: a Map for lookup plus a doubly linked
 * recency list, so eviction is O(1). (Evicting by iterating the Map from its front was most of the
 * cost of a cold page: V8 leaves deleted slots at the front for every later iteration to walk.)
 *
 * @example
 * const cache = new LruCache<string>(10, (text) => text.length);
 * cache.set('a', 'hello');
 * cache.set('b', 'world!'); // 11 > 10: 'a', the least recently used, is evicted
 * cache.get('a'); // undefined
 */
export class LruCache<V> {
  private readonly map = new Map<string, LruNode<V>>();
  private newest: LruNode<V> | undefined;
  private oldest: LruNode<V> | undefined;
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const node = this.map.get(key);
    if (node === undefined) return undefined;
    this.unlink(node);
    this.pushNewest(node);
    return node.value;
  }

  set(key: string, value: V): void {
    const weight = this.weigh(value);
    if (weight > this.capacity) return;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.unlink(old);
      this.map.delete(key);
      this.total -= old.weight;
    }
    const node: LruNode<V> = { key, value, weight, newer: undefined, older: undefined };
    this.map.set(key, node);
    this.pushNewest(node);
    this.total += weight;
    while (this.total > this.capacity && this.oldest !== undefined) {
      const evicted = this.oldest;
      this.unlink(evicted);
      this.map.delete(evicted.key);
      this.total -= evicted.weight;
    }
  }

  private unlink(node: LruNode<V>): void {
    if (node.newer === undefined) this.newest = node.older;
    else node.newer.older = node.older;
    if (node.older === undefined) this.oldest = node.newer;
    else node.older.newer = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }

  private pushNewest(node: LruNode<V>): void {
    node.older = this.newest;
    if (this.newest !== undefined) this.newest.newer = node;
    this.newest = node;
    if (this.oldest === undefined) this.oldest = node;
  }
}
