import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../lambda/common/backoff.js';

const client = { baseMs: 500, maxMs: 30_000 };

describe('backoffDelay', () => {
  it('doubles its ceiling per retry up to the cap, the whole range jittered', () => {
    expect(backoffDelay(1, client, () => 0)).toBe(0);
    expect(backoffDelay(1, client, () => 0.5)).toBe(250);
    expect(backoffDelay(3, client, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, client, () => 0.999_999)).toBe(1999);
    expect(backoffDelay(20, client, () => 0.999_999)).toBe(29_999);
    expect(backoffDelay(1_000, { baseMs: 50, maxMs: 5_000 }, () => 0.5)).toBe(2_500);
  });

  it('stays in [0, min(cap, base * 2^(retry-1))) for every retry and draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        fc.integer({ min: 1, max: 1_000 }),
        (retry, r, baseMs) => {
          const ceiling = Math.min(30_000, baseMs * 2 ** (retry - 1));
          const delay = backoffDelay(retry, { baseMs, maxMs: 30_000 }, () => r);
          return Number.isInteger(delay) && delay >= 0 && delay < ceiling;
        },
      ),
    );
  });
});
