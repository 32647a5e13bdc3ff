import { beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import type { Checkpoint } from '../../lambda/store/index.js';
import { seenKeyParts } from '../../lambda/store/run-store.js';
import { type Harness, harness, manualClock } from './support.js';

describe('RunStore lease', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('lease');
  });

  it('grants the lease, refuses a second owner until expiry, then lets it be stolen', async () => {
    const clock = manualClock('2024-06-01T00:00:00.000Z');
    const runs = h.storesFor('lease-console', { now: clock.now }).runs;
    expect(await runs.acquireLease({ owner: 'a', ttlMs: 60_000 })).toEqual({
      acquired: true,
      expiresAt: '2024-06-01T00:01:00.000Z',
    });
    clock.advance(30_000);
    expect(await runs.acquireLease({ owner: 'b', ttlMs: 60_000 })).toEqual({
      acquired: false,
      holder: 'a',
      expiresAt: '2024-06-01T00:01:00.000Z',
    });
    // The holder may re-acquire (idempotent) and renew.
    expect((await runs.acquireLease({ owner: 'a', ttlMs: 60_000 })).acquired).toBe(true);
    clock.advance(90_001);
    expect(await runs.currentLease()).toBeUndefined();
    expect(await runs.acquireLease({ owner: 'b', ttlMs: 60_000 })).toEqual({
      acquired: true,
      expiresAt: '2024-06-01T00:03:00.001Z',
    });
    await expect(runs.renewLease('a', 60_000)).rejects.toSatisfy((e) => isSyncError(e, 'store.leaseLost'));
  });

  it('renews the lease for its owner and releases only its own lease', async () => {
    const clock = manualClock('2024-06-01T00:00:00.000Z');
    const runs = h.storesFor('renew-console', { now: clock.now }).runs;
    await runs.acquireLease({ owner: 'a', ttlMs: 60_000 });
    clock.advance(50_000);
    await runs.renewLease('a', 60_000);
    expect(await runs.currentLease()).toEqual({ owner: 'a', expiresAt: '2024-06-01T00:01:50.000Z' });
    clock.advance(30_000);
    expect((await runs.acquireLease({ owner: 'b', ttlMs: 60_000 })).acquired).toBe(false);
    await runs.releaseLease('b');
    expect((await runs.currentLease())?.owner).toBe('a');
    await runs.releaseLease('a');
    expect(await runs.currentLease()).toBeUndefined();
    expect((await runs.acquireLease({ owner: 'b', ttlMs: 60_000 })).acquired).toBe(true);
  });

  it('keeps the leases of two consoles apart', async () => {
    const one = h.storesFor('lease-one').runs;
    const two = h.storesFor('lease-two').runs;
    expect((await one.acquireLease({ owner: 'a', ttlMs: 60_000 })).acquired).toBe(true);
    expect((await two.acquireLease({ owner: 'b', ttlMs: 60_000 })).acquired).toBe(true);
  });
});

