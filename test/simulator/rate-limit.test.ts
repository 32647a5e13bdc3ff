import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../simulator/index.js';
import { SlidingWindowLimiter } from '../../simulator/rate-limit.js';
import { API, basic } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SlidingWindowLimiter', () => {
  it('admits exactly `requests` per sliding window and names the wait until a slot frees', () => {
    const limiter = new SlidingWindowLimiter({ requests: 3, windowMs: 1000 });
    expect(limiter.admit(0)).toEqual({ admitted: true });
    expect(limiter.admit(100)).toEqual({ admitted: true });
    expect(limiter.admit(200)).toEqual({ admitted: true });
    expect(limiter.admit(300)).toEqual({ admitted: false, retryAfterMs: 700 });
    expect(limiter.admit(999)).toEqual({ admitted: false, retryAfterMs: 1 });
    expect(limiter.admit(1000)).toEqual({ admitted: true });
    expect(limiter.admit(1001)).toEqual({ admitted: false, retryAfterMs: 99 });
    expect(limiter.admit(1100)).toEqual({ admitted: true });
  });

  it('does not count rejected requests against the window', () => {
    const limiter = new SlidingWindowLimiter({ requests: 1, windowMs: 1000 });
    limiter.admit(0);
    for (let t = 1; t < 1000; t += 50) expect(limiter.admit(t).admitted).toBe(false);
    expect(limiter.admit(1000).admitted).toBe(true);
  });
});

describe('the console rate limit over HTTP', () => {
  it('answers 429 to exactly the 6th request in a 1 s window of 5, and admits again after Retry-After', async () => {
    const sim = await startSimulator({ images: 5, rateLimit: { requests: 5, windowMs: 1000 } });
    try {
      const auth = basic('demo', 'demo');
      const get = () => fetch(`${sim.url}${API}/registry?limit=1`, { headers: auth });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get()).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      const throttled = await get();
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('Content-Type')).toBe('text/html');
      expect(await throttled.text()).toContain('429 Too Many Requests');
      expect(throttled.headers.get('Retry-After')).toBe('1');
      expect((await get()).status).toBe(429);

      // Waiting what Retry-After says always frees a slot: the window slid past the first request.
      await sleep(Number(throttled.headers.get('Retry-After')) * 1000);
      expect((await get()).status).toBe(200);
      expect(sim.requestLog.map((e) => e.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 200]);
    } finally {
      await sim.close();
    }
  });

  it('counts authenticate requests in the same window', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: { requests: 2, windowMs: 5000 } });
    try {
      const login = () =>
        fetch(`${sim.url}${API}/authenticate`, {
          method: 'POST',
          body: JSON.stringify({ username: 'demo', password: 'demo' }),
        });
      expect((await login()).status).toBe(200);
      expect((await fetch(`${sim.url}${API}/registry`, { headers: basic('demo', 'demo') })).status).toBe(200);
      expect((await login()).status).toBe(429);
    } finally {
      await sim.close();
    }
  });

  it('sends Retry-After as an HTTP date when configured so, and none when switched off', async () => {
    const dated = await startSimulator({
      images: 1,
      rateLimit: { requests: 1, windowMs: 3000 },
      retryAfter: 'date',
    });
    const bare = await startSimulator({
      images: 1,
      rateLimit: { requests: 1, windowMs: 3000 },
      retryAfter: false,
    });
    try {
      const auth = basic('demo', 'demo');
      await fetch(`${dated.url}${API}/registry`, { headers: auth });
      const before = Date.now();
      const res = await fetch(`${dated.url}${API}/registry`, { headers: auth });
      expect(res.status).toBe(429);
      const retryAt = Date.parse(res.headers.get('Retry-After') ?? '');
      expect(res.headers.get('Retry-After')).toMatch(
        /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
      );
      expect(retryAt).toBeGreaterThanOrEqual(before + 2000);
      expect(retryAt).toBeLessThanOrEqual(before + 5000);

      await fetch(`${bare.url}${API}/registry`, { headers: auth });
      const plain = await fetch(`${bare.url}${API}/registry`, { headers: auth });
      expect(plain.status).toBe(429);
      expect(plain.headers.has('Retry-After')).toBe(false);
    } finally {
      await dated.close();
      await bare.close();
    }
  });

  it('never throttles when the rate limit is off', async () => {
    const sim = await startSimulator({ images: 1, rateLimit: false });
    try {
      const statuses = new Set<number>();
      for (let i = 0; i < 100; i++) {
        statuses.add((await fetch(`${sim.url}${API}/registry`, { headers: basic('demo', 'demo') })).status);
      }
      expect([...statuses]).toEqual([200]);
    } finally {
      await sim.close();
    }
  });
});
