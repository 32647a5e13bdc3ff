import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import {
  type InvalidReport,
  type PageItem,
  parseRegistryPage,
  parseScanProgress,
  type RawReport,
  rawReportSchema,
} from '../../lambda/prisma/schema.js';
import { generateReport, imageSlot } from '../../simulator/generator.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../normalize/fixtures/real/${name}`, import.meta.url), 'utf8'));

function schemaError(body: unknown, where = 'page offset=100'): SyncError {
  try {
    parseRegistryPage(body, where);
  } catch (error) {
    if (isSyncError(error, 'client.schema')) return error;
    throw error;
  }
  throw new Error('expected a client.schema error');
}

function reportsOf(items: PageItem[]): RawReport[] {
  return items.flatMap((item) => (item.kind === 'report' ? [item.report] : []));
}

function invalidOf(items: PageItem[]): InvalidReport[] {
  return items.flatMap((item) => (item.kind === 'invalid' ? [item.invalid] : []));
}

/** The one invalid report of a page of `[report]`. */
function invalidAlone(report: unknown): InvalidReport {
  const [invalid, ...more] = invalidOf(parseRegistryPage([report], 'page offset=100'));
  if (!invalid || more.length > 0) throw new Error('expected exactly one invalid report');
  return invalid;
}

describe('parseRegistryPage', () => {
  it('accepts the real /api/v1/registry reports, nulls and all', () => {
    const reports = fixture('datadog-prisma_cloud-registry.json') as Array<Record<string, unknown>>;
    expect(parseRegistryPage(reports, 'page offset=0')).toHaveLength(5);
    expect(reports.filter((r) => r.vulnerabilities === null)).toHaveLength(4);
  });

  it('accepts the agentless XSOAR report with null arrays and string ids', () => {
    const context = fixture('xsoar-image-scan-results.json') as {
      PrismaCloudCompute: { ReportsImagesScan: unknown };
    };
    const reports = context.PrismaCloudCompute.ReportsImagesScan;
    expect(parseRegistryPage(reports, 'page offset=0')).toHaveLength(1);
  });

  it('accepts generated reports of every kind the simulator serves', () => {
    const reports = Array.from({ length: 120 }, (_, i) =>
      generateReport({ seed: 3, heavyFraction: 0 }, imageSlot(3, i), {
        scanGeneration: 0,
        findingsVersion: 0,
      }),
    );
    expect(parseRegistryPage(reports, 'page offset=0')).toHaveLength(120);
  });

  it('returns the console objects themselves, unknown fields and all', () => {
    const report = {
      _id: 'sha256:1',
      repoTag: { registry: '', repo: 'a', tag: '1', newField: [1] },
      future: { x: 1 },
    };
    const [validated] = reportsOf(parseRegistryPage([report], 'page offset=0'));
    expect(validated).toBe(report);
    expect(rawReportSchema.parse(report)).toEqual(report);
  });

  it('keeps every valid report of a page and hands on an invalid one in its slot, naming its index and field path', () => {
    const good = { _id: 'a', repoTag: { registry: '', repo: 'x', tag: '1' } };
    const bad = { _id: 'b', repoTag: { registry: 'r', repo: 7, tag: '1' } };
    const items = parseRegistryPage([good, good, good, bad, good], 'page offset=100');
    expect(items.map((item) => item.kind)).toEqual(['report', 'report', 'report', 'invalid', 'report']);
    expect(reportsOf(items)).toEqual([good, good, good, good]);
    expect(invalidOf(items)).toEqual([
      {
        index: 3,
        reason: 'report[3].repoTag.repo: expected string, got number',
        paths: ['repoTag.repo'],
        readable: { id: 'b', registry: 'r', repo: null, tag: '1' },
        sha256: createHash('sha256').update(JSON.stringify(bad)).digest('hex'),
        raw: bad,
      },
    ]);
  });

  it('hands on each drift the simulator injects as one invalid report: vulnerabilities as a string, repoTag as a number, no _id', () => {
    expect(invalidAlone({ _id: 'a', vulnerabilities: 'x' })).toMatchObject({
      reason: 'report[0].vulnerabilities: expected array, got string',
      paths: ['vulnerabilities'],
      readable: { id: 'a' },
    });
    expect(invalidAlone({ _id: 'a', repoTag: 5 })).toMatchObject({
      reason: 'report[0].repoTag: expected object, got number',
      paths: ['repoTag'],
      readable: { id: 'a', registry: null, repo: null, tag: null },
    });
    expect(invalidAlone({ repoTag: { repo: 'a' } })).toMatchObject({
      reason: 'report[0]._id: expected string, got nothing (missing)',
      paths: ['_id'],
      readable: { id: null, repo: 'a' },
    });
  });

  it('hands on a report that is not an object, and one too deeply nested to serialize, without a digest for the latter', () => {
    expect(invalidAlone(42)).toMatchObject({ reason: 'report[0]: expected object, got number', paths: [''] });
    const deep = JSON.parse(`{"repoTag":5,"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`) as unknown;
    expect(invalidAlone(deep)).toMatchObject({ paths: ['_id', 'repoTag'], sha256: null });
  });

  it('names a nested finding key field and counts further problems', () => {
    const report = { _id: 'a', vulnerabilities: [{ cve: 'CVE-1', packageName: 7 }], packages: 'none' };
    expect(invalidAlone(report)).toMatchObject({
      reason: 'report[0].vulnerabilities[0].packageName: expected string, got number (+1 more)',
      paths: ['vulnerabilities[0].packageName', 'packages'],
    });
  });

  it('lets a wrong type in a field the product does not key on pass, unchanged, for the normalizer to read leniently', () => {
    const report = {
      _id: 'a',
      repoTag: { registry: '', repo: 'x', tag: '1' },
      osDistro: 12,
      scanTime: { not: 'a time' },
      vulnerabilityDistribution: 'many',
      labels: [1, 2],
      vulnerabilities: [{ cve: 'CVE-1', cvss: 'high', severity: 9, description: ['x'], riskFactors: 'x' }],
      packages: [{ pkgsType: 3, pkgs: 'none' }],
    };
    const [validated] = reportsOf(parseRegistryPage([report], 'page offset=0'));
    expect(validated).toBe(report);
    expect(validated).toEqual(structuredClone(report));
  });

  it('rejects a body that is not an array', () => {
    expect(schemaError({ err: 'x' }).message).toBe(
      'page offset=100: expected a JSON array of reports, got object',
    );
    expect(schemaError(null).message).toContain('got null');
  });
});

describe('parseScanProgress', () => {
  it('accepts the seed response and an empty list', () => {
    const seed = [
      {
        discovery: { id: '', type: '', discovery: false, total: 4, scanned: 2, title: 'Step 1/2' },
        imageScan: { id: '', type: '', discovery: false, total: 2, scanned: 0, title: 'Step 2/2' },
        isScanOngoing: true,
        specScanStartTime: '0001-01-01T00:00:00Z',
      },
    ];
    expect(parseScanProgress(seed, 'progress')).toBe(seed);
    expect(parseScanProgress([], 'progress')).toEqual([]);
  });

  it('names the entry and field of a wrong type', () => {
    expect(() => parseScanProgress([{ isScanOngoing: 'yes' }], 'progress')).toThrow(
      'progress entry[0].isScanOngoing: expected boolean, got string',
    );
  });
});
