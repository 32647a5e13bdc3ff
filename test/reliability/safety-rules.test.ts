/**
 * The four safety rules a one-line slip can break without any other test noticing (issue #21), each
 * tested through a public, behavioural surface so it survives refactoring of the code behind it:
 *
 * - the sweep's own guard: a run that has not paged through the complete result set may not remove
 *   anything, whatever its status says (ImageStore's sweep, DynamoDB Local);
 * - the freshness rule: a report with the same scan time but changed content replaces the stored
 *   one (only an older scan is stale) (ImageStore's page write);
 * - the lease: a run longer than its lease keeps it, so no second run can start beside it (the
 *   engine against a slow simulator);
 * - the checkpoint age: a checkpoint older than 24 hours is abandoned for a full pass, a younger one
 *   resumed (the engine with its clock moved forward).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { normalizeReport } from '../../lambda/normalize/index.js';
import { runSync, type SyncResult } from '../../lambda/sync/engine.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { createTestTables, localDocumentClient, uniqueTablePrefix } from '../support/dynamo.js';
import { registryGetCount } from '../support/e2e.js';
import {
  capturingLogger,
  errorCode,
  fastClient,
  pagesFor,
  parseImageKey,
  storesOf,
  syncOnce,
} from './support.js';

const HOUR_MS = 60 * 60 * 1000;
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  doc = localDocumentClient();
});
afterAll(() => {
  doc?.destroy();
});

/** Tables under a fresh prefix and the stores of one console over them. */
async function freshStores(label: string, consoleId: string) {
  const prefix = uniqueTablePrefix(label);
  await createTestTables(doc, prefix);
  return storesOf(doc, prefix, consoleId);
}

/** A raw console report as a page write takes it: normalized, with its JSON text. */
function pageEntry(raw: unknown, consoleId: string) {
  return { normalized: normalizeReport(raw, { consoleId }), rawJson: JSON.stringify(raw) };
}

describe('the safety rules', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ images: 12, seed: 'safety', rateLimit: false, heavyFraction: 0 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('refuses a sweep for a running run that has not paged completely, and sweeps once it has', async () => {
    const consoleId = 'safety-sweep';
    const stores = await freshStores('safety-sweep', consoleId);
    const keys = sim.truth.present().slice(0, 3);
    await stores.runs.createRun({
      runId: 'run-1',
      startedAt: new Date().toISOString(),
      trigger: 'test',
      options: {},
    });
    await stores.images.writeReports(
      keys.map((key) => pageEntry(sim.truth.report(key), consoleId)),
      { runId: 'run-1', seenAt: new Date().toISOString() },
    );
    expect(await stores.queries.images({})).toHaveLength(3);

    // A second run that is running (status says nothing wrong) but has not seen the whole result set.
    await stores.runs.createRun({
      runId: 'run-2',
      startedAt: new Date().toISOString(),
      trigger: 'test',
      options: {},
    });
    const refused = await stores.images.sweepRemoved('run-2').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isSyncError(refused, 'store.sweepRefused'), `sweep not refused: ${String(refused)}`).toBe(true);
    expect(await stores.queries.images({}), 'nothing removed by a refused sweep').toHaveLength(3);

    // The same run once it has paged completely: it saw none of the three, so all three go.
    await stores.runs.updateRun('run-2', { pagingComplete: true });
    const swept = await stores.images.sweepRemoved('run-2');
    expect(swept.removed).toBe(3);
    expect(await stores.queries.images({})).toHaveLength(0);
  });

  it('replaces a stored report by a changed one with the same scan time, and skips an older one', async () => {
    const consoleId = 'safety-fresh';
    const stores = await freshStores('safety-fresh', consoleId);
    const key = sim.truth
      .present()
      .find(
        (k) => ((sim.truth.report(k) as { vulnerabilities?: unknown[] }).vulnerabilities ?? []).length >= 2,
      );
    expect(key, 'an image with at least two vulnerabilities').toBeDefined();
    const original = sim.truth.report(key!) as { vulnerabilities: unknown[]; scanTime: string };
    const context = { runId: 'run-fresh', seenAt: new Date().toISOString() };
    await stores.runs.createRun({
      runId: 'run-fresh',
      startedAt: context.seenAt,
      trigger: 'test',
      options: {},
    });
    const first = await stores.images.writeReports([pageEntry(original, consoleId)], context);
    expect(first.images.map((i) => i.outcome)).toEqual(['new']);

    // The console re-serves the image with one vulnerability fewer and the same scanTime.
    const changed = { ...original, vulnerabilities: original.vulnerabilities.slice(1) };
    const expected = pageEntry(changed, consoleId).normalized;
    const second = await stores.images.writeReports([pageEntry(changed, consoleId)], context);
    expect(second.images.map((i) => i.outcome)).toEqual(['changed']);
    const stored = await stores.queries.image(parseImageKey(key!));
    expect(stored?.contentHash).toBe(expected.image.contentHash);
    expect(stored?.findings.map((f) => f.id).sort()).toEqual(expected.findings.map((f) => f.id).sort());

    // An older scan of the original content never overwrites it.
    const older = { ...original, scanTime: new Date(Date.parse(original.scanTime) - HOUR_MS).toISOString() };
    const third = await stores.images.writeReports([pageEntry(older, consoleId)], context);
    expect(third.images.map((i) => i.outcome)).toEqual(['stale']);
    expect((await stores.queries.image(parseImageKey(key!)))?.contentHash).toBe(expected.image.contentHash);
  });
});

