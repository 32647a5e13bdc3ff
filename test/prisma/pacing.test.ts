import { afterEach, describe, expect, it } from 'vitest';
import { type ConsoleClient, RegistryPager } from '../../lambda/prisma/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { clientFor, registryGets } from './support.js';

let sim: RunningSimulator | undefined;
let client: ConsoleClient | undefined;

afterEach(async () => {
  await client?.close();
  await sim?.close();
  client = undefined;
  sim = undefined;
});

describe('pacing against a console that counts every request on arrival', () => {
  it('draws no 429 when paging at the console limit (authentication included)', async () => {
    const limit = { requests: 4, windowMs: 500 };
    sim = await startSimulator({ images: 200, rateLimit: limit, heavyFraction: 0 });
    client = clientFor(sim, { rateLimit: limit });
    const started = Date.now();
    let images = 0;
    for await (const page of new RegistryPager(client, { pageSize: 20, query: { compact: 'true' } })) {
      images += page.reports.length;
    }
    const elapsed = Date.now() - started;
    expect(images).toBe(200);
    // 1 authentication + 11 pages = 12 requests: three windows of 4.
    expect(client.counters).toMatchObject({ requests: 12, throttled: 0, retries: 0 });
    expect(sim.requestLog.every((entry) => entry.status === 200)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(4000);
  });

  it('never has more than the limit in flight inside one window, prefetch included', async () => {
    const limit = { requests: 3, windowMs: 300 };
    sim = await startSimulator({ images: 150, rateLimit: limit, heavyFraction: 0 });
    client = clientFor(sim, { rateLimit: limit });
    for await (const _page of new RegistryPager(client, { pageSize: 25, query: { compact: 'true' } })) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const arrivals = sim.requestLog.map((entry) => entry.at);
    for (const at of arrivals) {
      expect(arrivals.filter((t) => t > at - 300 && t <= at).length).toBeLessThanOrEqual(3);
    }
    expect(client.counters.throttled).toBe(0);
  });

  it('recovers when another client spends the console budget: waits out the 429s and reads everything', async () => {
    const limit = { requests: 3, windowMs: 400 };
    sim = await startSimulator({ images: 100, rateLimit: limit, heavyFraction: 0, retryAfter: false });
    // This client believes it may send 100 per second: the console disagrees.
    client = clientFor(sim, {
      rateLimit: { requests: 100, windowMs: 1000 },
      retry: { baseDelayMs: 100, maxDelayMs: 400 },
    });
    let images = 0;
    for await (const page of new RegistryPager(client, { pageSize: 25, query: { compact: 'true' } })) {
      images += page.reports.length;
    }
    expect(images).toBe(100);
    expect(client.counters.throttled).toBeGreaterThan(0);
    expect(client.counters.throttled).toBe(sim.requestLog.filter((entry) => entry.status === 429).length);
    expect(registryGets(sim).filter((entry) => entry.status === 200)).toHaveLength(5);
  });
});
