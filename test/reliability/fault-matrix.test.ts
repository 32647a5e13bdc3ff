/**
 * Every fault class the simulator injects, at the start, the middle and the end of a run, checked
 * against the simulator's ground truth after each run: no persistent image missed (a completed run
 * that missed one would mark it removed), none seen twice, every finding present, checkpoint and
 * lease gone after a completed run, and a run that had to give up recorded as `failed` with a
 * checkpoint its next run resumes.
 *
 * One console and one simulator for the whole file (DynamoDB Local writes ~200 items/s on a loaded
 * 2-core box, so only the first run writes every image); before each case a few images are
 * rescanned with changed findings, so every run also writes under its faults.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleClientOptions } from '../../lambda/prisma/index.js';
import type { Stores } from '../../lambda/store/index.js';
import { type Fault, type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { createTestTables, localDocumentClient, uniqueTablePrefix } from '../support/dynamo.js';
import { registryGetCount } from '../support/e2e.js';
import {
  errorCode,
  expectMatchesTruth,
  type Outcome,
  pagesFor,
  seenKeysOf,
  storesOf,
  syncOnce,
} from './support.js';

const CONSOLE_ID = 'fault-matrix';
const POSITIONS = ['start', 'middle', 'end'] as const;
type Position = (typeof POSITIONS)[number];

let doc: DynamoDBDocumentClient;
let sim: RunningSimulator;
let stores: Stores;
const prefix = uniqueTablePrefix('faults');
const figures = { runs: 0, faultsInjected: 0, imagesChecked: 0, findingsChecked: 0 };

beforeAll(async () => {
  doc = localDocumentClient();
  await createTestTables(doc, prefix);
  sim = await startSimulator({ images: 100, seed: 11, rateLimit: false, heavyFraction: 0 });
  stores = storesOf(doc, prefix, CONSOLE_ID);
});
afterAll(async () => {
  console.info(`fault matrix: ${JSON.stringify(figures)}`);
  await sim?.close();
  doc?.destroy();
});

/** The 1-based page of a position in a pass of `pages` pages. */
function pageAt(position: Position, pages: number): number {
  return position === 'start' ? 1 : position === 'end' ? pages : Math.ceil((pages + 1) / 2);
}

/**
 * Scripts `storm(page)` faults on the GETs of the given pages of the next pass. Every faulted GET is
 * retried on the same page, so the page's successful GET follows its storm.
 */
/** Faults the simulator has injected so far (every faulted answer is tagged in its request log). */
function faultsFired(): number {
  return sim.requestLog.filter((e) => e.fault !== undefined).length;
}

function script(pages: number[], storm: (at: number) => Fault[], faultedGetServesPage = false): number {
  const total = pagesFor(sim.truth.present().length);
  const scripted: Array<{ at: number; fault: Fault }> = [];
  let get = registryGetCount(sim);
  for (let page = 1; page <= total; page++) {
    if (pages.includes(page)) {
      for (const fault of storm(get + 1)) scripted.push({ at: ++get, fault });
      // A fault that still answers the page (slow) is that page's GET, not a retried one.
      if (faultedGetServesPage) continue;
    }
    get += 1;
  }
  sim.setFaults({ scripted });
  figures.faultsInjected += scripted.length;
  return scripted.length;
}

async function run(client?: Partial<ConsoleClientOptions>): Promise<Outcome> {
  figures.runs += 1;
  return await syncOnce(sim, stores, CONSOLE_ID, client ? { client } : {});
}

async function verify(mark: number, contentKeys?: string[]): Promise<void> {
  const checked = await expectMatchesTruth({
    doc,
    prefix,
    consoleId: CONSOLE_ID,
    stores,
    sim,
    mark,
    ...(contentKeys ? { contentKeys } : {}),
  });
  figures.imagesChecked += checked.images;
  figures.findingsChecked += checked.findings;
}

async function expectNoImageSeenTwice(runId: string): Promise<void> {
  const seen = await seenKeysOf(doc, prefix, CONSOLE_ID, runId);
  expect(seen.length - new Set(seen).size, 'images seen twice in one run').toBe(0);
}

interface RecoverableCase {
  name: string;
  storm: () => Fault[];
  label: string;
  throttledPerStorm?: number;
  client?: Partial<ConsoleClientOptions>;
  /** The faulted GET still answers its page: no retry. */
  answers?: boolean;
}

