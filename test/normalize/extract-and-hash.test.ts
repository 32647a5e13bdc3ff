import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { canonicalJson, extractReports, normalizeReport } from '../../lambda/normalize/index.js';
import { apiReport } from './support.js';

const context = { consoleId: 'console-a' };

describe('extractReports', () => {
  it('reads a single report object, an entityInfo wrapper and a dotted XSOAR context key', () => {
    expect(extractReports({ _id: 'x', repoTag: {} })).toEqual({
      dialect: 'report',
      reports: [{ _id: 'x', repoTag: {} }],
    });
    expect(extractReports({ entityInfo: { _id: 'y' } })).toEqual({
      dialect: 'ciScans',
      reports: [{ _id: 'y' }],
    });
    expect(extractReports({ 'PrismaCloudCompute.ReportsImagesScan': [{ _id: 'z' }] })).toEqual({
      dialect: 'xsoarContext',
      reports: [{ _id: 'z' }],
    });
    expect(extractReports([])).toEqual({ dialect: 'registry', reports: [] });
  });

  it('refuses a document with no reports in a known place', () => {
    for (const document of [null, 'text', 7, { unrelated: true }]) {
      let thrown: unknown;
      try {
        extractReports(document);
      } catch (error) {
        thrown = error;
      }
      expect(isSyncError(thrown, 'normalize.invalid')).toBe(true);
    }
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves array order alone', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: null, c: 'x' }], u: undefined })).toBe(
      '{"a":[2,{"c":"x","d":null}],"b":1}',
    );
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
});

describe('image content hash', () => {
  const base = normalizeReport(apiReport(), context).image.contentHash;
  const hashOf = (overrides: Record<string, unknown>) =>
    normalizeReport(apiReport(overrides), context).image.contentHash;

  it('stays the same for a rescan that only moved the scan time, hosts and counters', () => {
    expect(
      hashOf({
        scanTime: '2025-01-01T00:00:00Z',
        hosts: { '10.0.0.1': { modified: '2025-01-01T00:00:00Z' } },
        instances: [{ host: 'h', modified: 'now' }],
        vulnerabilitiesCount: 99,
        collections: ['All', 'New'],
        scanID: 77,
        err: 'transient',
      }),
    ).toBe(base);
  });

  it.each([
    [
      'the digest',
      { repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.2', digest: 'sha256:bbbb' } },
    ],
    ['the image id', { id: 'sha256:9999' }],
    ['the tag', { repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.3' } }],
    ['a compliance issue', { complianceIssues: [{ id: 41, severity: 'critical', title: 'x' }] }],
    ['a package', { packages: [{ pkgsType: 'package', pkgs: [{ name: 'openssl', version: '3.0.13-1' }] }] }],
    ['the OS release', { osDistroRelease: 'trixie' }],
    ['the other tags', { tags: [] }],
  ])('changes when %s changes', (_label, overrides) => {
    expect(hashOf(overrides)).not.toBe(base);
  });

  it('depends on the console id, so two consoles never share an image record', () => {
    expect(normalizeReport(apiReport(), { consoleId: 'console-b' }).image.contentHash).not.toBe(base);
  });
});
