import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { NormalizedReport } from '../../lambda/common/records.js';
import { findingKey } from '../../lambda/normalize/index.js';

/** The real reports of shared/fixtures/real, copied unchanged (see fixtures/real/NOTICE). */
export const FIXTURE_FILES = [
  'datadog-prisma_cloud-registry.json',
  'xsoar-ci-scan-results.json',
  'xsoar-image-scan-results.json',
  'defectdojo-many_vulns.json',
] as const;

export type FixtureFile = (typeof FIXTURE_FILES)[number];

/** A fixture parsed as JSON (a fresh copy each call, so tests may mutate it). */
export function loadFixture(name: FixtureFile): unknown {
  return JSON.parse(readFileSync(new URL(`./fixtures/real/${name}`, import.meta.url), 'utf8'));
}

/** The raw text of a fixture. */
export function fixtureText(name: FixtureFile): string {
  return readFileSync(new URL(`./fixtures/real/${name}`, import.meta.url), 'utf8');
}

type Json = Record<string, unknown>;

/** A small API-shaped report: identity, one vulnerability, one compliance issue, one package. */
export function apiReport(overrides: Json = {}): Json {
  return {
    _id: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
    id: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
    repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.2', digest: 'sha256:aaaa' },
    tags: [{ registry: 'registry.example.com', repo: 'team/app', tag: '1.2' }],
    scanTime: '2024-01-08T11:19:49.252Z',
    osDistro: 'debian',
    osDistroRelease: 'bookworm',
    vulnerabilities: [vulnerability()],
    complianceIssues: [{ id: 41, severity: 'high', title: 'Image should be created with a non-root user' }],
    packages: [
      { pkgsType: 'package', pkgs: [{ name: 'openssl', version: '3.0.11-1', license: 'Apache-2.0' }] },
    ],
    ...overrides,
  };
}

/** One API-shaped vulnerability row. */
export function vulnerability(overrides: Json = {}): Json {
  return {
    cve: 'CVE-2023-5678',
    id: 46,
    severity: 'medium',
    cvss: 5.3,
    vecStr: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L',
    packageName: 'openssl',
    packageVersion: '3.0.11-1',
    status: 'fixed in 3.0.13-1',
    published: 1699000000,
    fixDate: 1700000000,
    link: 'https://security-tracker.debian.org/tracker/CVE-2023-5678',
    title: '',
    description: 'Generating excessively long X9.42 DH keys may be slow.',
    riskFactors: { 'Has fix': {}, 'DoS - Low': {} },
    ...overrides,
  };
}

/**
 * The vulnerability id a raw row should be keyed by, derived independently of the normalizer:
 * `cve` when it has non-blank text, else `id`.
 */
export function expectedVulnId(row: Json): string | null {
  const asText = (value: unknown): string | null =>
    typeof value === 'string'
      ? value.trim() === ''
        ? null
        : value.trim()
      : typeof value === 'number'
        ? String(value)
        : null;
  return asText(row.cve) ?? asText(row.id);
}

/**
 * Asserts that nothing of `raw` was lost: every distinct (vuln id, package, version) of its
 * vulnerability rows is exactly one finding, each compliance row and each named package is
 * represented, and the counts equal the arrays.
 */
export function expectNothingLost(raw: Json, normalized: NormalizedReport): void {
  const rows = (Array.isArray(raw.vulnerabilities) ? raw.vulnerabilities : []) as Json[];
  const text = (value: unknown): string => (typeof value === 'string' && value.trim() !== '' ? value : '');
  const expectedKeys = new Set(
    rows.map((row) =>
      findingKey(expectedVulnId(row) ?? '?', text(row.packageName), text(row.packageVersion)),
    ),
  );
  const keys = normalized.findings.map((finding) => finding.key);
  expect(new Set(keys).size).toBe(keys.length);
  for (const key of expectedKeys) {
    if (!key.startsWith('?|')) expect(keys).toContain(key);
  }
  expect(keys.length).toBe(expectedKeys.size);

  const counts = normalized.image.vulnerabilityCounts;
  for (const severity of ['critical', 'high', 'medium', 'low'] as const) {
    expect(counts[severity]).toBe(
      normalized.findings.filter((finding) => finding.severity === severity).length,
    );
  }
  expect(counts.total).toBe(normalized.findings.length);
  expect(counts.total).toBe(counts.critical + counts.high + counts.medium + counts.low);

  const complianceRows = [
    ...(Array.isArray(raw.complianceIssues) ? raw.complianceIssues : []),
    ...(Array.isArray(raw.compliances) ? raw.compliances : []),
  ];
  expect(normalized.compliance.length).toBeLessThanOrEqual(complianceRows.length);
  expect(normalized.compliance.length).toBeGreaterThanOrEqual(complianceRows.length > 0 ? 1 : 0);
  expect(new Set(normalized.compliance.map((issue) => issue.key)).size).toBe(normalized.compliance.length);
  expect(normalized.image.complianceCounts.total).toBe(normalized.compliance.length);

  const packageNames = new Set<string>();
  for (const entry of (Array.isArray(raw.packages) ? raw.packages : []) as Json[]) {
    const pkgs = Array.isArray(entry.pkgs) ? (entry.pkgs as Json[]) : [entry];
    for (const pkg of pkgs) if (typeof pkg.name === 'string' && pkg.name !== '') packageNames.add(pkg.name);
  }
  expect(new Set(normalized.packages.map((pkg) => pkg.name))).toEqual(packageNames);
  expect(normalized.image.packageCount).toBe(normalized.packages.length);
}
