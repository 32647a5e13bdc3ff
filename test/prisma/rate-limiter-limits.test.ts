/**
 * The rate limiter's guards: options it refuses (with the client's options error code), a deadline
 * that is far enough (the limiter sleeps) or exactly met, the exact wait a refused grant reports,
 * and a send time earlier than the grant (a clock step) that must not open a slot early.
 */
import { describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import { SlidingWindowRateLimiter } from '../../lambda/prisma/rate-limiter.js';
import { FakeClock } from './fake-clock.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('SlidingWindowRateLimiter options', () => {
  it('refuses a request count that is not a positive integer with client.options', () => {
    for (const requests of [0, -1, 1.5, Number.NaN]) {
      const error = thrown(
        () => new SlidingWindowRateLimiter({ requests, windowMs: 1, clock: new FakeClock() }),
      );
      expect(isSyncError(error, 'client.options'), String(requests)).toBe(true);
    }
  });

  it('refuses a negative or unreadable window with client.options, and accepts a zero window', () => {
    for (const windowMs of [-1, Number.NaN]) {
      const error = thrown(
        () => new SlidingWindowRateLimiter({ requests: 1, windowMs, clock: new FakeClock() }),
      );
      expect(isSyncError(error, 'client.options'), String(windowMs)).toBe(true);
      expect((error as SyncError).message).toBe(`rate limit window must be >= 0 ms, got ${windowMs}`);
    }
    expect(new SlidingWindowRateLimiter({ requests: 1, windowMs: 0, clock: new FakeClock() }).windowMs).toBe(
      0,
    );
  });
});

describe('SlidingWindowRateLimiter and the deadline', () => {
  it('sleeps for a slot that frees before the deadline, and for one that frees exactly at it', async () => {
    for (const deadline of [100_000, 30_300]) {
      const clock = new FakeClock(0);
      const limiter = new SlidingWindowRateLimiter({
        requests: 1,
        windowMs: 30_000,
        clock,
        deadline: () => deadline,
      });
      await limiter.acquire();
      await limiter.acquire();
      expect(clock.sleeps, `deadline ${deadline}`).toEqual([30_300]);
    }
  });

  it('says how long the refused wait was and which deadline refused it', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({
      requests: 1,
      windowMs: 30_000,
      clock,
      deadline: () => 30_299,
    });
    await limiter.acquire();
    clock.advance(300);
    const error = (await limiter.acquire().catch((e: unknown) => e)) as SyncError;
    expect(isSyncError(error, 'client.deadline')).toBe(true);
    expect(error.message).toBe(
      "the console's rate limit allows the next request in 30000 ms, after the run's deadline",
    );
    expect(error.details).toEqual({ waitMs: 30_000, deadline: 30_299 });
    expect(clock.sleeps).toEqual([]);
  });
});

describe('SlidingWindowRateLimiter send times', () => {
  it('keeps the grant time when the reported send time is earlier (a clock step back)', async () => {
    const clock = new FakeClock(500);
    const limiter = new SlidingWindowRateLimiter({ requests: 1, windowMs: 1000, marginMs: 0, clock });
    const slot = await limiter.acquire();
    slot.markSent(400);
    await limiter.acquire();
    expect(clock.now()).toBe(1500);
  });
});
