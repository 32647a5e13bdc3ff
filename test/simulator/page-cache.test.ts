/**
 * The page cache and the prefetch of the next compact page: whatever was built ahead of a
 * request, a client gets exactly the bytes a freshly started console would serve at that moment.
 */
import { describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, basic } from './helpers.js';

const options = { images: 300, seed: 'page-cache', rateLimit: false, heavyFraction: 0 } as const;

async function page(sim: RunningSimulator, offset: number, encoding = 'gzip'): Promise<Buffer> {
  const res = await fetch(`${sim.url}${API}/registry?limit=50&offset=${offset}&compact=true`, {
    headers: { ...basic('demo', 'demo'), 'accept-encoding': encoding },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Lets the prefetch started by the last response run (it is built after the response is written). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

describe('the page cache', () => {
  it('serves the next page after an insertion as the console now holds it, not as prefetched', async () => {
    const paged = await startSimulator(options);
    const fresh = await startSimulator(options);
    try {
      const before = await page(paged, 0);
      await settle(); // page 2 was prefetched for the catalog as it was
      paged.mutate.add(1, { sortEarly: true });
      fresh.mutate.add(1, { sortEarly: true });
      const next = await page(paged, 50);
      expect(next.equals(await page(fresh, 50))).toBe(true);
      // The insertion shifted every page (so a stale prefetch would have shown).
      expect((await page(fresh, 0)).equals(before)).toBe(false);
    } finally {
      await Promise.all([paged.close(), fresh.close()]);
    }
  });

  it('serves rescanned reports with their new findings after a prefetch', async () => {
    const paged = await startSimulator(options);
    const fresh = await startSimulator(options);
    try {
      await page(paged, 0);
      await settle();
      const keys = paged.truth.present().slice(50, 100);
      paged.mutate.rescan(keys, { changeFindings: true });
      fresh.mutate.rescan(keys, { changeFindings: true });
      expect((await page(paged, 50)).equals(await page(fresh, 50))).toBe(true);
    } finally {
      await Promise.all([paged.close(), fresh.close()]);
    }
  });

  it('gives an identity client the same bytes a gzip client got for the same page', async () => {
    const sim = await startSimulator(options);
    try {
      const zipped = await page(sim, 100, 'gzip');
      await settle();
      expect((await page(sim, 100, 'identity')).equals(zipped)).toBe(true);
      expect((await page(sim, 150, 'identity')).equals(await page(sim, 150, 'gzip'))).toBe(true);
    } finally {
      await sim.close();
    }
  });

  it('serves the same pages paged in order (each prefetched) as backwards (each built on request)', async () => {
    const forwards = await startSimulator(options);
    const backwards = await startSimulator(options);
    try {
      const inOrder: Buffer[] = [];
      for (let offset = 0; offset < 300; offset += 50) inOrder.push(await page(forwards, offset));
      const reversed: Buffer[] = [];
      for (let offset = 250; offset >= 0; offset -= 50) reversed.unshift(await page(backwards, offset));
      expect(inOrder.map((bytes, i) => bytes.equals(reversed[i]!))).toEqual(inOrder.map(() => true));
    } finally {
      await Promise.all([forwards.close(), backwards.close()]);
    }
  });
});