/**
 * A second run that keeps asking for the console's lease, from the moment the first run holds it
 * (before that a second run may rightly start) until `stop`: when it got it (ms after `started`)
 * while the first run still held it. A lease got once the first run began releasing it (its last
 * step) is rightly the second run's, not stolen.
 */
function secondRun(
  stores: Awaited<ReturnType<typeof freshStores>>,
  started: number,
): { stop(): Promise<{ stolen: number[]; attempts: number }> } {
  let running = true;
  let attempts = 0;
  let releasing: number | undefined;
  const release = stores.runs.releaseLease.bind(stores.runs);
  stores.runs.releaseLease = async (owner: string) => {
    releasing ??= Date.now();
    return await release(owner);
  };
  const stolen: number[] = [];
  const trying = (async () => {
    while (running && (await stores.runs.currentLease()) === undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
    while (running) {
      const lease = await stores.runs.acquireLease({ owner: 'second-run', ttlMs: 60_000 });
      attempts += 1;
      if (lease.acquired) {
        if (releasing === undefined) stolen.push(Date.now() - started);
        return;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    async stop() {
      running = false;
      await trying;
      stores.runs.releaseLease = release;
      return { stolen, attempts };
    },
  };
}

describe('the lease of a long run', { timeout: 240_000 }, () => {
  it('keeps its lease through one page slower than the lease itself', async () => {
    const consoleId = 'safety-lease-slow-page';
    const sim = await startSimulator({ images: 60, seed: 'lease-slow', rateLimit: false, heavyFraction: 0 });
    try {
      const stores = await freshStores('safety-lease-slow', consoleId);
      // One GET answers after 5 s, longer than the 2 s lease: only renewal during the wait holds it.
      sim.setFaults({
        scripted: [{ at: registryGetCount(sim) + 2, fault: { kind: 'slow' as const, ms: 5_000 } }],
      });
      const started = Date.now();
      const competitor = secondRun(stores, started);
      const outcome = await syncOnce(sim, stores, consoleId, { sync: { leaseTtlMs: 2_000 } });
      const { stolen } = await competitor.stop();
      expect(stolen, 'a second run took the lease during the slow page (ms into the run)').toEqual([]);
      expect(outcome.result?.status, `${errorCode(outcome)}: ${String(outcome.error)}`).toBe('completed');
      expect(Date.now() - started, 'the slow page outlasted the lease').toBeGreaterThan(5_000);
    } finally {
      await sim.close();
    }
  });

  it('keeps a second run from starting while a run longer than its lease is paging', async () => {
    const consoleId = 'safety-lease';
    const images = 150;
    const sim = await startSimulator({ images, seed: 'lease', rateLimit: false, heavyFraction: 0 });
    try {
      const stores = await freshStores('safety-lease', consoleId);
      // A first pass writes everything, so the timed pass below is console-bound, not write-bound.
      expect((await syncOnce(sim, stores, consoleId)).result?.status).toBe('completed');

      // Every GET of the next pass answers after 1.8 s: four pages, well over the 4 s lease.
      const gets = registryGetCount(sim);
      const pages = pagesFor(images);
      sim.setFaults({
        scripted: Array.from({ length: pages + 2 }, (_, i) => ({
          at: gets + 1 + i,
          fault: { kind: 'slow' as const, ms: 1_800 },
        })),
      });
      const leaseTtlMs = 4_000;
      const started = Date.now();
      const competitor = secondRun(stores, started);
      const outcome = await syncOnce(sim, stores, consoleId, { sync: { leaseTtlMs } });
      const { stolen, attempts } = await competitor.stop();
      sim.setFaults({});
      const elapsed = Date.now() - started;
      expect(stolen, 'a second run took the lease while the first was paging (ms into the run)').toEqual([]);
      expect(outcome.result?.status, `${errorCode(outcome)}: ${String(outcome.error)}`).toBe('completed');
      expect(elapsed, 'the run outlived its lease several times over').toBeGreaterThan(leaseTtlMs + 1_000);
      expect(attempts, 'the second run kept trying during the whole run').toBeGreaterThan(10);
    } finally {
      await sim.close();
    }
  });
});

describe('the age of a checkpoint', { timeout: 180_000 }, () => {
  /** A run stopped by its time budget after its first page: a checkpoint is left for the next one. */
  async function partialRun(sim: RunningSimulator, stores: ReturnType<typeof storesOf>, consoleId: string) {
    const outcome = await syncOnce(sim, stores, consoleId, { sync: { deadline: Date.now() + 4_000 } });
    expect(outcome.result?.status).toBe('partial');
    const checkpoint = await stores.runs.loadCheckpoint();
    expect(checkpoint?.runId).toBe(outcome.result?.runId);
    return outcome.result!;
  }

  /** The next run, on a clock `aheadMs` later than the real one. */
  async function runLater(
    sim: RunningSimulator,
    stores: ReturnType<typeof storesOf>,
    consoleId: string,
    aheadMs: number,
  ): Promise<SyncResult> {
    const client = fastClient(sim);
    try {
      return await runSync(
        { client, stores, consoleId, logger: capturingLogger(), now: () => Date.now() + aheadMs },
        { trigger: 'test', leaseTtlMs: 60_000 },
      );
    } finally {
      await client.close();
    }
  }

  it('resumes a checkpoint of 23 hours and abandons one of 25 hours for a full pass', async () => {
    const consoleId = 'safety-age';
    const images = 160;
    const sim = await startSimulator({ images, seed: 'age', rateLimit: false, heavyFraction: 0 });
    try {
      const stores = await freshStores('safety-age', consoleId);
      const young = await partialRun(sim, stores, consoleId);
      const resumed = await runLater(sim, stores, consoleId, 23 * HOUR_MS);
      expect(resumed).toMatchObject({ status: 'completed', resumed: true, runId: young.runId, images });

      const old = await partialRun(sim, stores, consoleId);
      const fresh = await runLater(sim, stores, consoleId, 25 * HOUR_MS);
      expect(fresh.status).toBe('completed');
      expect(fresh.resumed, 'a day-old checkpoint is not resumed').toBe(false);
      expect(fresh.runId).not.toBe(old.runId);
      // A full pass from offset 0: every image read by this run alone.
      expect(fresh.images).toBe(images);
      expect(fresh.pages).toBe(pagesFor(images));
      expect((await stores.runs.getRun(old.runId))?.status).toBe('failed');
      expect(await stores.runs.loadCheckpoint()).toBeUndefined();
    } finally {
      await sim.close();
    }
  });
});
