/**
 * Every random choice of the simulator, never `Math.random`. Streams are keyed
 * (`rngFor(seed, 'report', 42)`), so image 42 is generated without images 0..41.
 */

/** 32-bit FNV-1a over a string, finished with the murmur3 avalanche so nearby keys diverge. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A seeded random stream (mulberry32) with the helpers the generator needs. */
export class Rng {
  constructor(private state: number) {}

  float(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** In [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.float() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty array');
    return item;
  }

  /** 8 hex digits per draw. */
  hex(length: number): string {
    let out = '';
    while (out.length < length)
      out += Math.floor(this.float() * 4294967296)
        .toString(16)
        .padStart(8, '0');
    return out.slice(0, length);
  }

  /** Pareto (shape `alpha`, minimum `min`) capped at `max`: heavy-tailed, like real report sizes. */
  pareto(min: number, alpha: number, max: number): number {
    return Math.min(max, Math.floor(min / (1 - this.float()) ** (1 / alpha)));
  }
}

/** The random stream for one purpose, keyed by the seed and any parts. */
export function rngFor(seed: number | string, ...parts: Array<string | number>): Rng {
  return new Rng(hash32(`${seed}|${parts.join('|')}`));
}
