/**
 * Each phase of a run alone (lambda/sync/run.ts), against the test simulator and DynamoDB Local.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SyncError } from '../../lambda/common/errors.js';
import { ConsoleClient } from '../../lambda/prisma/index.js';
import { createStores, type Stores } from '../../lambda/store/index.js';
import { DAY_MS } from '../../lambda/sync/decisions.js';
import type { SyncDependencies, SyncOptions } from '../../lambda/sync/engine.js';
import { SyncRun } from '../../lambda/sync/run.js';
import type { RunningSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import {
  recordingLogger,
  SIM_PASSWORD,
  SIM_USERNAME,
  startTestSimulator,
  storedKeys,
} from '../support/e2e.js';

vi.setConfig({ testTimeout: 120_000 });

let sim: RunningSimulator;
const clients: ConsoleClient[] = [];

beforeAll(async () => {
  sim = await startTestSimulator({ images: 120, seed: 'run-phases' });
});
afterAll(async () => {
  for (const client of clients) await client.close();
  await sim.close();
});

async function freshStores(): Promise<Stores> {
  const prefix = uniqueTablePrefix('phase');
  await createTestTables(localDynamoClient(), prefix);
  return createStores({ client: localDocumentClient(), tablePrefix: prefix, consoleId: 'phase-console' });
}

function newRun(
  stores: Stores,
  options: Partial<SyncOptions> = {},
  deps: Partial<Pick<SyncDependencies, 'now' | 'sleep'>> = {},
): SyncRun {
  const client = new ConsoleClient({
    baseUrl: sim.url,
    credentials: { username: SIM_USERNAME, password: SIM_PASSWORD },
    rateLimit: { requests: 10_000, windowMs: 1_000 },
    retry: { baseDelayMs: 10, maxDelayMs: 50 },
    logger: recordingLogger(),
  });
  clients.push(client);
  return new SyncRun(
    { client, stores, consoleId: 'phase-console', logger: recordingLogger(), ...deps },
    { trigger: 'test', scanWaitPollMs: 10, ...options },
  );
}

describe('phase 1: acquire the lease', () => {
  it('takes the lease, and a second run of the console is refused with sync.leaseHeld', async () => {
    const stores = await freshStores();
    await newRun(stores, { owner: 'one' }).acquireLease();
    expect(await stores.runs.currentLease()).toMatchObject({ owner: 'one' });
    await expect(newRun(stores, { owner: 'two' }).acquireLease()).rejects.toMatchObject({
      code: 'sync.leaseHeld',
      message: expect.stringContaining('one'),
    });
  });
});

describe('phase 2: resume or start', () => {
  it('creates a new running run when there is no checkpoint', async () => {
    const stores = await freshStores();
    const run = newRun(stores);
    await run.resume();
    expect(await stores.runs.getRun(run.runId)).toMatchObject({ status: 'running', trigger: 'test' });
    expect(run.result('partial')).toMatchObject({ resumed: false, invocations: 1 });
  });

  it("resumes the checkpoint's run with its figures", async () => {
    const stores = await freshStores();
    const first = cutRun(stores);
    await first.resume();
    const cut = await first.pageLoop();
    expect(cut?.status).toBe('partial');

    const second = newRun(stores);
    await second.resume();
    expect(second.runId).toBe(first.runId);
    expect(second.result('partial')).toMatchObject({ resumed: true, images: 50, pages: 1, invocations: 2 });
    // Nothing done yet in this invocation.
    expect(second.result('partial').invocation).toMatchObject({ images: 0, pages: 0 });
  });

  it('abandons a checkpoint older than 24 hours, records why, and starts a new run', async () => {
    const stores = await freshStores();
    const first = cutRun(stores);
    await first.resume();
    await first.pageLoop();

    const later = newRun(stores, {}, { now: () => Date.now() + DAY_MS + 60_000 });
    await later.resume();
    expect(later.runId).not.toBe(first.runId);
    expect(await stores.runs.getRun(first.runId)).toMatchObject({
      status: 'failed',
      error: 'abandoned: checkpoint older than the maximum age',
    });
    expect((await stores.runs.loadCheckpoint())?.runId).not.toBe(first.runId);
  });
});

describe('phase 3: the scan gate', () => {
  it('skips the run with skip while a scan is ongoing', async () => {
    const stores = await freshStores();
    sim.setScanProgress({
      regular: {
        ongoing: true,
        registries: [
          { registry: 'r.example', discovery: { total: 2, scanned: 1 }, imageScan: { total: 9, scanned: 1 } },
        ],
      },
    });
    try {
      const run = newRun(stores, { whenScanOngoing: 'skip' });
      await run.resume();
      expect(await run.scanGate()).toMatchObject({ status: 'skipped', scanOngoing: true });
      expect(await stores.runs.getRun(run.runId)).toMatchObject({ status: 'skipped' });
    } finally {
      sim.setScanProgress({ regular: { ongoing: false } });
    }
  });

  it('lets a resumed run that already paged through without asking the console', async () => {
    const stores = await freshStores();
    const first = cutRun(stores);
    await first.resume();
    await first.pageLoop();
    const before = sim.requestLog.length;
    const resumed = newRun(stores, { whenScanOngoing: 'skip' });
    await resumed.resume();
    expect(await resumed.scanGate()).toBeUndefined();
    expect(sim.requestLog.length).toBe(before);
  });
});

describe('phase 4: the page loop', () => {
  it('renews the lease while it pages', async () => {
    const stores = await freshStores();
    const ttlMs = 60_000;
    // Each page takes (on the engine's clock) half the lease's time to live.
    let skew = 0;
    const run = newRun(
      stores,
      {
        owner: 'pager',
        leaseTtlMs: ttlMs,
        onProgress: () => {
          skew += ttlMs / 2;
        },
      },
      { now: () => Date.now() + skew },
    );
    const renewals: string[] = [];
    const renewLease = stores.runs.renewLease.bind(stores.runs);
    stores.runs.renewLease = async (owner, ms) => {
      renewals.push(owner);
      await renewLease(owner, ms);
    };
    await run.acquireLease();
    await run.resume();
    expect(await run.pageLoop()).toBeUndefined();
    // Three pages: renewed after the second and the third (the first ended within a third of the TTL).
    expect(run.totals().pages).toBe(3);
    expect(renewals).toEqual(['pager', 'pager']);
    expect(await stores.runs.currentLease()).toMatchObject({ owner: 'pager' });
  });

  it('stops with partial and a checkpoint when a further page would not fit before the deadline', async () => {
    const stores = await freshStores();
    const run = cutRun(stores);
    await run.resume();
    const stopped = await run.pageLoop();
    expect(stopped).toMatchObject({ status: 'partial', reason: 'time budget', pages: 1 });
    expect(await stores.runs.loadCheckpoint()).toMatchObject({ runId: run.runId, pageIndex: 0 });
    expect(await stores.runs.getRun(run.runId)).toMatchObject({ status: 'partial', pages: 1, images: 50 });
  });
});

describe('phase 5: finish and sweep', () => {
  it('closes a complete pass, sweeps what it did not see and clears the checkpoint', async () => {
    const stores = await freshStores();
    const run = newRun(stores);
    await run.resume();
    await run.pageLoop();
    const result = await run.finish();
    expect(result).toMatchObject({ status: 'completed', images: 120, removed: 0 });
    expect(await stores.runs.loadCheckpoint()).toBeUndefined();
    expect(await stores.runs.getRun(run.runId)).toMatchObject({ status: 'completed', pagingComplete: true });
    expect(await storedKeys(stores)).toHaveLength(120);
  });
});

describe('phase 6: failure', () => {
  it('records an error on the run as failed and throws it again, keeping the checkpoint', async () => {
    const stores = await freshStores();
    const run = cutRun(stores);
    await run.resume();
    await run.pageLoop();
    const error = new SyncError('client.schema', 'page offset=50: not a list');
    await expect(run.fail(error)).rejects.toBe(error);
    expect(await stores.runs.getRun(run.runId)).toMatchObject({
      status: 'failed',
      error: 'client.schema: page offset=50: not a list',
    });
    expect(await stores.runs.loadCheckpoint()).toMatchObject({ runId: run.runId, pageIndex: 0 });
  });

  it('turns a console wait that would pass the deadline into partial', async () => {
    const stores = await freshStores();
    const run = newRun(stores);
    await run.resume();
    const result = await run.fail(new SyncError('client.deadline', 'the wait would pass the deadline'));
    expect(result).toMatchObject({ status: 'partial', reason: expect.stringContaining('time budget') });
    expect(await stores.runs.getRun(run.runId)).toMatchObject({ status: 'partial' });
  });
});

/**
 * A run whose page loop stops after its first committed page, deterministically: once the page is
 * done the engine's clock jumps to just before the deadline, so its own budget rule stops it.
 */
function cutRun(stores: Stores): SyncRun {
  const budgetMs = 3_600_000;
  let skew = 0;
  return newRun(
    stores,
    {
      deadline: Date.now() + budgetMs,
      onProgress: () => {
        skew = budgetMs;
      },
    },
    { now: () => Date.now() + skew },
  );
}
