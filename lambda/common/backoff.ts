/**
 * The product's one backoff rule, for the console client and the store alike: capped exponential
 * backoff with full jitter. The whole range is random, so clients retrying at once (the pager's
 * connections, the store's parallel batches) spread out instead of colliding again on schedule.
 */

/** Base and cap of the exponential: retry n waits in [0, min(maxMs, baseMs * 2^(n-1))). */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/**
 * The wait before retry `retry` (1 = the first retry). Pure: the jitter source is passed in.
 *
 * @example
 * backoffDelay(1, { baseMs: 500, maxMs: 30_000 }, () => 0.5); // 250
 * backoffDelay(3, { baseMs: 500, maxMs: 30_000 }, () => 0.5); // 1000
 * backoffDelay(20, { baseMs: 500, maxMs: 30_000 }, () => 0.999); // 29970 (capped)
 */
export function backoffDelay(retry: number, backoff: Backoff, random: () => number): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** exponent);
  return Math.floor(ceiling * random());
}
