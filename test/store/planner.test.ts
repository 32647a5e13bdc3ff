import { describe, expect, it } from 'vitest';
import type { NormalizedReport } from '../../lambda/common/records.js';
import {
  CHANGE_PART_BYTES,
  type ChangeItem,
  canonicalTime,
  changeItems,
  decodeChanges,
  decodeFinding,
  decodeImage,
  type FindingItem,
  type StoredImage,
} from '../../lambda/store/items.js';
import {
  classify,
  newestPerImage,
  type PlanContext,
  planRemoval,
  planTouch,
  planWrite,
} from '../../lambda/store/planner.js';
import { finding, rawOf, report } from './support.js';

/** The single changes of a plan's change items, as every reader decodes them. */
const changesOf = (items: readonly ChangeItem[]) => items.flatMap((item) => decodeChanges({ ...item }));

const ctx = (seenAt = '2024-06-01T00:00:00.000Z', runId = 'run-1'): PlanContext => ({
  runId,
  seenAt,
  nowMs: Date.parse(seenAt),
  scanTimeSkewMs: 10 * 60 * 1000,
});

/** What the store holds after a plan was committed: its image item and its finding items, decoded. */
function committed(plan: ReturnType<typeof planWrite>, earlier: readonly FindingItem[] = []) {
  const bySk = new Map(earlier.map((f) => [f.sk, f]));
  for (const f of plan.findings) bySk.set(f.sk, decodeFinding({ ...f }));
  return { image: decodeImage({ ...plan.image }) as StoredImage, findings: [...bySk.values()] };
}

const write = (r: NormalizedReport, stored: ReturnType<typeof committed> | undefined, c = ctx()) =>
  planWrite({
    report: r,
    rawJson: rawOf(r),
    stored: stored?.image,
    storedFindings: stored?.findings ?? [],
    ctx: c,
  });

