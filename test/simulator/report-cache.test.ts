/**
 * The report cache (shared by every simulator in the process): whatever it holds, a client gets
 * exactly what a console in the same state serves, after inserts and rescans too.
 */
import { describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, basic } from './helpers.js';

const options = { images: 300, seed: 'report-cache', rateLimit: false, heavyFraction: 0 } as const;

async function page(
  sim: RunningSimulator,
  offset: number,
  encoding = 'gzip',
  extra = '&compact=true',
): Promise<string> {
  const res = await fetch(`${sim.url}${API}/registry?limit=50&offset=${offset}${extra}`, {
    headers: { ...basic('demo', 'demo'), 'accept-encoding': encoding },
  });
  expect(res.status).toBe(200);
  return res.text();
}

describe('the report cache', () => {
  it('serves a page after an insertion as the console now holds it', async () => {
    const paged = await startSimulator(options);
    try {
      const before = await page(paged, 0);
      await page(paged, 50);
      paged.mutate.add(1, { sortEarly: true });
      const shifted = await page(paged, 50);
      expect(shifted).not.toBe(before);
      // The insertion shifted every page by one image.
      expect(JSON.parse(shifted)[0]).toEqual(JSON.parse(before)[49]);
    } finally {
      await paged.close();
    }
  });

  it('serves rescanned reports with their new findings, compact and full', async () => {
    const paged = await startSimulator(options);
    try {
      const compact = await page(paged, 50);
      const full = await page(paged, 50, 'gzip', '');
      const keys = paged.truth.present().slice(50, 100);
      paged.mutate.rescan(keys, { changeFindings: true });
      const fullAfter = JSON.parse(await page(paged, 50, 'gzip', '')) as unknown[];
      expect(fullAfter).toEqual(keys.map((key) => paged.truth.report(key)));
      expect(JSON.stringify(fullAfter)).not.toBe(full);
      const compactAfter = JSON.parse(await page(paged, 50)) as Array<{ scanTime: string }>;
      expect(compactAfter.map((r) => r.scanTime)).not.toEqual(
        JSON.parse(compact).map((r: { scanTime: string }) => r.scanTime),
      );
    } finally {
      await paged.close();
    }
  });

  it('gives identity and gzip clients, cold and cached, the same content', async () => {
    const sim = await startSimulator(options);
    const other = await startSimulator({ ...options, seed: 'report-cache-2' });
    try {
      const cold = await page(sim, 100, 'identity');
      expect(await page(sim, 100, 'gzip')).toBe(cold);
      expect(await page(sim, 100, 'identity')).toBe(cold);
      expect(await page(other, 100, 'identity')).not.toBe(cold);
    } finally {
      await Promise.all([sim.close(), other.close()]);
    }
  });
});
