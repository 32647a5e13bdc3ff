import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { ITEM_BUDGET_BYTES, itemSize, toFindingItem, toImageItem } from '../../lambda/store/items.js';
import { imageKeyString, keyPart, MAX_KEY_PART, monthsBetween } from '../../lambda/store/keys.js';
import { compressRaw, decompressRaw } from '../../lambda/store/raw.js';
import { finding, report } from './support.js';

describe('keyPart', () => {
  it('never lets a component contain the separator and keeps distinct components distinct', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), (a, b) => {
        expect(keyPart(a)).not.toContain('#');
        if (a !== b) expect(keyPart(a)).not.toBe(keyPart(b));
      }),
    );
  });

  it('hashes a component too long for a key, stably', () => {
    const long = 'r'.repeat(5_000);
    expect(Buffer.byteLength(keyPart(long))).toBeLessThanOrEqual(MAX_KEY_PART);
    expect(keyPart(long)).toBe(keyPart(long));
    expect(keyPart(long)).not.toBe(keyPart(`${long}x`));
  });

  it('formats the image key string as registry/repo:tag', () => {
    expect(imageKeyString({ registry: '', repo: 'library/alpine', tag: '3' })).toBe('/library/alpine:3');
  });
});

describe('monthsBetween', () => {
  it('lists every month from since to until inclusive, across years', () => {
    expect(monthsBetween('2023-11-20T00:00:00.000Z', '2024-02-01T00:00:00.000Z')).toEqual([
      '2023-11',
      '2023-12',
      '2024-01',
      '2024-02',
    ]);
    expect(monthsBetween('2024-03-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z')).toEqual([]);
  });
});

describe('raw report chunks', () => {
  it('round-trips any text through gzip chunks', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 3_000 }),
        fc.integer({ min: 16, max: 400 }),
        (text, chunkBytes) => {
          const raw = compressRaw(text, chunkBytes);
          expect(raw.chunks.every((chunk) => chunk.data.byteLength <= chunkBytes)).toBe(true);
          expect(decompressRaw([...raw.chunks].reverse(), raw.sha256)).toBe(text);
        },
      ),
    );
  });

  it('refuses a raw report with a chunk missing or a wrong hash', () => {
    const raw = compressRaw('x'.repeat(10_000) + Math.random().toString(36).repeat(500), 100);
    expect(() => decompressRaw(raw.chunks.slice(1))).toThrow(
      expect.objectContaining({ code: 'store.rawIncomplete' }),
    );
    try {
      decompressRaw(raw.chunks, 'f'.repeat(64));
      expect.unreachable();
    } catch (error) {
      expect(isSyncError(error, 'store.rawCorrupt')).toBe(true);
    }
  });
});

describe('item builders', () => {
  it('keeps every finding item under the budget whatever its text sizes', () => {
    fc.assert(
      fc.property(
        fc.record({
          description: fc.integer({ min: 0, max: 2_000_000 }),
          title: fc.integer({ min: 0, max: 500_000 }),
          packageName: fc.integer({ min: 1, max: 300_000 }),
          risks: fc.integer({ min: 0, max: 5_000 }),
        }),
        (sizes) => {
          const f = finding('CVE-X', {
            description: 'd'.repeat(sizes.description),
            title: 't'.repeat(sizes.title),
            packageName: 'p'.repeat(sizes.packageName),
            riskFactors: Array.from({ length: sizes.risks }, (_, i) => `risk factor number ${i}`),
          });
          const item = toFindingItem(report().image.identity, f, { firstSeen: 'x', occurrences: 1 }, 'now');
          expect(itemSize(item)).toBeLessThan(ITEM_BUDGET_BYTES);
          expect(String(item.sk).length).toBeLessThan(1024);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('gives open findings the vulnerability index keys and resolved ones none', () => {
    const identity = report().image.identity;
    const open = toFindingItem(identity, finding('CVE-O'), { firstSeen: 'x', occurrences: 1 }, 'now');
    const resolved = toFindingItem(
      identity,
      finding('CVE-O'),
      { firstSeen: 'x', occurrences: 1, resolvedAt: 'y' },
      'now',
    );
    expect(open).toHaveProperty('vulnPk');
    expect(resolved).not.toHaveProperty('vulnPk');
    expect(resolved).not.toHaveProperty('vulnSk');
  });

  it('keeps an image item with thousands of tags and compliance issues under the budget', () => {
    const r = report();
    r.image.tags = Array.from({ length: 20_000 }, (_, i) => ({
      registry: 'r',
      repo: 'some/long/repository/name',
      tag: `t${i}`,
      digest: null,
    }));
    r.compliance = Array.from({ length: 5_000 }, (_, i) => ({
      key: String(i),
      id: String(i),
      severity: 'high' as const,
      vendorSeverity: 'high',
      title: 'a compliance rule with a fairly long title',
      cause: 'because',
      type: 'image',
    }));
    const item = toImageItem(r, {
      scanTimeKey: 'x',
      observedAt: 'x',
      seenAt: 'y',
      runId: 'z',
      firstSeenAt: 'x',
      raw: { contentHash: 'h', sha256: 's', chunks: 1, byteLength: 1 },
    });
    expect(itemSize(item)).toBeLessThan(ITEM_BUDGET_BYTES);
    expect(item.complianceInRawOnly).toBe(true);
    expect(item.tagCount).toBe(20_000);
  });
});
