/**
 * The write planner's less travelled paths, without DynamoDB: an interrupted write or sweep whose
 * transitions must be announced again with the same change (same key, same times, same kind), a
 * finding resolved earlier that must not be resolved twice, lifecycle fields carried through a
 * rewrite, the raw report stored once per content, and the exact edges of the scan-time skew.
 */
import { describe, expect, it } from 'vitest';
import type { NormalizedReport } from '../../lambda/common/records.js';
import {
  decodeChanges,
  decodeFinding,
  decodeImage,
  type FindingItem,
  type StoredImage,
} from '../../lambda/store/items.js';
import {
  announcedChange,
  classify,
  type PlanContext,
  planRemoval,
  planWrite,
  type WritePlan,
} from '../../lambda/store/planner.js';
import { finding, rawOf, report } from './support.js';

const ctx = (seenAt: string, runId = `run@${seenAt}`): PlanContext => ({
  runId,
  seenAt,
  nowMs: Date.parse(seenAt),
  scanTimeSkewMs: 10 * 60 * 1000,
});

interface Stored {
  image: StoredImage | undefined;
  findings: FindingItem[];
}

const nothing: Stored = { image: undefined, findings: [] };

const write = (r: NormalizedReport, stored: Stored, c: PlanContext): WritePlan =>
  planWrite({ report: r, rawJson: rawOf(r), stored: stored.image, storedFindings: stored.findings, ctx: c });

/** The finding items a plan wrote, merged over the stored ones (decoded as a read returns them). */
function findingsAfter(plan: { findings: FindingItem[] }, stored: Stored): FindingItem[] {
  const bySk = new Map(stored.findings.map((f) => [f.sk, f]));
  for (const f of plan.findings) bySk.set(f.sk, decodeFinding({ ...f }));
  return [...bySk.values()];
}

/** The plan fully committed: its image item and its findings. */
const committed = (plan: WritePlan, stored: Stored): Stored => ({
  image: decodeImage({ ...plan.image }) as StoredImage,
  findings: findingsAfter(plan, stored),
});

/** Only the finding items landed: the image item of the plan never committed (a crash). */
const findingsOnly = (plan: { findings: FindingItem[] }, stored: Stored): Stored => ({
  image: stored.image,
  findings: findingsAfter(plan, stored),
});

const a = finding('CVE-A');
const b = finding('CVE-B');

describe('an interrupted write is announced again exactly as first written', () => {
  it('announces a resolution again as resolved, at its first time and observed time', () => {
    const first = committed(
      write(
        report({ scanTime: '2024-05-01T00:00:00.000Z', findings: [a, b] }),
        nothing,
        ctx('2024-06-01T00:00:00.000Z'),
      ),
      nothing,
    );
    const fixed = report({ scanTime: '2024-05-02T00:00:00.000Z', findings: [a] });
    const crashed = write(fixed, first, ctx('2024-06-02T00:00:00.000Z'));
    expect(crashed.changes).toHaveLength(1);
    const rerun = write(fixed, findingsOnly(crashed, first), ctx('2024-06-02T00:05:00.000Z'));
    expect(rerun.transitions).toMatchObject({ resolved: 0, reannounced: 1 });
    expect(rerun.findings).toEqual([]);
    expect(rerun.changes).toEqual([{ ...crashed.changes[0], runId: 'run@2024-06-02T00:05:00.000Z' }]);
    expect(rerun.changes[0]).toMatchObject({
      change: 'resolved',
      at: '2024-06-02T00:00:00.000Z',
      observedAt: '2024-05-02T00:00:00.000Z',
    });
    expect(rerun.changes[0]?.findings[0]?.reason).toBeUndefined();
  });

  it('announces a new finding again with the observed time of its first write', () => {
    const r = report({ scanTime: '2024-05-01T00:00:00.000Z', findings: [a] });
    const crashed = write(r, nothing, ctx('2024-06-01T00:00:00.000Z'));
    const rerun = write(r, findingsOnly(crashed, nothing), ctx('2024-06-01T00:05:00.000Z'));
    expect(rerun.changes).toEqual([{ ...crashed.changes[0], runId: 'run@2024-06-01T00:05:00.000Z' }]);
    expect(rerun.changes[0]).toMatchObject({
      change: 'new',
      at: '2024-06-01T00:00:00.000Z',
      observedAt: '2024-05-01T00:00:00.000Z',
    });
  });

  it('keeps the first change key through a second interrupted write that rewrote the finding', () => {
    const first = write(
      report({ findings: [finding('CVE-C', { status: 'open' })] }),
      nothing,
      ctx('2024-06-01T00:00:00.000Z'),
    );
    const afterFirst = findingsOnly(first, nothing);
    // The re-run sees the finding changed (a new status) and crashes again before its image item.
    const second = write(
      report({ findings: [finding('CVE-C', { status: 'fixed in 2' })] }),
      afterFirst,
      ctx('2024-06-01T01:00:00.000Z'),
    );
    expect(second.transitions).toMatchObject({ changed: 1, reannounced: 1 });
    expect(second.findings[0]).toMatchObject({
      changeAt: '2024-06-01T00:00:00.000Z',
      updatedAt: '2024-06-01T01:00:00.000Z',
    });
    const third = write(
      report({ findings: [finding('CVE-C', { status: 'fixed in 2' })] }),
      findingsOnly(second, afterFirst),
      ctx('2024-06-01T02:00:00.000Z'),
    );
    expect(third.transitions).toMatchObject({ reannounced: 1, changed: 0 });
    expect(third.changes.map((c) => [c.sk, c.at])).toEqual(first.changes.map((c) => [c.sk, c.at]));
  });

  it('announces an interrupted sweep again as imageRemoved, and resolves nothing twice', () => {
    const first = committed(
      write(report({ findings: [a, b] }), nothing, ctx('2024-06-01T00:00:00.000Z')),
      nothing,
    );
    const image = first.image as StoredImage;
    const sweep = planRemoval(image, first.findings, 'console-a', 'run-2', '2024-06-05T00:00:00.000Z');
    expect(sweep.condition).toEqual({ contentHash: image.contentHash, scanTimeKey: image.scanTimeKey });
    // The resolved findings landed; the image item was never marked removed. The next sweep:
    const left = findingsAfter(sweep, first);
    const again = planRemoval(image, left, 'console-a', 'run-3', '2024-06-06T00:00:00.000Z');
    expect(again.findings).toEqual([]);
    expect(again.changes).toEqual(sweep.changes.map((c) => ({ ...c, runId: 'run-3' })));
    for (const change of again.changes.flatMap((item) => decodeChanges({ ...item })))
      expect(change).toMatchObject({
        change: 'resolved',
        reason: 'imageRemoved',
        at: '2024-06-05T00:00:00.000Z',
      });
    expect(announcedChange(left[0] as FindingItem).reason).toBe('imageRemoved');
  });
});

