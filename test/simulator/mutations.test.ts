import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { keyOf, login, pageAll, registryPage } from './helpers.js';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function started(images: number): Promise<{ sim: RunningSimulator; token: string }> {
  sim = await startSimulator({ images, rateLimit: false, heavyFraction: 0, seed: 11 });
  return { sim, token: await login(sim) };
}

describe('mutations', () => {
  it('adds images in their sorted place, and sortEarly ones before every image already there', async () => {
    const { sim, token } = await started(60);
    const before = sim.truth.present();
    const added = sim.mutate.add(3);
    expect(added).toHaveLength(3);
    const early = sim.mutate.add(2, { sortEarly: true });
    const present = sim.truth.present();
    expect(present).toHaveLength(65);
    expect(present.slice(0, 2)).toEqual([early[1], early[0]]);
    for (const key of [...before, ...added]) expect(present.indexOf(key)).toBeGreaterThan(1);
    expect(await pageAll(sim, token)).toEqual(present);
    const { res } = await registryPage(sim, token, 'limit=1&compact=true');
    expect(res.headers.get('Total-Count')).toBe('65');
  });

  it('removes the given images, or a seeded choice of them', async () => {
    const { sim } = await started(40);
    const [first, second] = sim.truth.present();
    expect(sim.mutate.remove([first!, second!])).toEqual([first, second]);
    expect(sim.truth.present()).not.toContain(first);
    const picked = sim.mutate.remove(3);
    expect(picked).toHaveLength(3);
    expect(sim.truth.present()).toHaveLength(35);
    expect(() => sim.mutate.remove([first!])).toThrow(/not on the simulated console/);

    const twin = await startSimulator({ images: 40, rateLimit: false, heavyFraction: 0, seed: 11 });
    try {
      twin.mutate.remove([first!, second!]);
      expect(twin.mutate.remove(3)).toEqual(picked);
    } finally {
      await twin.close();
    }
  });

  it('moves scanTime forward on rescan and changes the vulnerabilities only when asked', async () => {
    const { sim, token } = await started(30);
    const key = sim.truth.present()[5]!;
    const before = sim.truth.report(key) as { scanTime: string; vulnerabilities: unknown };
    sim.mutate.rescan([key]);
    const rescanned = sim.truth.report(key) as { scanTime: string; vulnerabilities: unknown };
    expect(Date.parse(rescanned.scanTime)).toBeGreaterThan(Date.parse(before.scanTime));
    expect(rescanned.vulnerabilities).toEqual(before.vulnerabilities);

    sim.mutate.rescan([key], { changeFindings: true });
    const changed = sim.truth.report(key) as { scanTime: string; vulnerabilities: unknown };
    expect(Date.parse(changed.scanTime)).toBeGreaterThan(Date.parse(rescanned.scanTime));
    expect(changed.vulnerabilities).not.toEqual(before.vulnerabilities);

    const { reports } = await registryPage(sim, token, 'limit=50');
    expect(reports.find((r) => keyOf(r) === key)).toEqual(changed);
    expect(sim.mutate.rescan(4)).toHaveLength(4);
  });

  it('lets a hook mutate before the n-th /registry GET, shifting offsets under a paging client', async () => {
    const { sim, token } = await started(200);
    const mark = sim.truth.mark();
    let removed: string[] = [];
    let inserted: string[] = [];
    sim.onRegistryRequest((n, s) => {
      if (n === 2) removed = s.mutate.remove([s.truth.present()[10]!, s.truth.present()[20]!]);
      if (n === 3) inserted = s.mutate.add(1, { sortEarly: true });
    });
    const served = await pageAll(sim, token);

    const persistent = sim.truth.persistentSince(mark);
    const ever = sim.truth.everPresentSince(mark);
    expect(persistent).toHaveLength(198);
    expect(persistent).not.toContain(removed[0]);
    expect(persistent).not.toContain(inserted[0]);
    expect(ever).toHaveLength(201);
    expect(ever).toEqual(expect.arrayContaining([...removed, ...inserted]));
    // Every served image was present at some time since the mark.
    for (const key of served) expect(ever).toContain(key);
    // The removals before page 2 shifted two images that page 2 would have served back into page 1:
    // a naive offset pager misses them. The early insert before page 3 makes it serve one image twice.
    const missed = persistent.filter((key) => !served.includes(key));
    expect(missed).toHaveLength(2);
    expect(served.length - new Set(served).size).toBe(1);
  });

  it('keeps the truth across marks: persistentSince a later mark excludes images added after it', async () => {
    const { sim } = await started(10);
    const first = sim.truth.mark();
    const [added] = sim.mutate.add(1);
    const second = sim.truth.mark();
    expect(sim.truth.persistentSince(first)).not.toContain(added);
    expect(sim.truth.persistentSince(second)).toContain(added);
    expect(sim.truth.everPresentSince(first)).toContain(added);
    sim.mutate.remove([added!]);
    expect(sim.truth.everPresentSince(second)).toContain(added);
    expect(sim.truth.everPresentSince(sim.truth.mark())).not.toContain(added);
  });
});
