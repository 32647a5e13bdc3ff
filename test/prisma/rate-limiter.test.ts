import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { defaultMarginMs, SlidingWindowRateLimiter } from '../../lambda/prisma/rate-limiter.js';
import { FakeClock } from './fake-clock.js';

describe('SlidingWindowRateLimiter', () => {
  it('lets a full window through at once, then spaces the next one a window plus margin after the first', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({ requests: 3, windowMs: 1000, marginMs: 50, clock });
    const sentAt: number[] = [];
    for (let i = 0; i < 7; i++) {
      await limiter.acquire();
      sentAt.push(clock.now());
      clock.advance(10);
    }
    expect(sentAt).toEqual([0, 10, 20, 1050, 1060, 1070, 2100]);
  });

  it('never admits more than `requests` sends in any window of `windowMs` for any send pattern', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({ requests: 5, windowMs: 1000, marginMs: 0, clock });
    const sentAt: number[] = [];
    const gaps = [0, 3, 400, 1, 1, 999, 0, 0, 250, 5, 700, 2, 2, 2, 2, 2, 1500, 0, 0, 0, 0, 0, 0];
    for (const gap of gaps) {
      clock.advance(gap);
      await limiter.acquire();
      sentAt.push(clock.now());
    }
    for (const t of sentAt) {
      const inWindow = sentAt.filter((s) => s > t - 1000 && s <= t).length;
      expect(inWindow).toBeLessThanOrEqual(5);
    }
  });

  it('counts a slot from when the request was really sent, not when it was granted', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({ requests: 1, windowMs: 1000, marginMs: 0, clock });
    const slot = await limiter.acquire();
    slot.markSent(300); // waited 300 ms for a connection
    await limiter.acquire();
    expect(clock.now()).toBe(1300);
  });

  it('pauses every send until the time a 429 advised', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({ requests: 30, windowMs: 30_000, clock });
    await limiter.acquire();
    limiter.backOff(5000);
    await limiter.acquire();
    expect(clock.now()).toBe(5000);
  });

  it('grants waiting callers in arrival order', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({ requests: 1, windowMs: 100, marginMs: 0, clock });
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((n) => limiter.acquire().then(() => order.push(n))));
    expect(order).toEqual([1, 2, 3]);
    expect(clock.sleeps).toEqual([100, 100]);
  });

  it('throws client.deadline instead of sleeping past the deadline', async () => {
    const clock = new FakeClock(0);
    const limiter = new SlidingWindowRateLimiter({
      requests: 1,
      windowMs: 30_000,
      clock,
      deadline: () => 10_000,
    });
    await limiter.acquire();
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(isSyncError(error, 'client.deadline')).toBe(true);
    expect(clock.sleeps).toEqual([]);
    // The queue is not stuck after a refused grant.
    clock.advance(40_000);
    await expect(limiter.acquire()).resolves.toBeDefined();
  });

  it('uses a margin of 1% of the window, between 50 ms and 1 s', () => {
    expect(defaultMarginMs(30_000)).toBe(300);
    expect(defaultMarginMs(1000)).toBe(50);
    expect(defaultMarginMs(600_000)).toBe(1000);
  });

  it('rejects a non-positive request count', () => {
    expect(() => new SlidingWindowRateLimiter({ requests: 0, windowMs: 1, clock: new FakeClock() })).toThrow(
      /positive integer/,
    );
  });
});