const RECOVERABLE: RecoverableCase[] = [
  {
    name: '429 storms with Retry-After in seconds',
    storm: () => Array(3).fill({ kind: '429', retryAfter: 'seconds', retryAfterSeconds: 2 }),
    label: '429',
    throttledPerStorm: 3,
  },
  {
    name: '429 storms with an HTTP-date Retry-After',
    storm: () => Array(3).fill({ kind: '429', retryAfter: 'date', retryAfterSeconds: 1 }),
    label: '429',
    throttledPerStorm: 3,
  },
  {
    name: '429 storms without Retry-After',
    storm: () => Array(4).fill({ kind: '429', retryAfter: false }),
    label: '429',
    throttledPerStorm: 4,
  },
  {
    name: '5xx answers with HTML bodies',
    storm: () => ([500, 502, 503, 504] as const).map((status) => ({ kind: '5xx-html', status })),
    label: '5xx-html',
  },
  { name: 'connection resets', storm: () => Array(2).fill({ kind: 'reset' }), label: 'reset' },
  {
    name: 'truncated bodies',
    storm: () => [
      { kind: 'truncate', fraction: 0.5 },
      { kind: 'truncate', fraction: 0.01 },
    ],
    label: 'truncate',
  },
  {
    name: 'malformed JSON bodies',
    storm: () => Array(2).fill({ kind: 'malformed-json' }),
    label: 'malformed-json',
  },
  { name: 'empty 200 bodies', storm: () => Array(2).fill({ kind: 'empty-200' }), label: 'empty-200' },
  { name: 'HTML 200 bodies', storm: () => Array(2).fill({ kind: 'html-200' }), label: 'html-200' },
  {
    name: 'slow responses within the timeout',
    storm: () => [{ kind: 'slow', ms: 150 }],
    label: 'slow',
    answers: true,
  },
  {
    name: 'slow responses past the headers timeout',
    storm: () => [{ kind: 'slow', ms: 1_200 }],
    label: 'slow',
    client: { timeouts: { headersMs: 250 } },
  },
  { name: 'token expiry', storm: () => [{ kind: 'token-expiry' }], label: 'token-expiry' },
];