describe('finding lifecycle fields', () => {
  it('does not resolve again a finding already resolved and still absent', () => {
    const first = committed(
      write(
        report({ scanTime: '2024-05-01T00:00:00.000Z', findings: [a, b] }),
        nothing,
        ctx('2024-06-01T00:00:00.000Z'),
      ),
      nothing,
    );
    const second = committed(
      write(
        report({ scanTime: '2024-05-02T00:00:00.000Z', findings: [a] }),
        first,
        ctx('2024-06-02T00:00:00.000Z'),
      ),
      first,
    );
    const third = write(
      report({ scanTime: '2024-05-03T00:00:00.000Z', findings: [] }),
      second,
      ctx('2024-06-03T00:00:00.000Z'),
    );
    expect(third.transitions).toMatchObject({ resolved: 1, reannounced: 0 });
    expect(third.findings.map((f) => f.id)).toEqual(['CVE-A']);
    expect(third.changes.flatMap((item) => decodeChanges({ ...item })).map((c) => [c.change, c.id])).toEqual([
      ['resolved', 'CVE-A'],
    ]);
  });

  it('keeps lastResolvedAt and changeAt of a reopened finding when its content changes later', () => {
    const s1 = committed(
      write(
        report({ scanTime: '2024-05-01T00:00:00.000Z', findings: [a, b] }),
        nothing,
        ctx('2024-06-01T00:00:00.000Z'),
      ),
      nothing,
    );
    const s2 = committed(
      write(
        report({ scanTime: '2024-05-02T00:00:00.000Z', findings: [a] }),
        s1,
        ctx('2024-06-02T00:00:00.000Z'),
      ),
      s1,
    );
    const s3 = committed(
      write(
        report({ scanTime: '2024-05-03T00:00:00.000Z', findings: [a, b] }),
        s2,
        ctx('2024-06-03T00:00:00.000Z'),
      ),
      s2,
    );
    const changedB = finding('CVE-B', { status: 'fixed in 9' });
    const plan = write(
      report({ scanTime: '2024-05-04T00:00:00.000Z', findings: [a, changedB] }),
      s3,
      ctx('2024-06-04T00:00:00.000Z'),
    );
    expect(plan.transitions).toMatchObject({ changed: 1, new: 0, reopened: 0 });
    expect(plan.findings[0]).toMatchObject({
      id: 'CVE-B',
      status: 'fixed in 9',
      firstSeen: '2024-05-03T00:00:00.000Z',
      occurrences: 2,
      lastResolvedAt: '2024-05-02T00:00:00.000Z',
      changeAt: '2024-06-03T00:00:00.000Z',
      updatedAt: '2024-06-04T00:00:00.000Z',
    });
  });
});

