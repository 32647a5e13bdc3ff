import { describe, expect, it } from 'vitest';
import {
  DESCRIPTION_MAX_CHARS,
  FINDING_KEY_MAX_BYTES,
  findingKey,
  normalizeReport,
  TEXT_MAX_CHARS,
} from '../../lambda/normalize/index.js';
import { apiReport, vulnerability } from './support.js';

const context = { consoleId: 'console-a' };

function findingsOf(vulnerabilities: unknown) {
  return normalizeReport(apiReport({ vulnerabilities }), context);
}

describe('finding ids and keys', () => {
  it('uses id when cve is empty or missing (twistcli) and stringifies a numeric id', () => {
    const { findings } = findingsOf([
      vulnerability({ cve: '', id: 'CVE-2019-6465' }),
      vulnerability({ cve: undefined, id: 7, packageName: 'other' }),
      vulnerability({ cve: '  ', id: 'CVE-2020-1', packageName: 'third' }),
    ]);
    expect(findings.map((finding) => finding.key)).toEqual([
      '7|other|3.0.11-1',
      'CVE-2019-6465|openssl|3.0.11-1',
      'CVE-2020-1|third|3.0.11-1',
    ]);
  });

  it('keeps a row with neither cve nor id under a stable content-derived id', () => {
    const raw = [vulnerability({ cve: '', id: null })];
    const first = findingsOf(raw);
    const second = findingsOf(raw);
    expect(first.findings).toHaveLength(1);
    expect(first.findings[0]?.id).toMatch(/^UNIDENTIFIED-[0-9a-f]{16}$/);
    expect(second.findings[0]?.id).toBe(first.findings[0]?.id);
    expect(first.warnings.join('\n')).toMatch(/1 vulnerabilities without cve or id were kept/);
  });

  it('escapes | and \\ so different triples never share a key', () => {
    expect(findingKey('CVE-1', 'a|b', 'c')).toBe('CVE-1|a\\|b|c');
    expect(findingKey('CVE-1', 'a', 'b|c')).toBe('CVE-1|a|b\\|c');
    expect(findingKey('CVE-1', 'a\\', '|c')).not.toBe(findingKey('CVE-1', 'a\\|', 'c'));
  });

  it('shortens a key over the byte limit to a prefix plus a hash of the whole key', () => {
    const long = findingKey('CVE-1', `bind9 (used in ${'libfoo, '.repeat(200)})`, '1');
    expect(Buffer.byteLength(long, 'utf8')).toBeLessThanOrEqual(FINDING_KEY_MAX_BYTES);
    expect(long).toMatch(/^CVE-1\|bind9 \(used in libfoo, .*…#[0-9a-f]{64}$/);
    expect(findingKey('CVE-1', `bind9 (used in ${'libfoo, '.repeat(200)})`, '2')).not.toBe(long);
  });

  it('keeps the same vulnerability in two packages or two versions as separate findings', () => {
    const { findings } = findingsOf([
      vulnerability(),
      vulnerability({ packageName: 'libssl3' }),
      vulnerability({ packageVersion: '3.0.13-1' }),
    ]);
    expect(findings).toHaveLength(3);
  });
});

describe('merging rows that share a key', () => {
  it('collapses identical rows without a warning', () => {
    const { findings, warnings } = findingsOf([vulnerability(), vulnerability(), vulnerability()]);
    expect(findings).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('merges differing rows: most severe leads, highest cvss, union of risk factors, gaps filled', () => {
    const rows = [
      vulnerability({ severity: 'low', cvss: 9.1, status: 'open', link: '', riskFactors: ['Has fix'] }),
      vulnerability({
        severity: 'important',
        cvss: 7.5,
        status: 'fixed in 3',
        link: '',
        riskFactors: { 'Exploit exists': {} },
      }),
      vulnerability({
        severity: 'high',
        cvss: null,
        status: null,
        link: 'https://example.com/x',
        riskFactors: null,
      }),
    ];
    const { findings, warnings } = findingsOf(rows);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      severity: 'high',
      vendorSeverity: 'important',
      cvss: 9.1,
      status: 'fixed in 3',
      link: 'https://example.com/x',
      riskFactors: ['Exploit exists', 'Has fix'],
    });
    expect(warnings).toEqual([
      '1 findings merged from rows that share a key but differ (e.g. "CVE-2023-5678|openssl|3.0.11-1")',
    ]);
    expect(findingsOf([...rows].reverse()).findings).toEqual(findings);
    expect(findingsOf([rows[1], rows[2], rows[0]]).findings).toEqual(findings);
  });
});

describe('finding fields', () => {
  it('reads vector from vecStr or vector and risk factors from a map or an array', () => {
    const { findings } = findingsOf([
      vulnerability({ vecStr: undefined, vector: 'CVSS:3.0/AV:N', riskFactors: ['b', 'a', 'a', ''] }),
    ]);
    expect(findings[0]).toMatchObject({ vector: 'CVSS:3.0/AV:N', riskFactors: ['a', 'b'] });
  });

  it('turns zero dates and empty strings into null and reads a numeric-string cvss', () => {
    const { findings } = findingsOf([
      vulnerability({
        fixDate: 0,
        published: '0001-01-01T00:00:00Z',
        link: '',
        title: '',
        status: '',
        cvss: '4.7',
      }),
    ]);
    expect(findings[0]).toMatchObject({
      fixDate: null,
      published: null,
      link: null,
      title: null,
      status: null,
      cvss: 4.7,
    });
  });

  it('warns about an unreadable date and keeps null', () => {
    const { findings, warnings } = findingsOf([vulnerability({ fixDate: 'January 01, 1970 00:00:00 AM' })]);
    expect(findings[0]?.fixDate).toBeNull();
    expect(warnings).toEqual([
      '1 vulnerabilities with an unreadable fixDate (kept as null) (e.g. "January 01, 1970 00:00:00 AM")',
    ]);
  });

  it('ignores unknown fields and wrong-but-harmless types', () => {
    const plain = findingsOf([vulnerability()]);
    const noisy = findingsOf([
      vulnerability({ futureField: { nested: [1, 2] }, exploits: 'x', applicableRules: 5, templates: {} }),
      'not an object',
      null,
      42,
    ]);
    expect(noisy.findings).toEqual(plain.findings);
    expect(noisy.warnings).toEqual([
      '3 vulnerabilities[] entries that are not objects were ignored (e.g. "42", "not an object", "null")',
    ]);
  });

  it('treats vulnerabilities: null or a non-array as no findings', () => {
    expect(findingsOf(null).findings).toEqual([]);
    const odd = findingsOf({ cve: 'CVE-1' });
    expect(odd.findings).toEqual([]);
    expect(odd.warnings).toContain('vulnerabilities is object, not an array: no findings read from it');
  });

  it('counts unrecognized severities in one warning and rates them by cvss', () => {
    const { findings, warnings } = findingsOf([
      vulnerability({ severity: 'info', cvss: 9.9 }),
      vulnerability({ severity: 'info', cvss: 1, packageName: 'zlib' }),
    ]);
    expect(findings.map((finding) => finding.severity)).toEqual(['critical', 'low']);
    expect(warnings).toEqual(['2 vulnerabilities with an unrecognized severity (e.g. "info")']);
  });
});

describe('huge strings', () => {
  const huge = `${'A vulnerability description. '.repeat(350_000)}`; // ~10 MB

  it('caps a 10 MB description on the record, flags it, and still hashes all of it', () => {
    const normalized = findingsOf([vulnerability({ description: huge })]);
    const [finding] = normalized.findings;
    expect(finding?.description).toHaveLength(DESCRIPTION_MAX_CHARS + 1);
    expect(finding?.description?.endsWith('…')).toBe(true);
    expect(finding?.descriptionTruncated).toBe(true);
    expect(normalized.warnings.join('\n')).toMatch(/descriptions longer than 8192 characters were cut/);

    const changedAtTheEnd = findingsOf([vulnerability({ description: `${huge}!` })]).findings[0];
    expect(changedAtTheEnd?.description).toBe(finding?.description);
    expect(changedAtTheEnd?.contentHash).not.toBe(finding?.contentHash);
  });

  it('caps huge titles, statuses, package names and compliance or package text', () => {
    const long = 'x'.repeat(TEXT_MAX_CHARS * 10);
    const normalized = normalizeReport(
      apiReport({
        vulnerabilities: [vulnerability({ title: long, status: long, packageName: long })],
        complianceIssues: [{ id: 1, title: long, cause: long }],
        packages: [{ pkgsType: 'package', pkgs: [{ name: long, version: '1', license: long }] }],
      }),
      context,
    );
    const [finding] = normalized.findings;
    for (const value of [finding?.title, finding?.status, finding?.packageName]) {
      expect(value).toHaveLength(TEXT_MAX_CHARS + 1);
    }
    expect(Buffer.byteLength(finding?.key ?? '', 'utf8')).toBeLessThanOrEqual(FINDING_KEY_MAX_BYTES);
    expect(normalized.compliance[0]?.title).toHaveLength(TEXT_MAX_CHARS + 1);
    expect(normalized.packages[0]?.license).toHaveLength(TEXT_MAX_CHARS + 1);
    expect(JSON.stringify(normalized).length).toBeLessThan(20_000);
  });

  it('never cuts a surrogate pair in half', () => {
    const emoji = `a${'😀'.repeat(DESCRIPTION_MAX_CHARS)}`; // odd offset: the cap falls inside a pair
    const description = findingsOf([vulnerability({ description: emoji })]).findings[0]?.description ?? '';
    expect(Buffer.from(description, 'utf8').toString('utf8')).toBe(description); // a lone surrogate would become U+FFFD
  });
});

describe('hostile input', () => {
  it('reads __proto__ keys as plain data without polluting any prototype', () => {
    const raw = JSON.parse(`{
      "__proto__": { "polluted": true, "repoTag": { "repo": "evil" } },
      "constructor": { "prototype": { "polluted": true } },
      "repoTag": { "registry": "", "repo": "app", "tag": "1", "__proto__": { "polluted": true } },
      "vulnerabilities": [
        { "cve": "CVE-1", "packageName": "p", "packageVersion": "1", "severity": "high",
          "riskFactors": { "__proto__": {}, "Has fix": {} }, "__proto__": { "severity": "critical" } }
      ],
      "packages": [ { "pkgsType": "package", "pkgs": [ { "name": "p", "version": "1", "__proto__": { "license": "x" } } ] } ]
    }`);
    const normalized = normalizeReport(raw, context);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(normalized.image)).toBe(Object.prototype);
    expect(normalized.image.identity.repo).toBe('app');
    expect(normalized.findings[0]).toMatchObject({ severity: 'high', riskFactors: ['Has fix', '__proto__'] });
    expect(normalized.packages[0]?.license).toBeNull();
  });

  it('does not read inherited properties as report fields', () => {
    const inherited = Object.create({ repoTag: { registry: '', repo: 'inherited', tag: '1' } }) as object;
    expect(() => normalizeReport(inherited, context)).toThrow(/no image identity/);
  });
});
