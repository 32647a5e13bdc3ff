import { describe, expect, it } from 'vitest';
import { LruCache } from '../../simulator/lru-cache.js';

const byLength = (text: string) => text.length;

describe('LruCache', () => {
  it('returns what was set, and undefined for what was not', () => {
    const cache = new LruCache<string>(100, byLength);
    cache.set('a', 'alpha');
    expect(cache.get('a')).toBe('alpha');
    expect(cache.get('b')).toBeUndefined();
  });

  it('evicts the least recently used entries once the weight exceeds the capacity', () => {
    const cache = new LruCache<string>(10, byLength);
    cache.set('a', 'aaa');
    cache.set('b', 'bbb');
    cache.set('c', 'ccc');
    expect(cache.get('a')).toBe('aaa'); // now b is the least recently used
    cache.set('d', 'ddd'); // 12 > 10: b goes
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual(['aaa', 'ccc', 'ddd']);
  });

  it('replaces a key in place, counting only the new weight', () => {
    const cache = new LruCache<string>(10, byLength);
    cache.set('a', 'aaaaaaaa');
    cache.set('a', 'a');
    cache.set('b', 'bbbbbbbbb'); // 1 + 9 = 10: both fit
    expect([cache.get('a'), cache.get('b')]).toEqual(['a', 'bbbbbbbbb']);
  });

  it('never stores a value heavier than the whole capacity', () => {
    const cache = new LruCache<string>(4, byLength);
    cache.set('a', 'aaa');
    cache.set('big', 'bbbbb');
    expect(cache.get('big')).toBeUndefined();
    expect(cache.get('a')).toBe('aaa');
  });

  it('stays consistent over many evictions (every surviving key is among the most recent)', () => {
    const cache = new LruCache<string>(50, byLength);
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, 'xxxxx');
    const present = Array.from({ length: 10_000 }, (_, i) => i).filter(
      (i) => cache.get(`k${i}`) !== undefined,
    );
    expect(present).toEqual(Array.from({ length: 10 }, (_, i) => 9_990 + i));
  });
});
