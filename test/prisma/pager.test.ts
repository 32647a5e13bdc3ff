import { afterEach, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import {
  type ConsoleClient,
  type PagerState,
  RegistryPager,
  type RegistryPagerOptions,
} from '../../lambda/prisma/index.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../simulator/index.js';
import { clientFor, keyOf, registryGets } from './support.js';

let sim: RunningSimulator | undefined;
let client: (ConsoleClient & { log: Array<{ level: string; message: string }> }) | undefined;

async function teardown(): Promise<void> {
  await client?.close();
  await sim?.close();
  client = undefined;
  sim = undefined;
}

afterEach(teardown);

async function setup(options: SimulatorOptions): Promise<{ sim: RunningSimulator; mark: number }> {
  sim = await startSimulator({ rateLimit: false, heavyFraction: 0, ...options });
  client = clientFor(sim);
  return { sim, mark: sim.truth.mark() };
}

interface Run {
  keys: string[];
  pager: RegistryPager;
  states: PagerState[];
}

async function page(options: RegistryPagerOptions = {}, stopAfter = Number.POSITIVE_INFINITY): Promise<Run> {
  const pager = new RegistryPager(client!, { pageSize: 10, query: { compact: 'true' }, ...options });
  const keys: string[] = [];
  const states: PagerState[] = [];
  for await (const p of pager) {
    keys.push(...p.reports.map(keyOf));
    states.push(p.state);
    if (states.length >= stopAfter) break;
  }
  return { keys, pager, states };
}

/** Every image present for the whole paging was read, none twice, none that never existed. */
function expectComplete(keys: string[], mark: number): void {
  expect(new Set(keys).size).toBe(keys.length);
  const read = new Set(keys);
  expect(sim!.truth.persistentSince(mark).filter((key) => !read.has(key))).toEqual([]);
  const allowed = new Set(sim!.truth.everPresentSince(mark));
  expect(keys.filter((key) => !allowed.has(key))).toEqual([]);
}

/** The key at console position `index` now. */
const presentAt = (index: number) => sim!.truth.present()[index]!;

describe('RegistryPager on a stable result set', () => {
  it('reads every image once in console order, overlapping each request by one item', async () => {
    await setup({ images: 95 });
    const { keys, pager } = await page();
    expect(keys).toEqual(sim!.truth.present());
    expect(registryGets(sim!).map((e) => e.query.offset)).toEqual([
      '0',
      '9',
      '18',
      '27',
      '36',
      '45',
      '54',
      '63',
      '72',
      '81',
      '90',
    ]);
    expect(pager.counters).toEqual({ pages: 11, registryRequests: 11, driftRecoveries: 0, extraRequests: 0 });
  });

  it('ends only on a short page, with or without Total-Count', async () => {
    for (const totalCountHeader of [true, false]) {
      await setup({ images: 100, totalCountHeader });
      const run = await page();
      expect(run.keys).toHaveLength(100);
      // The 11th page (offset 90) is full and reaches the end: one more request proves it.
      expect(run.pager.counters.registryRequests).toBe(12);
      await teardown();
    }
  });

  it('yields one empty, final page for an empty console', async () => {
    await setup({ images: 0 });
    const pager = new RegistryPager(client!);
    const pages = [];
    for await (const p of pager) pages.push(p);
    expect(pages).toMatchObject([{ index: 0, offset: 0, reports: [], totalCount: 0, done: true }]);
  });

  it('uses 50 per page by default', async () => {
    await setup({ images: 120 });
    const pages = [];
    for await (const p of new RegistryPager(client!, { query: { compact: 'true' } })) pages.push(p);
    expect(pages.map((p) => [p.offset, p.reports.length])).toEqual([
      [0, 50],
      [49, 49],
      [98, 21],
    ]);
  });
});

describe('RegistryPager when the result set changes while paging', () => {
  it('skips nothing and repeats nothing when images that sort earlier are added', async () => {
    const { mark } = await setup({ images: 95 });
    sim!.onRegistryRequest((n, s) => {
      if (n === 4) s.mutate.add(3, { sortEarly: true });
    });
    const { keys, pager } = await page();
    expectComplete(keys, mark);
    expect(pager.counters).toMatchObject({ driftRecoveries: 1, extraRequests: 0 });
  });

  it('steps back when images already read are removed (the offsets shift left)', async () => {
    const { mark } = await setup({ images: 95 });
    sim!.onRegistryRequest((n, s) => {
      if (n === 4) s.mutate.remove([presentAt(3), presentAt(11), presentAt(20)]);
    });
    const { keys, pager } = await page();
    expectComplete(keys, mark);
    expect(keys).toHaveLength(95);
    expect(pager.counters).toMatchObject({ driftRecoveries: 1, extraRequests: 1 });
  });

  it('re-aligns when the boundary image itself is removed', async () => {
    const { mark } = await setup({ images: 95 });
    sim!.onRegistryRequest((n, s) => {
      // Before the 3rd GET (offset 18): the boundary is position 18, the last image of page 2.
      if (n === 3) s.mutate.remove([presentAt(18)]);
    });
    const { keys } = await page();
    expectComplete(keys, mark);
  });

  it('walks back several windows after a large removal', async () => {
    const { mark } = await setup({ images: 120 });
    sim!.onRegistryRequest((n, s) => {
      if (n === 6) s.mutate.remove(Array.from({ length: 27 }, (_, i) => presentAt(5 + i)));
    });
    const { keys, pager } = await page();
    expectComplete(keys, mark);
    expect(pager.counters.extraRequests).toBeGreaterThanOrEqual(3);
  });

  it('catches up after more inserts than a page before the boundary', async () => {
    const { mark } = await setup({ images: 80 });
    sim!.onRegistryRequest((n, s) => {
      if (n === 3) s.mutate.add(35, { sortEarly: true });
    });
    const { keys } = await page();
    expectComplete(keys, mark);
  });

  it('finds the end of a list that shrank below the next offset, with and without Total-Count', async () => {
    for (const totalCountHeader of [true, false]) {
      const { mark } = await setup({ images: 200, totalCountHeader });
      sim!.onRegistryRequest((n, s) => {
        if (n === 12) s.mutate.remove(Array.from({ length: 120 }, (_, i) => presentAt(i)));
      });
      const { keys } = await page();
      expectComplete(keys, mark);
      await teardown();
    }
  });

  it('keeps reading rescanned images in place (a rescan does not move an image)', async () => {
    const { mark } = await setup({ images: 60 });
    sim!.onRegistryRequest((n, s) => {
      if (n === 3) s.mutate.rescan(10, { changeFindings: true });
    });
    const { keys, pager } = await page();
    expectComplete(keys, mark);
    expect(keys).toHaveLength(60);
    expect(pager.counters.driftRecoveries).toBe(0);
  });
});

describe('RegistryPager resume', () => {
  it('continues after a checkpoint with the same guarantees, across changes in between', async () => {
    const { mark } = await setup({ images: 120 });
    const first = await page({}, 4);
    client!.log.length = 0;
    sim!.mutate.add(4, { sortEarly: true });
    sim!.mutate.remove([presentAt(10), presentAt(30)]);
    const second = await page({ resume: first.states.at(-1)! });
    expectComplete([...first.keys, ...second.keys], mark);
  });

  it('finds its place forwards after more than a page of early inserts between checkpoint and resume', async () => {
    const { mark } = await setup({ images: 120 });
    const first = await page({}, 4);
    sim!.mutate.add(45, { sortEarly: true });
    const second = await page({ resume: first.states.at(-1)! });
    expectComplete([...first.keys, ...second.keys], mark);
    // Total-Count grew by more than a page: the search goes forwards first and finds the boundary at once.
    expect(second.pager.counters).toMatchObject({ driftRecoveries: 1 });
    expect(second.pager.counters.extraRequests).toBeLessThanOrEqual(5);
    expect(client!.log.some((line) => /lost its position/.test(line.message))).toBe(false);
  });

  it('continues page numbering and yields nothing after a final state', async () => {
    await setup({ images: 35 });
    const first = await page({}, 2);
    const pager = new RegistryPager(client!, { pageSize: 10, resume: first.states.at(-1)! });
    const indexes = [];
    let last: PagerState | undefined;
    for await (const p of pager) {
      indexes.push(p.index);
      last = p.state;
    }
    expect(indexes).toEqual([2, 3]);
    const after = await page({ resume: last! });
    expect(after.keys).toEqual([]);
    expect(after.pager.counters.registryRequests).toBe(0);
  });

  it('re-reads from offset 0 when every checkpointed image is gone, and loses nothing', async () => {
    const { mark } = await setup({ images: 80 });
    const first = await page({}, 3);
    sim!.mutate.remove(first.keys);
    const second = await page({ resume: first.states.at(-1)! });
    expectComplete([...first.keys, ...second.keys], mark);
    expect(client!.log.some((line) => /re-reading from offset 0/.test(line.message))).toBe(true);
  });

  it('keeps the checkpoint small and JSON-serializable', async () => {
    await setup({ images: 200 });
    const { states } = await page({ pageSize: 50 }, 3);
    const state = states.at(-1)!;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(state.behind.length).toBeLessThanOrEqual(100);
    expect(JSON.stringify(state).length).toBeLessThan(3000);
  });

  it('rejects a resume state it did not write', async () => {
    await setup({ images: 1 });
    const error = (() => {
      try {
        new RegistryPager(client!, { resume: { nextOffset: 'x' } as never });
      } catch (e) {
        return e;
      }
    })();
    expect(isSyncError(error, 'client.options')).toBe(true);
  });
});

describe('RegistryPager options and prefetch', () => {
  it('requests the next page while the consumer is still handling the previous one', async () => {
    for (const prefetch of [true, false]) {
      await setup({ images: 60 });
      let busy = false;
      const busyAtRequest: boolean[] = [];
      sim!.onRegistryRequest(() => busyAtRequest.push(busy));
      for await (const _p of new RegistryPager(client!, {
        pageSize: 10,
        prefetch,
        query: { compact: 'true' },
      })) {
        busy = true;
        await new Promise((resolve) => setTimeout(resolve, 120));
        busy = false;
      }
      expect(busyAtRequest.slice(1).every((b) => b === prefetch)).toBe(true);
      await teardown();
    }
  });

  it('prefetches only after a page of at most prefetchMaxBytes decoded bytes', async () => {
    await setup({ images: 60 });
    // The same console twice: first the size of each page, then paging under a budget between them.
    const sizes: number[] = [];
    for await (const p of new RegistryPager(client!, { pageSize: 10, prefetch: false })) {
      expect(p.bytes).toBeGreaterThan(JSON.stringify(p.reports).length * 0.9);
      sizes.push(p.bytes);
    }
    const budget = [...sizes.slice(0, -1)].sort((a, b) => a - b)[Math.floor((sizes.length - 1) / 2)]!;
    expect(sizes.slice(0, -1).some((size) => size > budget)).toBe(true);

    let busy = false;
    const busyAtRequest: boolean[] = [];
    sim!.onRegistryRequest(() => busyAtRequest.push(busy));
    const seen: number[] = [];
    for await (const p of new RegistryPager(client!, { pageSize: 10, prefetchMaxBytes: budget })) {
      seen.push(p.bytes);
      busy = true;
      await new Promise((resolve) => setTimeout(resolve, 120));
      busy = false;
    }
    expect(seen).toEqual(sizes);
    // The request after page i went out while page i was held exactly when page i was within budget.
    expect(busyAtRequest.slice(1)).toEqual(sizes.slice(0, -1).map((size) => size <= budget));
  });

  it('cancels the prefetch cleanly when the consumer stops early', async () => {
    await setup({ images: 200, latencyMs: 50 });
    const run = await page({}, 1);
    expect(run.keys).toHaveLength(10);
    await client!.close();
    expect(registryGets(sim!).length).toBeLessThanOrEqual(2);
  });

  it('refuses to page with its own offset, limit, sort or reverse, a page size it cannot make progress with, or a negative prefetch budget', async () => {
    await setup({ images: 1 });
    expect(() => new RegistryPager(client!, { query: { sort: 'scanTime' } })).toThrow(/default order/);
    expect(() => new RegistryPager(client!, { query: { offset: '5' } })).toThrow(/offset/);
    expect(() => new RegistryPager(client!, { pageSize: 1 })).toThrow(/2 to 50/);
    expect(() => new RegistryPager(client!, { pageSize: 51 })).toThrow(/2 to 50/);
    expect(() => new RegistryPager(client!, { prefetchMaxBytes: -1 })).toThrow(/prefetchMaxBytes/);
  });

  it('passes filters through to the console', async () => {
    await setup({ images: 30 });
    await page({ query: { compact: 'true', registry: 'nothing.example.com' } });
    expect(registryGets(sim!)[0]?.query).toMatchObject({
      compact: 'true',
      registry: 'nothing.example.com',
      limit: '10',
      offset: '0',
    });
  });
});