describe('write planner: the finding lifecycle without DynamoDB', () => {
  it('plans a new image: every finding new with a change, one history, the raw report, the image item', () => {
    const plan = write(report({ repo: 'p/new' }), undefined);
    expect(plan.outcome).toBe('new');
    expect(plan.transitions).toMatchObject({ new: 2, resolved: 0, changed: 0, reopened: 0 });
    expect(changesOf(plan.changes).map((c) => [c.change, c.id, c.at])).toEqual([
      ['new', 'CVE-2024-0001', '2024-06-01T00:00:00.000Z'],
      ['new', 'CVE-2024-0002', '2024-06-01T00:00:00.000Z'],
    ]);
    expect(plan.findings.every((f) => f.firstSeen === '2024-05-01T10:00:00.000Z' && f.vulnPk)).toBe(true);
    expect(plan.raw).toHaveLength(1);
    expect(plan.condition.scanTimeKey).toBe('2024-05-01T10:00:00.000Z');
  });

  it('tells unchanged, rescanned, older and changed reports apart, whatever the time format', () => {
    const r = report({ scanTime: '2024-05-01T10:00:00.000Z' });
    const stored = committed(write(r, undefined)).image;
    expect(classify(r, undefined, ctx())).toBe('write');
    expect(classify(r, stored, ctx())).toBe('unchanged');
    expect(classify(report({ scanTime: '2024-05-01T12:00:00+02:00' }), stored, ctx())).toBe('unchanged');
    expect(classify(report({ scanTime: '2024-05-02T10:00:00Z' }), stored, ctx())).toBe('touch');
    expect(classify(report({ scanTime: '2024-04-30T10:00:00Z' }), stored, ctx())).toBe('stale');
    expect(classify(report({ findings: [] }), stored, ctx())).toBe('write');
    expect(classify(r, { ...stored, removed: true }, ctx())).toBe('write');
    expect(classify(report({ scanTime: null }), stored, ctx())).toBe('stale');
  });

  it('writes the same scan time with other content (the freshness rule is <=, not <)', () => {
    const r = report({ scanTime: '2024-05-01T10:00:00.000Z' });
    const stored = committed(write(r, undefined)).image;
    expect(classify(report({ scanTime: '2024-05-01T10:00:00.000Z', findings: [] }), stored, ctx())).toBe(
      'write',
    );
  });

  it('touches only the scan time of a rescan with the same content', () => {
    const touch = planTouch(report({ scanTime: '2024-05-02T10:00:00Z' }), 'pk', ctx());
    expect(touch).toMatchObject({
      scanTimeKey: '2024-05-02T10:00:00.000Z',
      lastScannedAt: '2024-05-02T10:00:00.000Z',
    });
  });

  it('rewrites a changed finding without a change item and keeps its firstSeen', () => {
    const first = committed(write(report({ findings: [finding('CVE-S', { status: 'open' })] }), undefined));
    const plan = write(
      report({
        scanTime: '2024-05-09T00:00:00.000Z',
        findings: [finding('CVE-S', { status: 'fixed in 2' })],
      }),
      first,
      ctx('2024-06-02T00:00:00.000Z'),
    );
    expect(plan.outcome).toBe('changed');
    expect(plan.transitions).toMatchObject({ changed: 1, new: 0 });
    expect(plan.changes).toEqual([]);
    expect(plan.findings[0]).toMatchObject({ status: 'fixed in 2', firstSeen: '2024-05-01T10:00:00.000Z' });
    expect(plan.raw).toHaveLength(1);
  });

  it('resolves a finding gone from a complete report, and reopens it when it comes back', () => {
    const a = finding('CVE-A');
    const b = finding('CVE-B');
    const first = committed(
      write(report({ scanTime: '2024-05-01T00:00:00.000Z', findings: [a, b] }), undefined),
    );
    const fixed = write(
      report({ scanTime: '2024-05-02T00:00:00.000Z', findings: [a] }),
      first,
      ctx('2024-06-02T00:00:00.000Z'),
    );
    expect(fixed.transitions).toMatchObject({ resolved: 1 });
    expect(fixed.findings).toHaveLength(1);
    expect(fixed.findings[0]).toMatchObject({
      id: 'CVE-B',
      resolvedAt: '2024-05-02T00:00:00.000Z',
      resolvedReason: 'goneFromReport',
    });
    expect(fixed.findings[0]?.vulnPk).toBeUndefined();
    expect(changesOf(fixed.changes).map((c) => [c.change, c.id, c.at])).toEqual([
      ['resolved', 'CVE-B', '2024-06-02T00:00:00.000Z'],
    ]);

    const second = committed(fixed, first.findings);
    const back = write(
      report({ scanTime: '2024-05-03T00:00:00.000Z', findings: [a, b] }),
      second,
      ctx('2024-06-03T00:00:00.000Z'),
    );
    expect(back.transitions).toMatchObject({ reopened: 1, new: 0 });
    expect(back.findings[0]).toMatchObject({
      id: 'CVE-B',
      firstSeen: '2024-05-03T00:00:00.000Z',
      occurrences: 2,
      lastResolvedAt: '2024-05-02T00:00:00.000Z',
    });
    expect(back.findings[0]?.resolvedAt).toBeUndefined();
    expect(changesOf(back.changes).map((c) => [c.change, c.id])).toEqual([['new', 'CVE-B']]);
  });

  it('resolves nothing from a compact or trimmed report', () => {
    const first = committed(write(report({ findings: [finding('CVE-KEEP')] }), undefined));
    const compact = report({ scanTime: '2024-05-02T00:00:00.000Z', findings: [] });
    compact.image.findingsIncomplete = true;
    const plan = write(compact, first, ctx('2024-06-02T00:00:00.000Z'));
    expect(plan.findings).toEqual([]);
    expect(plan.changes).toEqual([]);
  });

  it('keeps the first of a finding listed twice in one report', () => {
    const plan = write(
      report({ findings: [finding('CVE-D', { status: 'first' }), finding('CVE-D', { status: 'second' })] }),
      undefined,
    );
    expect(plan.findings.map((f) => f.status)).toEqual(['first']);
    expect(plan.duplicateFindings).toEqual(['CVE-D|pkg-CVE-D|1.0.0']);
  });

  it('keeps the newer of two reports of one image on a page, the later of equal ones', () => {
    const older = { pk: 'a', report: report({ scanTime: '2024-05-01T00:00:00.000Z', digest: 'sha256:old' }) };
    const newer = { pk: 'a', report: report({ scanTime: '2024-05-10T00:00:00.000Z', digest: 'sha256:new' }) };
    const other = { pk: 'b', report: report({ repo: 'other' }) };
    expect(newestPerImage([newer, other, older], ctx())).toEqual([newer, other]);
    const twin = { pk: 'a', report: report({ scanTime: '2024-05-10T00:00:00.000Z', digest: 'sha256:twin' }) };
    expect(newestPerImage([newer, twin], ctx())).toEqual([twin]);
  });

  it('resolves every open finding of a removed image, and brings it back as new', () => {
    const first = committed(write(report({ repo: 'gone' }), undefined));
    const removal = planRemoval(
      first.image,
      first.findings,
      'console-a',
      'run-2',
      '2024-06-05T00:00:00.000Z',
    );
    expect(removal.findings.map((f) => [f.resolvedReason, f.resolvedAt])).toEqual([
      ['imageRemoved', '2024-06-05T00:00:00.000Z'],
      ['imageRemoved', '2024-06-05T00:00:00.000Z'],
    ]);
    expect(changesOf(removal.changes).map((c) => [c.change, c.reason])).toEqual([
      ['resolved', 'imageRemoved'],
      ['resolved', 'imageRemoved'],
    ]);
    const removedImage = {
      ...first.image,
      removed: true,
      removedAt: '2024-06-05T00:00:00.000Z',
      updatedAt: '2024-06-05T00:00:00.000Z',
    };
    const back = write(
      report({ repo: 'gone', scanTime: '2024-06-06T00:00:00.000Z' }),
      {
        image: removedImage,
        findings: removal.findings.map((f) => decodeFinding({ ...f })),
      },
      ctx('2024-06-06T00:00:00.000Z'),
    );
    expect(back.outcome).toBe('new');
    expect(back.transitions).toMatchObject({ reopened: 2 });
    expect(back.image.lastRemovedAt).toBe('2024-06-05T00:00:00.000Z');
  });
});

