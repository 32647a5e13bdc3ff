import { beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import type { Stores } from '../../lambda/store/index.js';
import { finding, type Harness, harness, input, manualClock, report } from './support.js';

const REGISTRY = 'registry.example.com';
const key = (repo: string) => ({ registry: REGISTRY, repo, tag: 'latest' });
const keyString = (repo: string) => `${REGISTRY}/${repo}:latest`;

/** One run that writes `repos` in one page and commits what it saw. */
async function runOnce(
  stores: Stores,
  runId: string,
  repos: string[],
  at: string,
  complete = true,
): Promise<void> {
  // As the engine does: a new run first discards an unfinished run's checkpoint.
  const unfinished = await stores.runs.loadCheckpoint();
  if (unfinished) await stores.runs.clearCheckpoint(unfinished.runId);
  await stores.runs.createRun({ runId, startedAt: at, trigger: 'test', options: {} });
  const consoleId = stores.queries.consoleId;
  const reports = repos.map((repo) =>
    report({ consoleId, repo, findings: [finding(`CVE-${repo}`), finding('CVE-SHARED')] }),
  );
  await stores.images.writeReports(reports.map(input), { runId, seenAt: at });
  await stores.runs.commitPage({
    runId,
    pageIndex: 0,
    seenKeys: repos.map(keyString),
    checkpoint: {
      runId,
      pageIndex: 0,
      pagerState: { offset: 50 },
      figures: {},
      startedAt: at,
      updatedAt: at,
    },
  });
  if (complete) await stores.runs.updateRun(runId, { pagingComplete: true });
}

describe('ImageStore.sweepRemoved', () => {
  let h: Harness;
  let stores: Stores;
  const clock = manualClock('2024-06-10T00:00:00.000Z');
  beforeAll(async () => {
    h = await harness('sweep');
    stores = h.storesFor('sweep-console', { now: clock.now });
    await runOnce(stores, 'run-1', ['keep/a', 'keep/b', 'gone/c'], '2024-06-01T00:00:00.000Z');
  });

  it('refuses to remove anything for an unknown run or a run that did not page completely', async () => {
    await expect(stores.images.sweepRemoved('no-such-run')).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.sweepRefused'),
    );
    await runOnce(stores, 'run-partial', ['keep/a'], '2024-06-02T00:00:00.000Z', false);
    await stores.runs.updateRun('run-partial', { status: 'partial' });
    await expect(stores.images.sweepRemoved('run-partial')).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.sweepRefused'),
    );
    await stores.runs.updateRun('run-partial', { status: 'failed', pagingComplete: true });
    await expect(stores.images.sweepRemoved('run-partial')).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.sweepRefused'),
    );
    expect((await stores.queries.images()).map((i) => i.repo)).toEqual(['gone/c', 'keep/a', 'keep/b']);
  });

  it('marks the images a complete run did not see as removed, keeping their history', async () => {
    await runOnce(stores, 'run-2', ['keep/a', 'keep/b'], '2024-06-03T00:00:00.000Z');
    const result = await stores.images.sweepRemoved('run-2');
    // 1 image update + its 2 open findings resolved + 1 change-feed item listing both.
    expect(result).toEqual({ removed: 1, itemsWritten: 4 });

    expect((await stores.queries.images()).map((i) => i.repo)).toEqual(['keep/a', 'keep/b']);
    const gone = await stores.queries.image(key('gone/c'));
    expect(gone).toMatchObject({ removed: true, removedAt: '2024-06-10T00:00:00.000Z', findings: [] });
    expect(await stores.queries.history(key('gone/c'))).toHaveLength(1);
    expect((await stores.queries.cve('CVE-SHARED')).map((hit) => hit.repo).sort()).toEqual([
      'keep/a',
      'keep/b',
    ]);
    expect(await stores.queries.cve('CVE-gone/c')).toEqual([]);
    const resolved = (await stores.queries.changes('2024-06-05T00:00:00.000Z')).filter(
      (c) => c.change === 'resolved',
    );
    expect(resolved.map((c) => [c.id, c.repo, c.reason])).toEqual([
      ['CVE-SHARED', 'gone/c', 'imageRemoved'],
      ['CVE-gone/c', 'gone/c', 'imageRemoved'],
    ]);
    // A second sweep of the same run changes nothing.
    expect(await stores.images.sweepRemoved('run-2')).toEqual({ removed: 0, itemsWritten: 0 });
  });

  it('brings a removed image back as new when it reappears', async () => {
    await runOnce(stores, 'run-3', ['keep/a', 'keep/b', 'gone/c'], '2024-06-11T00:00:00.000Z');
    const back = await stores.queries.image(key('gone/c'));
    expect(back?.removed).toBe(false);
    expect(back?.findings.map((f) => f.id).sort()).toEqual(['CVE-SHARED', 'CVE-gone/c']);
    expect((await stores.queries.images()).map((i) => i.repo)).toEqual(['gone/c', 'keep/a', 'keep/b']);
    expect(await stores.images.sweepRemoved('run-3')).toEqual({ removed: 0, itemsWritten: 0 });
  });

  it('never removes images of another console', async () => {
    const other = h.storesFor('sweep-other');
    await runOnce(other, 'other-1', ['theirs/x'], '2024-06-01T00:00:00.000Z');
    await runOnce(stores, 'run-4', ['keep/a'], '2024-06-12T00:00:00.000Z');
    expect((await stores.images.sweepRemoved('run-4')).removed).toBe(2);
    expect((await other.queries.images()).map((i) => i.repo)).toEqual(['theirs/x']);
  });
});