describe('RunStore runs and checkpoints', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('runs');
  });

  const checkpoint = (
    runId: string,
    pageIndex: number,
    pagerState: unknown = { offset: pageIndex * 50 },
  ): Checkpoint => ({
    runId,
    pageIndex,
    pagerState,
    figures: { images: (pageIndex + 1) * 50, pages: pageIndex + 1 },
    startedAt: '2024-06-01T00:00:00.000Z',
    updatedAt: '2024-06-01T00:05:00.000Z',
  });

  it('creates, updates and reads a run record with the engine figures', async () => {
    const runs = h.storesFor('run-console').runs;
    await runs.createRun({
      runId: 'r1',
      startedAt: '2024-06-01T00:00:00.000Z',
      trigger: 'cli',
      options: { fresh: false },
    });
    await runs.updateRun('r1', {
      status: 'completed',
      pagingComplete: true,
      images: 120,
      written: 40,
      finishedAt: '2024-06-01T00:09:00.000Z',
    });
    expect(await runs.getRun('r1')).toMatchObject({
      consoleId: 'run-console',
      runId: 'r1',
      trigger: 'cli',
      options: { fresh: false },
      status: 'completed',
      pagingComplete: true,
      images: 120,
      written: 40,
    });
    await expect(
      runs.createRun({ runId: 'r1', startedAt: 'x', trigger: 'cli', options: {} }),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.runExists'));
    await expect(runs.updateRun('nope', { status: 'failed' })).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.runNotFound'),
    );
    expect(await runs.getRun('nope')).toBeUndefined();
  });

  it('commits a page and its checkpoint together, idempotently, and loads the checkpoint back', async () => {
    const runs = h.storesFor('ckpt-console').runs;
    await runs.createRun({ runId: 'r1', startedAt: '2024-06-01T00:00:00.000Z', trigger: 'cli', options: {} });
    const state = { offset: 50, totalCount: 1234, seenIds: ['a', 'b'], nested: { empty: '', nil: null } };
    expect(
      await runs.commitPage({
        runId: 'r1',
        pageIndex: 0,
        seenKeys: ['r/a:1', 'r/b:1'],
        checkpoint: checkpoint('r1', 0, state),
      }),
    ).toBe(2);
    expect(
      await runs.commitPage({
        runId: 'r1',
        pageIndex: 0,
        seenKeys: ['r/a:1', 'r/b:1'],
        checkpoint: checkpoint('r1', 0, state),
      }),
    ).toBe(2);
    expect(await runs.loadCheckpoint()).toEqual(checkpoint('r1', 0, state));
    await runs.commitPage({
      runId: 'r1',
      pageIndex: 1,
      seenKeys: ['r/c:1'],
      checkpoint: checkpoint('r1', 1),
    });
    expect((await runs.loadCheckpoint())?.pageIndex).toBe(1);
  });

  it('never lets an older page or another run overwrite the checkpoint', async () => {
    const runs = h.storesFor('conflict-console').runs;
    await runs.commitPage({ runId: 'r1', pageIndex: 3, seenKeys: [], checkpoint: checkpoint('r1', 3) });
    await expect(
      runs.commitPage({ runId: 'r1', pageIndex: 2, seenKeys: ['x/y:z'], checkpoint: checkpoint('r1', 2) }),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.checkpointConflict'));
    await expect(
      runs.commitPage({ runId: 'r2', pageIndex: 0, seenKeys: [], checkpoint: checkpoint('r2', 0) }),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.checkpointConflict'));
    // Clearing is per run: r2 cannot clear r1's checkpoint, r1 can.
    await runs.clearCheckpoint('r2');
    expect((await runs.loadCheckpoint())?.runId).toBe('r1');
    await runs.clearCheckpoint('r1');
    expect(await runs.loadCheckpoint()).toBeUndefined();
    await runs.commitPage({ runId: 'r2', pageIndex: 0, seenKeys: [], checkpoint: checkpoint('r2', 0) });
    expect((await runs.loadCheckpoint())?.runId).toBe('r2');
  });

  it('refuses a checkpoint too large for one item instead of failing inside the transaction', async () => {
    const runs = h.storesFor('big-ckpt-console').runs;
    const huge = checkpoint('r1', 0, { ids: 'x'.repeat(400_000) });
    await expect(
      runs.commitPage({ runId: 'r1', pageIndex: 0, seenKeys: [], checkpoint: huge }),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.checkpointTooLarge'));
    expect(await runs.loadCheckpoint()).toBeUndefined();
  });

  it('splits a page of very long seen keys over several items', () => {
    const keys = Array.from({ length: 10 }, (_, i) => `${String(i)}${'k'.repeat(100_000)}`);
    const parts = seenKeyParts(keys);
    expect(parts.flat()).toEqual(keys);
    // Two ~100 KB keys per item (300 KB budget).
    expect(parts.length).toBe(5);
  });
});
