import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SyncOptions } from '../../lambda/sync/engine.js';
import type { RunningSimulator } from '../../simulator/index.js';
import {
  comparableFindings,
  type EngineHarness,
  engineHarness,
  expectedFindings,
  registryGetCount,
  splitKey,
  startTestSimulator,
  storedKeys,
} from '../support/e2e.js';

// Several full syncs per test against the one shared DynamoDB Local, which other files load too.
vi.setConfig({ testTimeout: 240_000 });

/**
 * Cuts an invocation after `pages` committed pages, deterministically: once they are done the
 * engine's clock jumps to just before the deadline, so the engine's own budget check stops it.
 */
function cutAfter(pages: number): { deps: { now: () => number }; options: Partial<SyncOptions> } {
  // Far beyond any page time, so only the skew (never a slow page on a loaded machine) ends the run.
  const budgetMs = 3_600_000;
  let skewMs = 0;
  const now = () => Date.now() + skewMs;
  return {
    deps: { now },
    options: {
      deadline: Date.now() + budgetMs,
      onProgress: (p) => {
        if (p.pages >= pages) skewMs = budgetMs;
      },
    },
  };
}

describe('a first sync and an unchanged re-sync', () => {
  let sim: RunningSimulator;
  let h: EngineHarness;
  beforeAll(async () => {
    sim = await startTestSimulator({ images: 80, seed: 'engine-truth' });
    h = await engineHarness(sim);
  });
  afterAll(async () => {
    await sim.close();
  });

  it('stores exactly the console images with every finding of each report, and records the figures', async () => {
    const result = await h.sync();
    const present = sim.truth.present();
    expect(result).toMatchObject({
      status: 'completed',
      images: present.length,
      new: present.length,
      removed: 0,
    });
    expect(await storedKeys(h.stores)).toEqual([...present].sort());

    for (const key of present) {
      const image = await h.stores.queries.image(splitKey(key));
      expect(image, key).toBeDefined();
      expect(comparableFindings(image?.findings ?? []), key).toEqual(
        expectedFindings(sim.truth.report(key), h.consoleId),
      );
    }

    const [run] = await h.stores.queries.runs(1);
    expect(run).toMatchObject({
      runId: result.runId,
      status: 'completed',
      pagingComplete: true,
      images: result.images,
      pages: result.pages,
      requests: result.requests,
      throttled: result.throttled,
      retries: result.retries,
      written: result.written,
      unchanged: result.unchanged,
      removed: result.removed,
    });
    expect(result.requests).toBeGreaterThan(result.pages);
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('reports every image unchanged on a re-sync and writes under 1% of the first sync', async () => {
    const [first] = await h.stores.queries.runs(1);
    const firstWritten = Number(first?.written);
    const again = await h.sync();
    expect(again).toMatchObject({ status: 'completed', unchanged: 80, new: 0, changed: 0, removed: 0 });
    expect(again.written).toBeLessThan(firstWritten * 0.01);
  });
});

describe('a run cut by its time budget', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ images: 80, seed: 'engine-budget' });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('returns partial with a checkpoint and the next call resumes and completes without paging twice', async () => {
    const clean = await engineHarness(sim);
    const beforeClean = registryGetCount(sim);
    await clean.sync();
    const cleanGets = registryGetCount(sim) - beforeClean;

    const h = await engineHarness(sim);
    const before = registryGetCount(sim);
    const cut = cutAfter(1);
    const first = await h.sync(cut.options, cut.deps);
    expect(first).toMatchObject({ status: 'partial', pages: 1, images: 50, resumed: false });
    const checkpoint = await h.stores.runs.loadCheckpoint();
    expect(checkpoint).toMatchObject({ runId: first.runId, pageIndex: 0 });

    const second = await h.sync();
    expect(second).toMatchObject({ status: 'completed', runId: first.runId, resumed: true, invocations: 2 });
    // Figures are cumulative over the invocations: each image counted (and paged) once.
    expect(second.images).toBe(80);
    expect(second.new).toBe(80);
    expect(await storedKeys(h.stores)).toEqual([...sim.truth.present()].sort());
    expect(await h.stores.runs.loadCheckpoint()).toBeUndefined();
    // The resume costs at most the one boundary request the drift-safe pager re-reads.
    expect(registryGetCount(sim) - before).toBeLessThanOrEqual(cleanGets + 1);
  });

  it('never sweeps removals in a partial run, only once the resumed run completes', async () => {
    const h = await engineHarness(sim);
    await h.sync();
    const gone = sim.mutate.remove(4);
    const cut = cutAfter(1);
    const partial = await h.sync(cut.options, cut.deps);
    expect(partial).toMatchObject({ status: 'partial', removed: 0 });
    const stored = await storedKeys(h.stores);
    for (const key of gone) expect(stored).toContain(key);

    const done = await h.sync();
    expect(done).toMatchObject({ status: 'completed', removed: 4 });
    expect(await storedKeys(h.stores)).toEqual([...sim.truth.present()].sort());
    const removedImage = await h.stores.queries.image(splitKey(gone[0] ?? ''));
    expect(removedImage).toMatchObject({ removed: true });
    expect(await h.stores.queries.history(splitKey(gone[0] ?? ''))).not.toHaveLength(0);
  });

  it('abandons the checkpoint with --fresh and starts a new full pass', async () => {
    const h = await engineHarness(sim);
    const cut = cutAfter(1);
    const partial = await h.sync(cut.options, cut.deps);
    expect(partial.status).toBe('partial');
    const fresh = await h.sync({ fresh: true });
    expect(fresh).toMatchObject({ status: 'completed', resumed: false, invocations: 1 });
    expect(fresh.runId).not.toBe(partial.runId);
    expect(fresh.images).toBe(sim.truth.present().length);
    expect(await h.stores.runs.getRun(partial.runId)).toMatchObject({
      status: 'failed',
      error: 'superseded by a fresh run (option fresh)',
    });
  });
});

