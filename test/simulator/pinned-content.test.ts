/**
 * Pins the content the simulator generates and serves: SHA-256 digests of the reports' JSON and of
 * the decoded page bodies (never of compressed bytes). Same seed, same reports, across versions:
 * recorded runs and benchmarks compare against this content.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateReport, imageSlot } from '../../simulator/generator.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { API, basic } from './helpers.js';

function digestOf(chunks: Iterable<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** The decoded body of a /registry page, gzip-encoded on the wire or not. */
async function pageBody(
  sim: RunningSimulator,
  query: string,
  encoding: 'gzip' | 'identity',
): Promise<Buffer> {
  const res = await fetch(`${sim.url}${API}/registry?${query}`, {
    headers: { ...basic('demo', 'demo'), 'accept-encoding': encoding },
  });
  if (res.status !== 200) throw new Error(`${query}: HTTP ${res.status}`);
  // Pages over 1 KB are compressed when the client accepts gzip: both paths are pinned.
  expect(res.headers.get('content-encoding')).toBe(encoding === 'gzip' ? 'gzip' : null);
  return Buffer.from(await res.arrayBuffer());
}

/** Every page of a query in order (offsets 0, 50, … up to `images`), hashed as one byte stream. */
async function pagesDigest(
  sim: RunningSimulator,
  images: number,
  extra: string,
  encoding: 'gzip' | 'identity',
): Promise<string> {
  const bodies: Buffer[] = [];
  for (let offset = 0; offset < images; offset += 50) {
    bodies.push(await pageBody(sim, `limit=50&offset=${offset}${extra}`, encoding));
  }
  return digestOf(bodies);
}

const versions = [
  { scanGeneration: 0, findingsVersion: 0 },
  { scanGeneration: 1, findingsVersion: 0 },
  { scanGeneration: 4, findingsVersion: 3 },
];

describe('the generated content', () => {
  it('keep the digest of compact reports of 3,000 images at three versions', () => {
    const options = { seed: 'pinned', heavyFraction: 0.02 };
    const json: string[] = [];
    for (let i = 0; i < 3000; i++) {
      for (const version of versions)
        json.push(JSON.stringify(generateReport(options, imageSlot('pinned', i), version, true)));
    }
    expect(digestOf(json)).toBe('f25a74f95fd06fe609434f93b30734453e1a814fee880a43a899e765ed3f6b88');
  });

  it('keep the digest of full reports of 300 images at three versions', () => {
    const options = { seed: 7, heavyFraction: 0.02 };
    const json: string[] = [];
    for (let i = 0; i < 300; i++) {
      for (const version of versions)
        json.push(JSON.stringify(generateReport(options, imageSlot(7, i), version)));
    }
    expect(digestOf(json)).toBe('91e3631c9283f4fffd5db138cf9f162753eb27708681519e3b72b671bdf3edce');
  });
});

describe('the served content', () => {
  it('keep the digest of every page, compact and full, gzip and identity, before and after mutations', async () => {
    const images = 400;
    const sim = await startSimulator({ images, seed: 3, rateLimit: false, heavyFraction: 0.02 });
    try {
      const digests: Record<string, string> = {};
      digests.compactGzip = await pagesDigest(sim, images, '&compact=true', 'gzip');
      digests.compactIdentity = await pagesDigest(sim, images, '&compact=true', 'identity');
      digests.full = await pagesDigest(sim, images, '', 'gzip');
      digests.reverse = await pagesDigest(sim, images, '&compact=true&reverse=true', 'identity');
      digests.fields = await pagesDigest(
        sim,
        images,
        '&fields=repoTag.repo,scanTime,vulnerabilitiesCount',
        'gzip',
      );
      sim.mutate.rescan(60, { changeFindings: true });
      sim.mutate.rescan(60);
      sim.mutate.add(7);
      sim.mutate.add(3, { sortEarly: true });
      sim.mutate.remove(5);
      digests.mutatedCompact = await pagesDigest(sim, images + 5, '&compact=true', 'gzip');
      digests.mutatedFull = await pagesDigest(sim, images + 5, '', 'identity');
      expect(digests).toEqual({
        compactGzip: '253d80c617cadeb439fe35ee3f39d302cd1a79b499e0bad68a4f00136ed08aa0',
        compactIdentity: '253d80c617cadeb439fe35ee3f39d302cd1a79b499e0bad68a4f00136ed08aa0',
        full: '4ad1c278f6be9279f1ca3d7e9d189e4665225dbeb1911c89f830be16534a3d19',
        reverse: '44948682a89122d019c2844b86838fbaea520bea952aa91d78e80fc3e106da34',
        fields: '06518944be3395bc093236899ef6a4ab9ea28aa9ad23932592a248d66395b02b',
        mutatedCompact: '6902bf60563e91fb6b01755613d051c9b3d8ed497e1b46a80baee0696e6bd9be',
        mutatedFull: '6bf5ed118428e5f43090b8f3bf8015db078cda71140b959de131d5ea68d4e4fd',
      });
    } finally {
      await sim.close();
    }
  });
});
