import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryReportData, type ReportData } from '../../lambda/report/data.js';
import { writeReport } from '../../lambda/report/index.js';
import { DEFAULT_SLA } from '../../lambda/report/sql.js';
import { AS_OF, writeCraftedExport } from './crafted-history.js';

// Every expectation below is worked out by hand from crafted-history.ts (see the comments there):
// as of 2025-03-31 12:00 UTC, a 10-day period 2025-03-22..2025-03-31, the default SLA.
let dir: string;
let data: ReportData;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'report-metrics-'));
  await writeCraftedExport(dir);
  data = await queryReportData(dir, {
    asOf: AS_OF,
    days: 10,
    sla: DEFAULT_SLA,
    staleDays: 30,
    top: 10,
    breachRows: 200,
  });
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report metrics on a crafted history', () => {
  it('counts the headline tiles over current images only', () => {
    expect(data.tiles).toEqual({
      images: 2, // A and B; C was removed
      staleImages: 1, // B, last scanned 2025-02-20, before 2025-03-01 12:00
      openFindings: 5, // f1 f2 f4 (A), f6 f7 (B)
      critical: 3,
      high: 0,
      medium: 1,
      low: 1,
      fixable: 2, // f1 and f6 say "fixed in 1.1"
      fixableShare: 0.4,
      imagesWithCritical: 2,
      slaBreaches: 2, // f1 (17 days) and f6 (39.5 days); f2 is exactly at 15
    });
  });

  it('draws open findings per day from every open period, reopened ones included, by scan time', () => {
    const day = (d: string) => {
      const row = data.openTrend.find((r) => r.day === d);
      return row && [row.critical, row.high, row.medium, row.low];
    };
    expect(data.openTrend.map((r) => r.day)).toEqual([
      '2025-03-22',
      '2025-03-23',
      '2025-03-24',
      '2025-03-25',
      '2025-03-26',
      '2025-03-27',
      '2025-03-28',
      '2025-03-29',
      '2025-03-30',
      '2025-03-31',
    ]);
    // 03-22: criticals f1 f2 f6 f8, highs f3 f9, medium f4, low f7 (f10 closed on 03-01).
    expect(day('2025-03-22')).toEqual([4, 2, 1, 1]);
    expect(day('2025-03-23')).toEqual([4, 2, 1, 1]);
    // 03-24 06:00 scan: f3 and f4 fixed (the sync noticed on 03-25).
    expect(day('2025-03-24')).toEqual([4, 1, 0, 1]);
    expect(day('2025-03-25')).toEqual([4, 0, 0, 1]); // f9 fixed
    expect(day('2025-03-26')).toEqual([4, 0, 0, 1]);
    expect(day('2025-03-27')).toEqual([3, 0, 0, 1]); // C removed: f8 closed
    expect(day('2025-03-28')).toEqual([3, 0, 1, 1]); // f4 back
    expect(day('2025-03-31')).toEqual([3, 0, 1, 1]);
  });

  it("ends the trend on the tiles' open counts", () => {
    const last = data.openTrend.at(-1);
    expect(last && { critical: last.critical, high: last.high, medium: last.medium, low: last.low }).toEqual({
      critical: data.tiles.critical,
      high: data.tiles.high,
      medium: data.tiles.medium,
      low: data.tiles.low,
    });
  });

  it('counts new and resolved per scan day, and they add up to the trend', () => {
    const moves = Object.fromEntries(
      data.newResolved.filter((r) => r.new + r.resolved > 0).map((r) => [r.day, [r.new, r.resolved]]),
    );
    expect(moves).toEqual({
      '2025-03-24': [0, 2],
      '2025-03-25': [0, 1],
      '2025-03-27': [0, 1],
      '2025-03-28': [1, 0],
    });
    const total = (r: { critical: number; high: number; medium: number; low: number }) =>
      r.critical + r.high + r.medium + r.low;
    for (let i = 1; i < data.openTrend.length; i++) {
      const today = data.openTrend[i];
      const yesterday = data.openTrend[i - 1];
      const move = data.newResolved[i];
      if (!today || !yesterday || !move) throw new Error('short series');
      expect(total(today) - total(yesterday)).toBe(move.new - move.resolved);
    }
  });

  it('measures time to fix over fixes in the period, not removals', () => {
    expect(data.timeToFix).toEqual([
      { severity: 'critical', fixed: 0, medianDays: null, p90Days: null }, // f8 left with its image
      // f3 9.75 and f9 15 days: median 12.375, p90 9.75 + 0.9 × 5.25
      { severity: 'high', fixed: 2, medianDays: 12.375, p90Days: expect.closeTo(14.475, 9) },
      { severity: 'medium', fixed: 1, medianDays: 9.75, p90Days: 9.75 }, // f4's first period
      { severity: 'low', fixed: 0, medianDays: null, p90Days: null }, // f10 fixed before the period
    ]);
  });

  it('buckets open findings by age, upper bound included', () => {
    expect(data.openAge).toEqual([
      { bucket: '0-7 days', critical: 0, high: 0, medium: 1, low: 0 }, // f4, 3.5 days
      { bucket: '7-30 days', critical: 2, high: 0, medium: 0, low: 0 }, // f1 17, f2 15
      { bucket: '30-90 days', critical: 1, high: 0, medium: 0, low: 1 }, // f6, f7: 39.5
      { bucket: '90-180 days', critical: 0, high: 0, medium: 0, low: 0 },
      { bucket: 'over 180 days', critical: 0, high: 0, medium: 0, low: 0 },
    ]);
  });

  it('lists SLA breaches oldest first with the fix version; exactly at the limit is not a breach', () => {
    expect(data.slaBreaches.total).toBe(2);
    expect(data.slaBreaches.rows).toEqual([
      {
        consoleId: 'c1',
        imageKey: 'reg.example/shop/web:2',
        vulnerabilityId: 'CVE-1',
        severity: 'critical',
        packageName: 'openssl',
        packageVersion: '1.0',
        fixVersion: '1.1',
        firstSeen: '2025-02-20T00:00:00.000Z',
        ageDays: 39.5,
        slaDays: 15,
        overdueDays: 24.5,
      },
      {
        consoleId: 'c1',
        imageKey: 'reg.example/shop/api:1',
        vulnerabilityId: 'CVE-1',
        severity: 'critical',
        packageName: 'openssl',
        packageVersion: '1.0',
        fixVersion: '1.1',
        firstSeen: '2025-03-14T12:00:00.000Z',
        ageDays: 17,
        slaDays: 15,
        overdueDays: 2,
      },
    ]);
    expect(data.slaBreaches.rows.some((row) => row.vulnerabilityId === 'CVE-2')).toBe(false);
  });

  it('makes the finding at the limit a breach one millisecond later', async () => {
    const later = await queryReportData(dir, {
      asOf: '2025-03-31T12:00:00.001Z',
      days: 10,
      sla: DEFAULT_SLA,
      staleDays: 30,
      top: 10,
      breachRows: 200,
    });
    expect(later.slaBreaches.rows.map((row) => row.vulnerabilityId)).toEqual(['CVE-1', 'CVE-1', 'CVE-2']);
  });

  it('ranks vulnerabilities by images affected and repositories by criticals', () => {
    expect(data.topVulnerabilities).toEqual([
      { vulnerabilityId: 'CVE-1', severity: 'critical', images: 2, imagesFixable: 2 },
      { vulnerabilityId: 'CVE-2', severity: 'critical', images: 1, imagesFixable: 0 },
      { vulnerabilityId: 'CVE-4', severity: 'medium', images: 1, imagesFixable: 0 },
      { vulnerabilityId: 'CVE-5', severity: 'low', images: 1, imagesFixable: 0 },
    ]);
    expect(data.riskiestRepositories).toEqual([
      {
        consoleId: 'c1',
        registry: 'reg.example',
        repo: 'shop/api',
        images: 1,
        critical: 2,
        high: 0,
        medium: 1,
        low: 0,
        total: 3,
      },
      {
        consoleId: 'c1',
        registry: 'reg.example',
        repo: 'shop/web',
        images: 1,
        critical: 1,
        high: 0,
        medium: 0,
        low: 1,
        total: 2,
      },
    ]);
  });

  it('applies a custom SLA', async () => {
    const strict = await queryReportData(dir, {
      asOf: AS_OF,
      days: 10,
      sla: { critical: 15, high: 30, medium: 3, low: 30 },
      staleDays: 30,
      top: 10,
      breachRows: 1,
    });
    // f4 (3.5 > 3) and f7 (39.5 > 30) join; one row listed, all four counted.
    expect(strict.tiles.slaBreaches).toBe(4);
    expect(strict.slaBreaches.total).toBe(4);
    expect(strict.slaBreaches.rows).toHaveLength(1);
  });

  it('writes the same numbers as JSON and Markdown', async () => {
    const now = () => new Date(AS_OF);
    const json = join(dir, 'report.json');
    const md = join(dir, 'report.md');
    await writeReport({ source: { kind: 'export', dir }, out: json, format: 'json', days: 10, now });
    await writeReport({ source: { kind: 'export', dir }, out: md, format: 'md', days: 10, now });
    const parsed = JSON.parse(await readFile(json, 'utf8'));
    expect(parsed.tiles).toEqual(data.tiles);
    expect(parsed.slaBreaches).toEqual(data.slaBreaches);
    expect(parsed.timeBase).toBe('console scan time');
    const text = await readFile(md, 'utf8');
    expect(text).toContain('| Open critical | 3 |');
    expect(text).toContain('| Fixable | 40.0% |');
    expect(text).toContain('| high | 2 | 12.4 | 14.5 |');
    expect(text).toContain(
      '| reg.example/shop/web:2 | CVE-1 | critical | openssl 1.0 | 1.1 | 2025-02-20 00:00 | 39.5 | 15 | 24.5 |',
    );
  }, 60_000);
});