describe('the fault matrix', () => {
  it('writes a first full pass through resets, 5xx pages and a 429 storm at the start, middle and end', async () => {
    const pages = pagesFor(sim.truth.present().length);
    const kinds: Fault[][] = [
      [{ kind: 'reset' }],
      [{ kind: '5xx-html', status: 502 }, { kind: 'truncate' }],
      [{ kind: '429', retryAfter: false }, { kind: 'token-expiry' }],
    ];
    let which = 0;
    const injected = script(
      POSITIONS.map((p) => pageAt(p, pages)),
      () => kinds[which++] ?? [],
    );
    const firedBefore = faultsFired();
    const mark = sim.truth.mark();
    const outcome = await run();
    expect(errorCode(outcome)).toBeUndefined();
    expect(injected).toBe(5);
    expect(faultsFired() - firedBefore, 'every scripted fault fired').toBe(injected);
    const result = outcome.result!;
    expect(result.status).toBe('completed');
    // A first pass into an empty console: every image seen is new, so a duplicate would show here.
    expect(result.new).toBe(sim.truth.present().length);
    expect(result.images).toBe(sim.truth.present().length);
    await verify(mark);
    await expectNoImageSeenTwice(result.runId);
  });

  it.each(RECOVERABLE)('completes through $name at the start, the middle and the end of a run', async (c) => {
    const rescanned = sim.mutate.rescan(3, { changeFindings: true });
    const pages = pagesFor(sim.truth.present().length);
    const injected = script(
      POSITIONS.map((p) => pageAt(p, pages)),
      c.storm,
      c.answers === true,
    );
    const mark = sim.truth.mark();
    const firedBefore = faultsFired();
    const outcome = await run(c.client);
    expect(errorCode(outcome)).toBeUndefined();
    const result = outcome.result!;
    expect(result.status).toBe('completed');
    expect(rescanned.length, 'images rescanned before the run').toBeGreaterThan(0);
    expect(injected).toBeGreaterThan(0);
    expect(faultsFired() - firedBefore, 'every scripted fault fired').toBe(injected);
    expect(sim.requestLog.filter((e) => e.fault?.startsWith(c.label)).length).toBeGreaterThanOrEqual(
      injected,
    );
    expect(result.images).toBe(sim.truth.present().length);
    expect(result.changed).toBe(rescanned.length);
    expect(result.retries).toBeGreaterThanOrEqual(c.answers ? 0 : injected);
    if (c.throttledPerStorm !== undefined) expect(result.throttled).toBe(3 * c.throttledPerStorm);
    const record = await stores.runs.getRun(result.runId);
    expect(record?.status).toBe('completed');
    expect(record?.pagingComplete).toBe(true);
    await verify(mark);
    await expectNoImageSeenTwice(result.runId);
  });

  it.each([
    {
      position: 'start' as const,
      name: 'a storm of 503 pages longer than the attempts',
      storm: Array(6).fill({ kind: '5xx-html', status: 503 }) as Fault[],
      code: 'client.pageFailed',
    },
    {
      position: 'middle' as const,
      name: 'a storm of resets longer than the attempts',
      storm: Array(6).fill({ kind: 'reset' }) as Fault[],
      code: 'client.pageFailed',
    },
    {
      position: 'end' as const,
      name: 'a storm of 429s longer than the attempts',
      storm: Array(6).fill({ kind: '429', retryAfter: false }) as Fault[],
      code: 'client.pageFailed',
    },
  ])(
    'records a run that gives up on $name at the $position as failed, and the next run resumes and completes',
    async ({ position, storm, code }) => {
      const rescanned = sim.mutate.rescan(3, { changeFindings: true });
      const present = sim.truth.present().length;
      const pages = pagesFor(present);
      const page = pageAt(position, pages);
      const injected = script([page], () => storm);
      const mark = sim.truth.mark();
      const firedBefore = faultsFired();
      const failed = await run();
      expect(errorCode(failed)).toBe(code);
      expect(rescanned.length, 'images rescanned before the run').toBeGreaterThan(0);
      expect(faultsFired() - firedBefore, 'the whole storm fired').toBe(injected);
      const offset = page === 1 ? 0 : 50 + 49 * (page - 2) - 1;
      expect((failed.error as Error).message).toContain(`offset=${offset}`);

      const [record] = await stores.queries.runs(1);
      expect(record?.status).toBe('failed');
      expect(String(record?.error)).toMatch(new RegExp(`^${code.replace('.', '\\.')}: `));
      expect(await stores.runs.currentLease()).toBeUndefined();
      const checkpoint = await stores.runs.loadCheckpoint();
      if (page === 1) {
        expect(checkpoint).toBeUndefined();
      } else {
        // The checkpoint is the last committed page of the failed run, and counts exactly those pages.
        expect(checkpoint?.runId).toBe(record?.runId);
        expect(checkpoint?.pageIndex).toBe(page - 2);
        expect(checkpoint?.figures.pages).toBe(page - 1);
        expect(checkpoint?.figures.images).toBe(50 + 49 * (page - 2));
      }

      const next = await run();
      expect(errorCode(next)).toBeUndefined();
      expect(next.result?.status).toBe('completed');
      expect(next.result?.resumed).toBe(page > 1);
      expect(next.result?.images).toBe(present);
      expect(next.result?.changed).toBe(rescanned.length);
      if (page > 1) expect(next.result?.runId).toBe(record?.runId);
      await verify(mark);
      await expectNoImageSeenTwice(next.result!.runId);
    },
  );

  // SPEC §4.7: a report of the wrong shape is quarantined, never the page. The simulator drifts the
  // first report of a response: on the first page a report of its own, on later pages the overlap
  // item the pager already read (its drift is never a report to store, nor a reason to lose one).
  it.each([
    { position: 'start' as const, drift: 'vulnerabilities-string' as const, quarantined: 1 },
    { position: 'middle' as const, drift: 'repoTag-number' as const, quarantined: 0 },
    { position: 'end' as const, drift: 'missing-id' as const, quarantined: 0 },
  ])(
    'completes through schema drift ($drift) at the $position, quarantining $quarantined report(s)',
    async ({ position, drift, quarantined }) => {
      sim.setFaults({});
      expect(errorCode(await run())).toBeUndefined();
      const present = sim.truth.present().length;
      script([pageAt(position, pagesFor(present))], () => [{ kind: 'schema-drift', drift }]);
      const mark = sim.truth.mark();
      const outcome = await run();
      expect(errorCode(outcome)).toBeUndefined();
      expect(outcome.result).toMatchObject({ status: 'completed', quarantined, removed: 0 });
      expect(outcome.result?.images).toBe(present - quarantined);
      if (quarantined > 0) {
        expect(outcome.result?.quarantine[0]).toMatchObject({ offset: 0, index: 0, code: 'client.schema' });
      }
      expect(await stores.runs.loadCheckpoint()).toBeUndefined();
      // The quarantined image keeps what the clean run stored: the console's truth.
      await verify(mark);
      await expectNoImageSeenTwice(outcome.result!.runId);
    },
  );

  it.each(POSITIONS)(
    'keeps every persistent image when the result set shifts at the %s of the paging',
    async (position) => {
      const pages = pagesFor(sim.truth.present().length);
      const at = registryGetCount(sim) + pageAt(position, pages);
      const mutated: string[] = [];
      sim.setFaults({});
      sim.onRegistryRequest((n, s) => {
        if (n !== at) return;
        // Inserts before the cursor (shift right), removals (shift left), rescans with new findings.
        // The middle case shifts by more than a page (the pager's forward search); the others within one.
        mutated.push(...s.mutate.add(position === 'middle' ? 55 : 10, { sortEarly: true }));
        mutated.push(...s.mutate.remove(6));
        mutated.push(...s.mutate.rescan(4, { changeFindings: true }));
        mutated.push(...s.mutate.add(3));
      });
      const mark = sim.truth.mark();
      const outcome = await run();
      expect(errorCode(outcome)).toBeUndefined();
      expect(outcome.result?.status).toBe('completed');
      expect(mutated.length).toBeGreaterThan(0);
      const untouched = sim.truth.persistentSince(mark).filter((k) => !mutated.includes(k));
      await verify(mark, untouched);
      await expectNoImageSeenTwice(outcome.result!.runId);
      // The next pass converges on the console exactly, rescanned findings included.
      const mark2 = sim.truth.mark();
      const next = await run();
      expect(next.result?.status).toBe('completed');
      await verify(mark2);
    },
  );
});
