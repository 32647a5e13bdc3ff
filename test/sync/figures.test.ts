import { describe, expect, it } from 'vitest';
import {
  countOutcome,
  emptyCounts,
  emptyFigures,
  figuresFrom,
  invocationFigures,
  noteScanTime,
  olderScanTime,
  runTotals,
  scanTimeText,
} from '../../lambda/sync/figures.js';

describe('run figures', () => {
  it('restores figures from checkpoint counters, ignoring unknown and non-finite values', () => {
    const figures = figuresFrom({ images: 50, pages: 1, invocations: 1, bogus: 3, written: Number.NaN });
    expect(figures).toMatchObject({ images: 50, pages: 1, invocations: 1, written: 0, quarantined: 0 });
    expect(figures).not.toHaveProperty('bogus');
    expect(figuresFrom(undefined)).toEqual(emptyFigures());
  });

  it('keeps what this invocation did apart from the run totals it adds to', () => {
    const own = emptyCounts();
    own.images = 30;
    own.pages = 1;
    countOutcome(own, 'new');
    countOutcome(own, 'unchanged');
    countOutcome(own, 'unchanged');
    noteScanTime(own, '2026-11-02T00:00:00.000Z');
    noteScanTime(own, '2026-11-01T00:00:00.000Z');
    noteScanTime(own, undefined);
    noteScanTime(own, 'garbage');
    const invocation = invocationFigures(
      own,
      {
        now: { requests: 12, throttled: 2, retries: 3, bytes: 5_000 },
        atStart: { requests: 10, throttled: 1, retries: 0, bytes: 1_000 },
      },
      750,
    );
    expect(invocation).toMatchObject({
      images: 30,
      pages: 1,
      new: 1,
      unchanged: 2,
      requests: 2,
      throttled: 1,
      retries: 3,
      bytes: 4_000,
      durationMs: 750,
    });
    expect(invocation).not.toHaveProperty('invocations');

    const before = {
      ...figuresFrom({ images: 50, pages: 1, requests: 3, throttled: 4, durationMs: 1_000, invocations: 1 }),
    };
    before.oldestScanTimeMs = Date.parse('2026-11-05T00:00:00.000Z');
    const totals = runTotals(before, invocation, own.oldestScanTimeMs);
    expect(totals).toMatchObject({
      images: 80,
      pages: 2,
      requests: 5,
      throttled: 5,
      durationMs: 1_750,
      invocations: 2,
    });
    expect(scanTimeText(totals.oldestScanTimeMs)).toBe('2026-11-01T00:00:00.000Z');
  });

  it('treats 0 as no scan time when taking the older of two', () => {
    expect(olderScanTime(0, 5)).toBe(5);
    expect(olderScanTime(5, 0)).toBe(5);
    expect(olderScanTime(7, 5)).toBe(5);
    expect(scanTimeText(0)).toBeNull();
  });
});
