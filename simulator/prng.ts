/**
 * A tiny seeded PRNG toolkit. Every random choice the simulator makes comes from here, never
 * from `Math.random`, so the same seed serves the same bytes.
 *
 * Streams are keyed: `rngFor(seed, 'report', 42)` is a pure function of its arguments, which is
 * what lets image 42 be generated without generating images 0..41 first.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const PIPE = 124; // '|'

/** FNV-1a state `h` continued over `text`. */
function fnv(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/** The murmur3 finalizer: nearby keys diverge. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a over a string, finished with the murmur3 avalanche so nearby keys diverge. */
export function hash32(text: string): number {
  return avalanche(fnv(FNV_OFFSET, text));
}

/** mulberry32: a fast, decent 32-bit generator; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A seeded random stream with the helpers the generator needs. */
export class Rng {
  /** mulberry32's state, kept on the instance (a closure per stream cost an allocation per key). */
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** One mulberry32 step: exactly the numbers {@link mulberry32} returns for the same seed. */
  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty array');
    return item;
  }

  /** `length` lowercase hex digits (8 per draw, from a byte table: this runs for every id and digest). */
  hex(length: number): string {
    let out = '';
    while (out.length < length) {
      const n = Math.floor(this.next() * 4294967296);
      out +=
        HEX_BYTES[n >>> 24]! +
        HEX_BYTES[(n >>> 16) & 255]! +
        HEX_BYTES[(n >>> 8) & 255]! +
        HEX_BYTES[n & 255]!;
    }
    return out.length === length ? out : out.slice(0, length);
  }

  /**
   * A heavy-tailed integer (Pareto with shape `alpha`, scaled so the minimum is `min`), capped at `max`.
   * Most draws sit near `min`; a few are many times larger, like real report sizes.
   */
  pareto(min: number, alpha: number, max: number): number {
    const u = 1 - this.next();
    return Math.min(max, Math.floor(min / u ** (1 / alpha)));
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
  // hash32(`${seed}|${parts.join('|')}`), without building the key: this runs several times per report.
  let h = fnvPart(FNV_OFFSET, seed);
  if (parts.length === 0) h = Math.imul(h ^ PIPE, FNV_PRIME);
  for (let i = 0; i < parts.length; i++) h = fnvPart(Math.imul(h ^ PIPE, FNV_PRIME), parts[i]!);
  return new Rng(avalanche(h));
}

/** {@link fnv} over `String(part)`; small whole numbers (indexes) digit by digit, without the string. */
function fnvPart(h: number, part: string | number): number {
  if (typeof part === 'string' || !Number.isInteger(part) || part < 0 || part > 0xffffffff) {
    return fnv(h, String(part));
  }
  let divisor = 1;
  while (divisor * 10 <= part) divisor *= 10;
  for (; divisor >= 1; divisor /= 10) {
    h ^= 48 + (Math.floor(part / divisor) % 10);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}
