/**
 * A tiny seeded PRNG toolkit. Every random choice the simulator makes comes from here, never
 * from `Math.random`, so the same seed serves the same content.
 *
 * Streams are keyed: `rngFor(seed, 'report', 42)` is a pure function of its arguments, which is
 * what lets image 42 be generated without generating images 0..41 first.
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

  /** A float in [0, 1). */
  float(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.float() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty array');
    return item;
  }

  /** `length` lowercase hex digits, 8 per draw. */
  hex(length: number): string {
    let out = '';
    while (out.length < length)
      out += Math.floor(this.float() * 4294967296)
        .toString(16)
        .padStart(8, '0');
    return out.slice(0, length);
  }

  /**
   * A heavy-tailed integer (Pareto with shape `alpha`, scaled so the minimum is `min`), capped at `max`.
   * Most draws sit near `min`; a few are many times larger, like real report sizes.
   */
  pareto(min: number, alpha: number, max: number): number {
    return Math.min(max, Math.floor(min / (1 - this.float()) ** (1 / alpha)));
  }
}

/**
 * The random stream for one purpose, keyed by the seed and any parts.
 *
 * @example
 * const rng = rngFor(1, 'report', 42, 0);
 * rng.int(1, 6); // always the same for these arguments
 */
export function rngFor(seed: number | string, ...parts: Array<string | number>): Rng {
  return new Rng(hash32(`${seed}|${parts.join('|')}`));
}
