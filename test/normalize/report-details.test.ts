/**
 * normalizeReport and the finding rules in detail: the refusals and their messages, every
 * warning a report can earn (their exact text is what an operator reads), the fallbacks of the
 * descriptive fields, what the image content hash covers, and the edges of cvss, keys, merging
 * and caps.
 */
import { describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import {
  countBySeverity,
  extractReports,
  FINDING_KEY_MAX_BYTES,
  findingKey,
  normalizeReport,
  readRiskFactors,
  sha256Hex,
} from '../../lambda/normalize/index.js';
import { apiReport, vulnerability } from './support.js';

const context = { consoleId: 'console-a' };

function refusal(raw: unknown, consoleId = 'console-a'): SyncError {
  try {
    normalizeReport(raw, { consoleId });
  } catch (error) {
    if (isSyncError(error, 'normalize.invalid')) return error;
    throw error;
  }
  throw new Error('normalizeReport accepted the report');
}

describe('normalizeReport refusals', () => {
  it('names what the report is when it is not an object', () => {
    for (const [raw, kind] of [
      [null, 'null'],
      [[1], 'an array'],
      ['text', 'string'],
      [3, 'number'],
      [undefined, 'undefined'],
    ] as const) {
      const error = refusal(raw);
      expect(error.message).toBe(`scan report is ${kind}, not a JSON object`);
      expect(error.details).toEqual({ field: '(report)' });
    }
  });

  it('refuses an empty, blank or missing (null) console id', () => {
    for (const consoleId of ['', '  ', null as unknown as string]) {
      const error = refusal(apiReport(), consoleId);
      expect(error.message).toBe('console id is empty');
      expect(error.details).toEqual({ field: 'consoleId' });
    }
  });

  it('refuses an image key over 768 UTF-8 bytes, and takes one of exactly 768', () => {
    // '/' + repo + ':' + tag: registry '' adds 2 bytes.
    const named = (repo: string) => apiReport({ repoTag: { registry: '', repo, tag: 't' } });
    expect(normalizeReport(named('r'.repeat(765)), context).image.identity.repo).toHaveLength(765);
    const error = refusal(named('r'.repeat(766)));
    expect(error.message).toBe('image name is longer than 768 bytes');
    expect(error.details).toEqual({ field: 'repoTag', imageKey: `/${'r'.repeat(119)}…` });
    // Multi-byte characters count as bytes, not characters.
    expect(() => normalizeReport(named('é'.repeat(383)), context)).toThrow(/longer than 768 bytes/);
  });
});

describe('normalizeReport warnings', () => {
  it('says where the identity came from when there is no repoTag', () => {
    const { warnings } = normalizeReport(
      apiReport({
        repoTag: null,
        _id: 'library/alpine:3',
        tags: [],
        vulnerabilities: [],
        complianceIssues: [],
      }),
      context,
    );
    expect(warnings).toEqual(['image identity taken from _id: the report has no repoTag.repo']);
  });

  it('quotes an odd name part, cut to 80 characters', () => {
    const repo = ` ${'a'.repeat(100)}`;
    const { warnings } = normalizeReport(apiReport({ repoTag: { registry: '', repo, tag: '1' } }), context);
    expect(warnings).toContain(
      `repo ${JSON.stringify(`${repo.slice(0, 80)}…`)} has surrounding whitespace or control characters: kept as sent, a distinct image from the trimmed name`,
    );
  });

  it('names the shape of a vulnerabilities field that is not a list', () => {
    for (const [value, words] of [
      ['CVE-1', 'string'],
      [{ a: 1 }, 'object'],
      [3, 'number'],
    ] as const) {
      const { findings, warnings, image } = normalizeReport(apiReport({ vulnerabilities: value }), context);
      expect(findings).toEqual([]);
      expect(warnings).toEqual([`vulnerabilities is ${words}, not an array: no findings read from it`]);
      expect(image.findingsIncomplete).toBeUndefined();
    }
  });

  it('says why findings are incomplete, for a list that is missing, null or not a list', () => {
    for (const [value, words] of [
      [undefined, 'missing'],
      [null, 'null'],
      ['x', 'not a list'],
    ] as const) {
      const report = apiReport({ vulnerabilitiesCount: 3, vulnerabilityDistribution: { total: 2 } });
      if (value === undefined) delete report.vulnerabilities;
      else report.vulnerabilities = value;
      const { image, warnings, findings } = normalizeReport(report, context);
      expect(image.findingsIncomplete).toBe(true);
      expect(findings).toEqual([]);
      expect(warnings).toContain(
        `vulnerabilities is ${words} although vulnerabilitiesCount says 3 and vulnerabilityDistribution.total says 2: a compact or trimmed report; findings are empty and findingsIncomplete is set`,
      );
    }
  });

  it('calls a missing list with zero counters complete, and a claim of 0 no disagreement', () => {
    const report = apiReport({ vulnerabilitiesCount: 0, vulnerabilityDistribution: { total: '0' } });
    delete report.vulnerabilities;
    const { image, warnings } = normalizeReport(report, context);
    expect(image.findingsIncomplete).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('warns when a counter disagrees with both the rows and the distinct findings, naming both', () => {
    const rows = [vulnerability(), vulnerability(), vulnerability({ packageName: 'other' })];
    const agree = (count: number) =>
      normalizeReport(apiReport({ vulnerabilities: rows, vulnerabilitiesCount: count }), context).warnings;
    expect(agree(3)).toEqual([]);
    expect(agree(2)).toEqual([]);
    expect(agree(5)).toEqual([
      'vulnerabilitiesCount says 5 but the report lists 3 rows, 2 distinct vulnerabilities; counts come from the list',
    ]);
    const single = normalizeReport(
      apiReport({ vulnerabilities: [vulnerability()], vulnerabilityDistribution: { total: 4 } }),
      context,
    ).warnings;
    expect(single).toEqual([
      'vulnerabilityDistribution.total says 4 but the report lists 1 vulnerabilities; counts come from the list',
    ]);
  });

  it('counts compliance rows from both lists before it calls a counter wrong', () => {
    const issue = { id: 1, severity: 'low', title: 'a' };
    const report = apiReport({
      complianceIssues: [issue],
      compliances: [{ ...issue, id: 2 }],
      complianceIssuesCount: 2,
      complianceDistribution: { total: 3 },
    });
    expect(normalizeReport(report, context).warnings).toEqual([
      'complianceDistribution.total says 3 but the report lists 2 compliance issues; counts come from the list',
    ]);
  });

  it('quotes an unreadable scan time, cut to 80 characters', () => {
    const scanTime = `Jan ${'9'.repeat(100)}`;
    const { image, warnings } = normalizeReport(apiReport({ scanTime }), context);
    expect(image.scanTime).toBeNull();
    expect(warnings).toEqual([`scanTime ${JSON.stringify(`${scanTime.slice(0, 80)}…`)} is not a time`]);
  });

  it('ignores descriptive fields of the wrong type with a warning naming the field', () => {
    const { image, warnings } = normalizeReport(
      apiReport({ osDistro: 12, osDistroRelease: ['x'], distro: 'alpine', scanVersion: { v: 1 } }),
      context,
    );
    expect(image).toMatchObject({ osDistro: 'alpine', osDistroVersion: null, scanVersion: null });
    expect(warnings).toEqual([
      'osDistro is a number, not text: ignored',
      'osDistroRelease is an array, not text: ignored',
      'scanVersion is a object, not text: ignored',
    ]);
  });
});

describe('normalizeReport image fields', () => {
  it('falls back from osDistro to distro and from osDistroVersion to osDistroRelease', () => {
    const image = (overrides: Record<string, unknown>) =>
      normalizeReport(apiReport({ osDistro: null, osDistroRelease: null, ...overrides }), context).image;
    expect(image({ distro: 'alpine', osDistroRelease: '3.19' })).toMatchObject({
      osDistro: 'alpine',
      osDistroVersion: '3.19',
    });
    expect(
      image({ osDistro: 'debian', distro: 'alpine', osDistroVersion: '12', osDistroRelease: '3' }),
    ).toMatchObject({
      osDistro: 'debian',
      osDistroVersion: '12',
    });
    expect(image({ osDistro: ' ' })).toMatchObject({ osDistro: null, osDistroVersion: null });
  });

  it('trims ids, caps long text fields and counts packages and risk factors', () => {
    const long = `sha256:${'f'.repeat(1_100)}`;
    const { image } = normalizeReport(
      apiReport({
        _id: ' sha256:abc ',
        id: long,
        repoTag: { registry: 'r', repo: 'p', tag: '1', digest: long },
        scanVersion: '31.02',
        riskFactors: { 'Has fix': {}, 'Critical severity': {} },
      }),
      context,
    );
    expect(image.reportId).toBe('sha256:abc');
    expect(image.imageId).toBe(`${long.slice(0, 1_024)}…`);
    expect(image.digest).toBe(`${long.slice(0, 1_024)}…`);
    expect(image.scanVersion).toBe('31.02');
    expect(image.packageCount).toBe(1);
    expect(image.riskFactorCount).toBe(2);
    const bare = normalizeReport(apiReport({ _id: ' ', id: null }), context).image;
    expect(bare.reportId).toBe('');
    expect(bare.imageId).toBeNull();
  });

  it('hashes every part of what the image is', () => {
    const base = apiReport();
    const hash = (overrides: Record<string, unknown>) =>
      normalizeReport({ ...base, ...overrides }, context).image.contentHash;
    const original = hash({});
    expect(original).toMatch(/^[0-9a-f]{64}$/);
    const changes: Record<string, unknown>[] = [
      { _id: 'sha256:2222' },
      { repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.2', digest: 'sha256:bbbb' } },
      { repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.3', digest: 'sha256:aaaa' } },
      { id: 'sha256:3333' },
      { tags: [] },
      { osDistro: 'ubuntu' },
      { osDistroRelease: 'trixie' },
      { vulnerabilities: [vulnerability({ severity: 'high' })] },
      { complianceIssues: [] },
      { packages: [] },
      { riskFactors: ['Has fix'] },
    ];
    const hashes = changes.map(hash);
    for (const [i, changed] of hashes.entries())
      expect(changed, JSON.stringify(changes[i])).not.toBe(original);
    expect(new Set(hashes).size).toBe(hashes.length);
    const incomplete: Record<string, unknown> = { ...base, vulnerabilitiesCount: 2 };
    delete incomplete.vulnerabilities;
    const empty = { ...base, vulnerabilities: [] };
    expect(normalizeReport(incomplete, context).image.contentHash).not.toBe(
      normalizeReport(empty, context).image.contentHash,
    );
  });

  it('counts by severity with the total as the sum', () => {
    expect(
      countBySeverity([
        { severity: 'low' },
        { severity: 'high' },
        { severity: 'critical' },
        { severity: 'medium' },
        { severity: 'high' },
      ]),
    ).toEqual({ critical: 1, high: 2, medium: 1, low: 1, total: 5 });
  });
});

describe('finding details', () => {
  const findingsOf = (rows: unknown[]) => normalizeReport(apiReport({ vulnerabilities: rows }), context);

  it('keeps a cvss of exactly 0 and 10 and drops -0.1 and 10.1 with a warning quoting it', () => {
    const { findings, warnings } = findingsOf([
      vulnerability({ packageName: 'a', cvss: 0 }),
      vulnerability({ packageName: 'b', cvss: 10 }),
      vulnerability({ packageName: 'c', cvss: -0.1 }),
      vulnerability({ packageName: 'd', cvss: '10.1' }),
      vulnerability({ packageName: 'e', cvss: '' }),
      vulnerability({ packageName: 'f', cvss: null }),
    ]);
    expect(findings.map((f) => f.cvss)).toEqual([0, 10, null, null, null, null]);
    expect(warnings).toEqual([
      '2 vulnerabilities with a cvss that is not a score from 0 to 10 (ignored) (e.g. "-0.1", "10.1")',
    ]);
  });

  it('trims the vulnerability id, and names a row without one after its title, description and link', () => {
    const { findings, warnings } = findingsOf([
      vulnerability({ cve: ' CVE-1 ', packageName: 'a' }),
      vulnerability({ cve: null, id: '  ', title: 't', description: 'd', link: 'l', packageName: 'b' }),
    ]);
    const derived = `UNIDENTIFIED-${sha256Hex(JSON.stringify(['t', 'd', 'l'])).slice(0, 16)}`;
    expect(findings.map((f) => f.id)).toEqual(['CVE-1', derived]);
    expect(warnings).toEqual([
      `1 vulnerabilities without cve or id were kept under a content-derived id (e.g. "${derived}")`,
    ]);
  });

  it('warns about non-object rows and unreadable dates, naming the field', () => {
    const { warnings, findings } = findingsOf([
      'row',
      7,
      vulnerability({ published: 'soon', fixDate: 'later' }),
    ]);
    expect(findings).toHaveLength(1);
    expect(warnings).toEqual([
      '1 vulnerabilities with an unreadable fixDate (kept as null) (e.g. "later")',
      '1 vulnerabilities with an unreadable published (kept as null) (e.g. "soon")',
      '2 vulnerabilities[] entries that are not objects were ignored (e.g. "7", "row")',
    ]);
  });

  it('sorts findings by key', () => {
    const { findings } = findingsOf([
      vulnerability({ cve: 'CVE-3' }),
      vulnerability({ cve: 'CVE-1' }),
      vulnerability({ cve: 'CVE-2' }),
    ]);
    expect(findings.map((f) => f.id)).toEqual(['CVE-1', 'CVE-2', 'CVE-3']);
  });

  it('merges differing rows whatever their order: severity leads, then the higher cvss, a missing cvss last', () => {
    const rows = [
      vulnerability({ severity: 'low', cvss: 9, status: 'low row' }),
      vulnerability({ severity: 'high', cvss: null, status: 'high row, no cvss' }),
      vulnerability({ severity: 'high', cvss: 7.5, status: 'high row' }),
    ];
    for (const order of [rows, [...rows].reverse(), [rows[1], rows[0], rows[2]]]) {
      const { findings, warnings } = findingsOf(order);
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatchObject({ severity: 'high', status: 'high row', cvss: 9 });
      expect(warnings).toEqual([
        '1 findings merged from rows that share a key but differ (e.g. "CVE-2023-5678|openssl|3.0.11-1")',
      ]);
    }
    const same = findingsOf([vulnerability({ cvss: 5 }), vulnerability({ cvss: 6, status: null })])
      .findings[0];
    expect(same).toMatchObject({ cvss: 6, status: 'fixed in 3.0.13-1' });
  });

  it('reads risk factors from a map or a list, dropping blanks, sorted and unique', () => {
    expect(readRiskFactors({ b: {}, a: {}, ' ': {} })).toEqual(['a', 'b']);
    expect(readRiskFactors(['b', 'a', 'b', '', null, 3])).toEqual(['3', 'a', 'b']);
    expect(readRiskFactors('Has fix')).toEqual([]);
  });

  it('cuts long finding text with a warning naming the key, and a long description at 8,192', () => {
    const { findings, warnings } = findingsOf([
      vulnerability({ title: 't'.repeat(1_025), description: 'd'.repeat(8_193) }),
    ]);
    expect(findings[0]?.title).toBe(`${'t'.repeat(1_024)}…`);
    expect(findings[0]?.description).toBe(`${'d'.repeat(8_192)}…`);
    expect(findings[0]?.descriptionTruncated).toBe(true);
    expect(warnings).toEqual([
      '1 finding descriptions longer than 8192 characters were cut (e.g. "CVE-2023-5678|openssl|3.0.11-1")',
      '1 finding fields longer than 1024 characters were cut (e.g. "CVE-2023-5678|openssl|3.0.11-1")',
    ]);
    const exact = findingsOf([vulnerability({ description: 'd'.repeat(8_192) })]).findings[0];
    expect(exact?.description).toHaveLength(8_192);
    expect(exact?.descriptionTruncated).toBeUndefined();
  });

  it('keeps a key of exactly 512 bytes and shortens one of 513 to 128 characters, # and the hash', () => {
    const at = (bytes: number) => findingKey('C', 'p'.repeat(bytes - 4), 'v');
    expect(at(512)).toHaveLength(512);
    const long = findingKey('C', 'p'.repeat(509), 'v');
    expect(long).toBe(`${`C|${'p'.repeat(509)}|v`.slice(0, 128)}…#${sha256Hex(`C|${'p'.repeat(509)}|v`)}`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(FINDING_KEY_MAX_BYTES);
    // 200 three-byte characters are 600 bytes though only 204 characters.
    expect(findingKey('C', '€'.repeat(200), 'v')).toMatch(/…#[0-9a-f]{64}$/);
    expect(findingKey('C', '€'.repeat(169), 'v')).toBe(`C|${'€'.repeat(169)}|v`);
  });
});

describe('identity sources and digests', () => {
  const bare = (overrides: Record<string, unknown>) =>
    apiReport({ repoTag: null, tags: [], vulnerabilities: [], complianceIssues: [], ...overrides });

  it('takes the digest from a trimmed sha256 _id, never from an _id that only contains one', () => {
    const named = { registry: 'r', repo: 'p', tag: '1' };
    expect(normalizeReport(apiReport({ repoTag: named, _id: ' sha256:abc ' }), context).image.digest).toBe(
      'sha256:abc',
    );
    expect(
      normalizeReport(apiReport({ repoTag: named, _id: 'p:1@sha256:abc' }), context).image.digest,
    ).toBeNull();
  });

  it('reads an _id name with a digest, and says the identity came from _id', () => {
    const { image, warnings } = normalizeReport(bare({ _id: 'library/alpine:3@sha256:ab' }), context);
    expect(image.identity).toEqual({
      consoleId: 'console-a',
      registry: '',
      repo: 'library/alpine',
      tag: '3',
    });
    expect(image.digest).toBe('sha256:ab');
    expect(warnings).toEqual(['image identity taken from _id: the report has no repoTag.repo']);
  });

  it('says the identity came from tags[]', () => {
    const { warnings } = normalizeReport(
      bare({ _id: 'sha256:ab', tags: [{ registry: '', repo: 'a', tag: '1' }] }),
      context,
    );
    expect(warnings).toEqual(['image identity taken from tags: the report has no repoTag.repo']);
  });

  it('falls back to the caller’s image name, tagging it latest when it has no tag', () => {
    const named = (imageName: string) =>
      normalizeReport(bare({ _id: 'opaque' }), { consoleId: 'console-a', imageName });
    const { image, warnings } = named('r.example/team/app@sha256:cd');
    expect(image.identity).toEqual({
      consoleId: 'console-a',
      registry: 'r.example',
      repo: 'team/app',
      tag: 'latest',
    });
    expect(image.digest).toBe('sha256:cd');
    expect(warnings).toEqual(['image identity taken from context.imageName: the report has no repoTag.repo']);
    expect(named('app:2').image.identity.tag).toBe('2');
    // A sha256 _id still gives the digest.
    expect(
      normalizeReport(bare({ _id: 'sha256:ef' }), { consoleId: 'console-a', imageName: 'app' }).image.digest,
    ).toBe('sha256:ef');
  });

  it('names the fields it looked at when nothing gives an identity, even with an unusable image name', () => {
    for (const imageName of [undefined, '', 'a b']) {
      let thrown: unknown;
      try {
        normalizeReport(bare({ _id: 'library/alpine', id: 'sha256:11' }), {
          consoleId: 'console-a',
          ...(imageName === undefined ? {} : { imageName }),
        });
      } catch (error) {
        thrown = error;
      }
      expect(isSyncError(thrown, 'normalize.invalid')).toBe(true);
      expect((thrown as SyncError).details).toEqual({
        field: 'repoTag.repo',
        reportId: 'library/alpine',
        imageId: 'sha256:11',
      });
    }
  });
});

describe('extractReports shapes', () => {
  it('reads an array as CI scans only when every object in it wraps an entityInfo', () => {
    expect(extractReports([{ entityInfo: { _id: 'a' } }, { entityInfo: { _id: 'b' } }, 'x']).dialect).toBe(
      'ciScans',
    );
    expect(extractReports([{ entityInfo: { _id: 'a' } }, { _id: 'b' }])).toEqual({
      dialect: 'registry',
      reports: [{ entityInfo: { _id: 'a' } }, { _id: 'b' }],
    });
  });

  it('takes an object with any one report field as a single report', () => {
    for (const name of ['_id', 'repoTag', 'id', 'vulnerabilities']) {
      expect(extractReports({ [name]: null }).dialect, name).toBe('report');
    }
  });

  it('refuses anything else naming the shapes it knows', () => {
    let thrown: unknown;
    try {
      extractReports({ scans: [] });
    } catch (error) {
      thrown = error;
    }
    expect(isSyncError(thrown, 'normalize.invalid')).toBe(true);
    expect((thrown as SyncError).message).toBe(
      'document holds no scan reports: expected an array of reports, {results:[…]}, {entityInfo:…} or an XSOAR context',
    );
    expect((thrown as SyncError).details).toEqual({ field: '(document)' });
  });
});