describe('the image item, its history and its raw report', () => {
  it('keeps the first firstSeenAt, and points history and image at the raw report it writes', () => {
    const first = committed(
      write(report({ findings: [a] }), nothing, ctx('2024-06-01T00:00:00.000Z')),
      nothing,
    );
    const plan = write(
      report({ scanTime: '2024-05-09T00:00:00.000Z', findings: [a, b] }),
      first,
      ctx('2024-06-09T00:00:00.000Z'),
    );
    expect(plan.outcome).toBe('changed');
    expect(plan.image.firstSeenAt).toBe('2024-05-01T10:00:00.000Z');
    expect(plan.raw.length).toBeGreaterThan(0);
    expect(plan.image.raw).toEqual({
      contentHash: plan.image.contentHash,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      chunks: plan.raw.length,
      byteLength: Buffer.byteLength(
        rawOf(report({ scanTime: '2024-05-09T00:00:00.000Z', findings: [a, b] })),
      ),
    });
    expect(plan.history).toMatchObject({
      type: 'history',
      observedAt: '2024-05-09T00:00:00.000Z',
      seenAt: '2024-06-09T00:00:00.000Z',
      runId: 'run@2024-06-09T00:00:00.000Z',
      raw: plan.image.raw,
    });
  });

  it('reuses the stored raw report of a removed image back with the same content, and writes a missing one', () => {
    const r = report({ findings: [a] });
    const first = committed(write(r, nothing, ctx('2024-06-01T00:00:00.000Z')), nothing);
    const image = first.image as StoredImage;
    const removed: Stored = {
      ...first,
      image: { ...image, removed: true, removedAt: '2024-06-05T00:00:00.000Z' },
    };
    const back = write(r, removed, ctx('2024-06-06T00:00:00.000Z'));
    expect(back.outcome).toBe('new');
    expect(back.raw).toEqual([]);
    expect(back.image.raw).toEqual(image.raw);
    expect(back.image.lastRemovedAt).toBe('2024-06-05T00:00:00.000Z');

    const { raw: _raw, ...withoutRaw } = removed.image as StoredImage;
    const rewritten = write(
      r,
      { ...removed, image: withoutRaw as StoredImage },
      ctx('2024-06-06T00:00:00.000Z'),
    );
    expect(rewritten.raw.length).toBeGreaterThan(0);
    expect(rewritten.image.raw?.chunks).toBe(rewritten.raw.length);
  });
});

describe('the scan-time skew, at its edges', () => {
  const now = '2024-06-01T00:00:00.000Z';

  it('trusts a scan time exactly at now + skew and distrusts one a millisecond later, saying by how much', () => {
    const edge = write(report({ scanTime: '2024-06-01T00:10:00.000Z' }), nothing, ctx(now));
    expect(edge.image.scanTimeKey).toBe('2024-06-01T00:10:00.000Z');
    expect(edge.image.warnings).toBeUndefined();
    const past = write(report({ scanTime: '2024-06-01T00:10:00.001Z' }), nothing, ctx(now));
    expect(past.image.scanTimeKey).toBe(now);
    expect(past.image.warnings).toEqual([
      `scanTime 2024-06-01T00:10:00.001Z is more than 10 min ahead of the sync's clock; ordered at its detection time ${now}`,
    ]);
  });

  it('quotes at most 40 characters of a distrusted scan time in its warning (the console chose the text)', () => {
    // A form Date.parse reads although it is long: the warning must not carry console text unbounded.
    const long = 'Fri Dec 31 9999 00:00:00 GMT+0000 (Coordinated Universal Time)';
    const plan = write(report({ scanTime: long }), nothing, ctx(now));
    expect(plan.image.scanTimeKey).toBe(now);
    expect(plan.image.warnings?.[0]).toBe(
      `scanTime ${long.slice(0, 40)} is more than 10 min ahead of the sync's clock; ordered at its detection time ${now}`,
    );
  });

  it('lets a stored ordering time within the skew (even exactly at its edge) keep an older report out', () => {
    const stored = committed(write(report(), nothing, ctx(now)), nothing).image as StoredImage;
    const older = report({ scanTime: '2024-05-31T00:00:00.000Z', findings: [] });
    for (const key of ['2024-06-01T00:05:00.000Z', '2024-06-01T00:10:00.000Z']) {
      expect(classify(older, { ...stored, scanTimeKey: key }, ctx(now)), key).toBe('stale');
    }
    expect(classify(older, { ...stored, scanTimeKey: '2024-06-01T00:10:00.001Z' }, ctx(now))).toBe('write');
  });
});