describe('write planner: time sanity', () => {
  it('does not let a scan time far in the future pin the image; the record keeps what the console said', () => {
    const hostile = report({ repo: 'future', scanTime: '9999-01-01T00:00:00.000Z' });
    const plan = write(hostile, undefined);
    expect(plan.image.scanTime).toBe('9999-01-01T00:00:00.000Z');
    expect(plan.image.scanTimeKey).toBe('2024-06-01T00:00:00.000Z');
    expect(plan.image.warnings?.[0]).toMatch(/scanTime 9999-01-01.* ahead of the sync's clock/);
    const stored = committed(plan).image;
    // A real rescan the next day, with a new critical finding: it wins.
    const rescan = report({
      repo: 'future',
      scanTime: '2024-06-02T00:00:00.000Z',
      findings: [finding('CVE-NEW', { severity: 'critical' })],
    });
    expect(classify(rescan, stored, ctx('2024-06-02T01:00:00.000Z'))).toBe('write');
  });

  it('trusts a scan time within the skew, and frees an image an older version pinned in the future', () => {
    const near = report({ scanTime: '2024-06-01T00:09:00.000Z' });
    expect(write(near, undefined).image.scanTimeKey).toBe('2024-06-01T00:09:00.000Z');
    const pinned = {
      ...committed(write(report(), undefined)).image,
      scanTimeKey: canonicalTime('9999-01-01T00:00:00Z'),
    };
    expect(classify(report({ scanTime: '2024-05-20T00:00:00.000Z', findings: [] }), pinned, ctx())).toBe(
      'write',
    );
  });
});

describe('write planner: no change is lost or doubled after an interrupted write', () => {
  it('announces again, with the same key, the change of a finding written by a write that never committed', () => {
    const r = report({ repo: 'interrupted' });
    const crashed = write(r, undefined, ctx('2024-06-01T00:00:00.000Z'));
    // Findings landed, the image item did not: a re-run reads them (the console's first-writes set says so).
    const leftover = crashed.findings.map((f) => decodeFinding({ ...f }));
    const rerun = planWrite({
      report: r,
      rawJson: rawOf(r),
      stored: undefined,
      storedFindings: leftover,
      ctx: ctx('2024-06-01T00:05:00.000Z'),
    });
    expect(rerun.transitions).toMatchObject({ new: 0, reannounced: 2 });
    // The same items (same keys, same findings): the re-run overwrites what the crashed run may have written.
    const withoutRun = (items: readonly ChangeItem[]) => items.map((item) => ({ ...item, runId: '' }));
    expect(withoutRun(rerun.changes)).toEqual(withoutRun(crashed.changes));
    expect(rerun.findings).toEqual([]);
  });

  it('does not announce anything again once the image item committed', () => {
    const first = committed(write(report({ repo: 'done' }), undefined));
    const again = write(
      report({ repo: 'done', scanTime: '2024-05-09T00:00:00.000Z', findings: [finding('CVE-2024-0001')] }),
      first,
      ctx('2024-06-02T00:00:00.000Z'),
    );
    expect(again.transitions).toMatchObject({ reannounced: 0, resolved: 1 });
    expect(changesOf(again.changes)).toHaveLength(1);
  });
});

describe('change items: one per image, detection time and kind', () => {
  const image = { registry: 'r', repo: 'p', tag: 't' };
  const planned = (n: number, at = '2024-06-01T00:00:00.000Z', pad = 0) =>
    Array.from({ length: n }, (_, i) => ({
      finding: {
        key: `CVE-${String(i).padStart(5, '0')}|${'p'.repeat(pad)}|1`,
        id: `CVE-${i}`,
        packageName: 'p'.repeat(pad),
        packageVersion: '1',
        severity: 'high' as const,
      },
      change: 'new' as const,
      at,
      observedAt: '2024-05-01T00:00:00.000Z',
    }));

  it('holds every finding of a new image in one item, sorted by finding key', () => {
    const plan = write(report({ repo: 'p/new' }), undefined);
    expect(plan.changes).toHaveLength(1);
    expect(plan.changes[0]?.findings.map((f) => f.id)).toEqual(['CVE-2024-0001', 'CVE-2024-0002']);
    const shuffled = changeItems({ consoleId: 'c', image, runId: 'r' }, planned(30).reverse());
    expect(shuffled[0]?.findings.map((f) => f.findingKey)).toEqual(planned(30).map((p) => p.finding.key));
  });

  it('keeps kinds and detection times apart, and decodes each finding with the item fields', () => {
    const items = changeItems({ consoleId: 'c', image, runId: 'r' }, [
      ...planned(2, '2024-06-01T00:00:00.000Z'),
      ...planned(1, '2024-06-02T00:00:00.000Z'),
      {
        ...planned(1)[0]!,
        change: 'resolved',
        reason: 'imageRemoved',
        observedAt: '2024-06-01T00:00:00.000Z',
      },
    ]);
    expect(items.map((i) => [i.at, i.change, i.findings.length])).toEqual([
      ['2024-06-01T00:00:00.000Z', 'new', 2],
      ['2024-06-02T00:00:00.000Z', 'new', 1],
      ['2024-06-01T00:00:00.000Z', 'resolved', 1],
    ]);
    expect(new Set(items.map((i) => i.sk)).size).toBe(3);
    const resolved = changesOf(items).find((c) => c.change === 'resolved');
    expect(resolved).toMatchObject({
      reason: 'imageRemoved',
      registry: 'r',
      repo: 'p',
      tag: 't',
      runId: 'r',
    });
  });

  it('splits a long list into parts below the item limit, the same way every time', () => {
    const many = planned(3000, undefined, 100);
    const items = changeItems({ consoleId: 'c', image, runId: 'r' }, many);
    expect(items.length).toBeGreaterThan(1);
    for (const item of items) expect(JSON.stringify(item).length).toBeLessThan(CHANGE_PART_BYTES + 10_000);
    expect(items.map((i) => i.part)).toEqual(items.map((_, i) => i));
    expect(changesOf(items).map((c) => c.findingKey)).toEqual(many.map((p) => p.finding.key));
    const again = changeItems({ consoleId: 'c', image, runId: 'r' }, [...many].reverse());
    expect(again).toEqual(items);
  });

  it('still reads a change item of the one-per-finding layout', () => {
    const old = {
      pk: 'CHG#c#2024-06#1',
      sk: '2024-06-01T00:00:00.000Z#r#p#t#CVE-1|pkg|1#resolved',
      type: 'change',
      consoleId: 'c',
      change: 'resolved',
      id: 'CVE-1',
      findingKey: 'CVE-1|pkg|1',
      registry: 'r',
      repo: 'p',
      tag: 't',
      imageKey: 'r/p:t',
      packageName: 'pkg',
      packageVersion: '1',
      severity: 'low',
      at: '2024-06-01T00:00:00.000Z',
      observedAt: '2024-05-30T00:00:00.000Z',
      runId: 'run-0',
      reason: 'imageRemoved',
    };
    expect(decodeChanges(old)).toEqual([
      {
        change: 'resolved',
        findingKey: 'CVE-1|pkg|1',
        id: 'CVE-1',
        packageName: 'pkg',
        packageVersion: '1',
        severity: 'low',
        consoleId: 'c',
        registry: 'r',
        repo: 'p',
        tag: 't',
        imageKey: 'r/p:t',
        at: '2024-06-01T00:00:00.000Z',
        observedAt: '2024-05-30T00:00:00.000Z',
        runId: 'run-0',
        reason: 'imageRemoved',
      },
    ]);
  });
});