describe('one run at a time', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ images: 60, seed: 'engine-lease', latencyMs: 100 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('refuses a second concurrent run with sync.leaseHeld and lets the first complete', async () => {
    const h = await engineHarness(sim);
    let firstPage: () => void = () => {};
    const paging = new Promise<void>((resolve) => {
      firstPage = resolve;
    });
    const running = h.sync({ owner: 'first', onProgress: () => firstPage() });
    await paging;
    await expect(h.sync({ owner: 'second' })).rejects.toMatchObject({
      code: 'sync.leaseHeld',
      message: expect.stringContaining('first'),
    });
    await expect(running).resolves.toMatchObject({ status: 'completed', images: 60 });
    // The lease was released: the next run starts.
    await expect(h.sync({ owner: 'third' })).resolves.toMatchObject({ status: 'completed', unchanged: 60 });
  });
});

describe('--when-scan-ongoing', () => {
  let sim: RunningSimulator;
  const scanning = {
    regular: {
      ongoing: true,
      registries: [
        {
          registry: 'registry.example.com',
          discovery: { total: 4, scanned: 2 },
          imageScan: { total: 60, scanned: 10 },
        },
      ],
    },
  };
  beforeAll(async () => {
    sim = await startTestSimulator({ images: 20, seed: 'engine-progress' });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('skips the run while a registry scan is ongoing with skip, paging nothing', async () => {
    sim.setScanProgress(scanning);
    const h = await engineHarness(sim);
    const before = registryGetCount(sim);
    const result = await h.sync({ whenScanOngoing: 'skip' });
    expect(result).toMatchObject({ status: 'skipped', pages: 0, scanOngoing: true });
    expect(registryGetCount(sim)).toBe(before);
    expect(await h.stores.queries.runs(1)).toMatchObject([
      { status: 'skipped', options: { whenScanOngoing: 'skip' } },
    ]);
    expect(await storedKeys(h.stores)).toEqual([]);
  });

  it('waits for the scan to finish with wait, then syncs', async () => {
    sim.setScanProgress(scanning);
    const h = await engineHarness(sim);
    let polls = 0;
    const sleep = async () => {
      polls += 1;
      if (polls === 3) sim.setScanProgress({ regular: { ongoing: false } });
    };
    const result = await h.sync({ whenScanOngoing: 'wait' }, { sleep });
    expect(polls).toBe(3);
    expect(result).toMatchObject({ status: 'completed', images: 20, scanOngoing: false });
  });

  it('stops at the budget while waiting, keeping a checkpoint the next call resumes', async () => {
    sim.setScanProgress(scanning);
    const h = await engineHarness(sim);
    const waiting = await h.sync({
      whenScanOngoing: 'wait',
      deadline: Date.now() + 5,
      scanWaitPollMs: 1_000,
    });
    expect(waiting).toMatchObject({ status: 'partial', pages: 0 });
    expect(await h.stores.runs.loadCheckpoint()).toMatchObject({ runId: waiting.runId });
    sim.setScanProgress({ regular: { ongoing: false } });
    const resumed = await h.sync({ whenScanOngoing: 'wait' });
    expect(resumed).toMatchObject({ status: 'completed', runId: waiting.runId, images: 20 });
  });

  it('syncs anyway with proceed and records that a scan was ongoing', async () => {
    sim.setScanProgress(scanning);
    const h = await engineHarness(sim);
    const result = await h.sync({ whenScanOngoing: 'proceed' });
    expect(result).toMatchObject({ status: 'completed', images: 20, scanOngoing: true });
    expect(await h.stores.runs.getRun(result.runId)).toMatchObject({ scanOngoing: true });
    sim.setScanProgress({ regular: { ongoing: false } });
  });
});

describe('memory', () => {
  it('writes a page in groups bounded by bytes and stores every image and finding of it', async () => {
    const sim = await startTestSimulator({ images: 60, seed: 'engine-groups' });
    try {
      const h = await engineHarness(sim);
      const write = h.stores.images.writeReports.bind(h.stores.images);
      const groupSizes: number[] = [];
      h.stores.images.writeReports = (reports, context) => {
        groupSizes.push(reports.length);
        return write(reports, context);
      };
      const result = await h.sync({ groupBytes: 40_000 });
      const present = sim.truth.present();
      expect(result).toMatchObject({
        status: 'completed',
        pages: 2,
        images: present.length,
        new: present.length,
      });
      // Each page went to the store in several groups, every image in exactly one of them.
      expect(groupSizes.length).toBeGreaterThan(2 * result.pages);
      expect(groupSizes.reduce((a, b) => a + b, 0)).toBe(present.length);
      expect(await storedKeys(h.stores)).toEqual([...present].sort());
      for (const key of present) {
        const image = await h.stores.queries.image(splitKey(key));
        expect(comparableFindings(image?.findings ?? []), key).toEqual(
          expectedFindings(sim.truth.report(key), h.consoleId),
        );
        expect(JSON.parse((await h.stores.queries.rawReport(splitKey(key))) ?? 'null'), key).toEqual(
          sim.truth.report(key),
        );
      }
    } finally {
      await sim.close();
    }
  });
});

describe('a console that changes while it is paged', () => {
  it('still holds every image present throughout and none that never existed', async () => {
    const sim = await startTestSimulator({ images: 130, seed: 'engine-drift' });
    try {
      const h = await engineHarness(sim);
      sim.onRegistryRequest((n, s) => {
        if (n === 2) s.mutate.add(55, { sortEarly: true });
        if (n === 4) s.mutate.remove(12);
        if (n === 5) s.mutate.add(8);
        if (n === 6) s.mutate.rescan(5, { changeFindings: true });
      });
      const mark = sim.truth.mark();
      const result = await h.sync();
      expect(result.status).toBe('completed');
      const stored = new Set(await storedKeys(h.stores));
      const ever = new Set(sim.truth.everPresentSince(mark));
      for (const key of sim.truth.persistentSince(mark)) expect(stored.has(key), key).toBe(true);
      for (const key of stored) expect(ever.has(key), key).toBe(true);
    } finally {
      await sim.close();
    }
  });
});
