/**
 * Property: whatever images are added, removed or rescanned at whatever point of the paging
 * (and across a checkpoint/resume), the pager reads every image present for the whole paging,
 * none twice, and none that never existed. Real HTTP against the simulator; mutations happen in
 * `onRegistryRequest`, i.e. between the console receiving a request and answering it.
 *
 * Deeper runs: `PAGER_RUNS=1500 PAGER_SEED=7 npx vitest run test/prisma/pager-drift.property.test.ts`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PagerState, RegistryPager } from '../../lambda/prisma/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { clientFor, keyOf } from './support.js';

type Mutation =
  | { kind: 'add'; count: number; sortEarly: boolean }
  | { kind: 'removeBefore'; count: number; gap: number }
  | { kind: 'removeAround'; count: number }
  | { kind: 'removeRandom'; count: number }
  | { kind: 'rescan'; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    count: fc.integer({ min: 1, max: 70 }),
    sortEarly: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('removeBefore' as const),
    count: fc.integer({ min: 1, max: 60 }),
    gap: fc.integer({ min: 0, max: 20 }),
  }),
  fc.record({ kind: fc.constant('removeAround' as const), count: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('removeRandom' as const), count: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('rescan' as const), count: fc.integer({ min: 1, max: 20 }) }),
);

const scenario = fc.record({
  images: fc.integer({ min: 0, max: 160 }),
  pageSize: fc.oneof(fc.integer({ min: 2, max: 12 }), fc.constant(50)),
  totalCountHeader: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  /** Mutations keyed by the /registry GET before which they happen. */
  script: fc.array(fc.record({ at: fc.integer({ min: 1, max: 25 }), change: mutation }), { maxLength: 6 }),
  /** Stop after this many pages, mutate, and resume from the checkpoint (a crash or a Lambda timeout). */
  resume: fc.option(
    fc.record({ afterPages: fc.integer({ min: 1, max: 8 }), between: fc.array(mutation, { maxLength: 2 }) }),
    { nil: undefined },
  ),
});

/** The offset the console is serving now: the current request's, from the log. */
function currentOffset(sim: RunningSimulator): number {
  return Number(sim.requestLog.at(-1)?.query.offset ?? 0);
}

function apply(sim: RunningSimulator, change: Mutation): void {
  const present = sim.truth.present();
  const at = Math.min(currentOffset(sim), present.length);
  switch (change.kind) {
    case 'add':
      sim.mutate.add(change.count, { sortEarly: change.sortEarly });
      return;
    case 'removeBefore': {
      // Images just before the boundary: already read, and their removal shifts the offsets left.
      const end = Math.max(0, at - change.gap);
      sim.mutate.remove(present.slice(Math.max(0, end - change.count), end));
      return;
    }
    case 'removeAround':
      sim.mutate.remove(present.slice(Math.max(0, at - change.count), at + change.count));
      return;
    case 'removeRandom':
      sim.mutate.remove(Math.min(change.count, present.length));
      return;
    case 'rescan':
      sim.mutate.rescan(Math.min(change.count, present.length));
  }
}

describe('RegistryPager drift safety (property)', () => {
  it('reads every image present for the whole paging exactly once, whatever changes mid-paging', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const sim = await startSimulator({
          images: s.images,
          seed: s.seed,
          rateLimit: false,
          heavyFraction: 0,
          totalCountHeader: s.totalCountHeader,
        });
        const client = clientFor(sim);
        try {
          const mark = sim.truth.mark();
          sim.onRegistryRequest((n) => {
            for (const { at, change } of s.script) if (at === n) apply(sim, change);
          });
          const keys: string[] = [];
          const options = { pageSize: s.pageSize, query: { compact: 'true' } };
          let state: PagerState | undefined;
          let pages = 0;
          for await (const page of new RegistryPager(client, options)) {
            keys.push(...page.reports.map(keyOf));
            state = page.state;
            if (s.resume !== undefined && ++pages >= s.resume.afterPages) break;
          }
          if (s.resume !== undefined && state !== undefined && !state.done) {
            for (const change of s.resume.between) apply(sim, change);
            for await (const page of new RegistryPager(client, { ...options, resume: state })) {
              keys.push(...page.reports.map(keyOf));
            }
          }

          const read = new Set(keys);
          const missed = sim.truth.persistentSince(mark).filter((key) => !read.has(key));
          const allowed = new Set(sim.truth.everPresentSince(mark));
          expect(missed).toEqual([]);
          expect(keys.filter((key) => !allowed.has(key))).toEqual([]);
          // The one documented exception: a resumed pager that finds none of its checkpointed
          // images anywhere re-reads from offset 0 and may repeat images read before the restart.
          const lostAfterResume =
            s.resume !== undefined && client.log.some((line) => /lost its position/.test(line.message));
          if (!lostAfterResume) expect(keys.length - read.size).toBe(0);
        } finally {
          await client.close();
          await sim.close();
        }
      }),
      { numRuns: Number(process.env.PAGER_RUNS ?? 80), seed: Number(process.env.PAGER_SEED ?? 20_250_101) },
    );
  });
});
