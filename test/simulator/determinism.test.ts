import { describe, expect, it } from 'vitest';
import { generateReport, imageSlot } from '../../simulator/generator.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, basic, keyOf } from './helpers.js';

async function pageBytes(sim: RunningSimulator, query: string): Promise<Buffer> {
  const res = await fetch(`${sim.url}${API}/registry?${query}`, { headers: basic('demo', 'demo') });
  return Buffer.from(await res.arrayBuffer());
}

describe('determinism', () => {
  it('serves the same bytes for the same seed, and different bytes for another seed', async () => {
    const a = await startSimulator({ images: 300, seed: 'same', rateLimit: false, heavyFraction: 0.02 });
    const b = await startSimulator({ images: 300, seed: 'same', rateLimit: false, heavyFraction: 0.02 });
    const c = await startSimulator({ images: 300, seed: 'other', rateLimit: false, heavyFraction: 0.02 });
    try {
      for (const query of ['limit=50&offset=0', 'limit=50&offset=250', 'limit=50&offset=100&compact=true']) {
        const bytes = await pageBytes(a, query);
        expect(bytes.length).toBeGreaterThan(1000);
        expect((await pageBytes(b, query)).equals(bytes)).toBe(true);
        expect((await pageBytes(c, query)).equals(bytes)).toBe(false);
      }
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it("generates image i's report without generating the images before it", async () => {
    const sim = await startSimulator({ images: 20_000, seed: 5, rateLimit: false, heavyFraction: 0 });
    try {
      const res = await fetch(`${sim.url}${API}/registry?limit=3&offset=17000`, {
        headers: basic('demo', 'demo'),
      });
      expect(res.headers.get('Total-Count')).toBe('20000');
      const served = (await res.json()) as Array<{
        repoTag: { registry: string; repo: string; tag: string };
      }>;
      const wanted = new Set(served.map(keyOf));
      const indexOf = new Map<string, number>();
      for (let i = 0; i < 20_000 && indexOf.size < wanted.size; i++) {
        const key = imageSlot(5, i).key;
        if (wanted.has(key)) indexOf.set(key, i);
      }
      for (const report of served) {
        const index = indexOf.get(keyOf(report))!;
        // A fresh call for that index alone gives exactly the served report.
        const alone = generateReport({ seed: 5, heavyFraction: 0 }, imageSlot(5, index), {
          scanGeneration: 0,
          findingsVersion: 0,
        });
        expect(report).toEqual(alone);
      }
    } finally {
      await sim.close();
    }
  });
});
