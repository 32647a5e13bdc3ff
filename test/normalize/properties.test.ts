import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COUNTER_FIELDS,
  findingKey,
  normalizeReport,
  parseTime,
  VOLATILE_FINDING_FIELDS,
  VOLATILE_REPORT_FIELDS,
} from '../../lambda/normalize/index.js';
import { expectedVulnId, expectNothingLost } from './support.js';

type Json = Record<string, unknown>;

// A fixed seed keeps the suite deterministic; 300 runs per property stay well under a second each.
// Mutation testing runs each property against every normalizer mutant, with fewer runs
// (NORMALIZE_PROPERTY_RUNS, set in vitest.mutation.config.ts).
fc.configureGlobal({ seed: 0x5eed_2024, numRuns: Number(process.env.NORMALIZE_PROPERTY_RUNS ?? 300) });

const context = { consoleId: 'console-a' };
/** Never produced by the generators, so a mutation with it always makes a new value. */
const MARK = '~mutated~';

const vulnIds = fc.constantFrom(
  'CVE-2023-0001',
  'CVE-2023-0002',
  ' CVE-2024-9 ',
  'GHSA-abcd-efgh',
  'PRISMA-2021-0020',
  'CVE|pipe',
);
const maybeMissing = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof(arbitrary, fc.constant(null), fc.constant(undefined), fc.constant(''));
const shortText = fc.string({ maxLength: 12 });
const factorName = fc.constantFrom(
  'Has fix',
  'Exploit exists',
  'Recent vulnerability',
  'DoS - Low',
  '__proto__',
);
const time = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1_000_000_000, max: 2_000_000_000 }),
  fc.constant('0001-01-01T00:00:00Z'),
  fc.constant('2024-01-08T10:52:12.1Z'),
  fc.constant(null),
);

/**
 * One raw vulnerability row: random ids, nulls, odd types, unknown fields. Ids and packages
 * come from a pool: a wide pool gives mostly distinct keys, a narrow one makes many rows share
 * a key while differing, which is what exercises merging.
 */
function vulnerabilityRow(pool: 'wide' | 'narrow'): fc.Arbitrary<Json> {
  const ids = pool === 'wide' ? vulnIds : fc.constantFrom('CVE-2023-0001', 'CVE-2023-0002');
  return fc
    .record(
      {
        cve: maybeMissing(ids),
        id: fc.oneof(ids, fc.integer({ min: 0, max: pool === 'wide' ? 60 : 1 }), fc.constant(null)),
        severity: fc.constantFrom(
          'critical',
          'high',
          'important',
          'medium',
          'moderate',
          'low',
          'unimportant',
          'negligible',
          'unknown',
          '',
          'High',
          'info',
          null,
          undefined,
        ),
        cvss: fc.oneof(
          fc.constant(null),
          fc.double({ min: 0, max: 10, noNaN: true }),
          fc.constant('7.5'),
          fc.constant('n/a'),
        ),
        packageName:
          pool === 'wide'
            ? fc.constantFrom('openssl', 'zlib', 'glibc (used in libc6)', 'a|b', 'a\\', '')
            : fc.constantFrom('openssl', 'zlib'),
        packageVersion:
          pool === 'wide' ? fc.constantFrom('1.0', '1.0-r1', '2:3.4', '|1', '') : fc.constant('1.0'),
        packageType: maybeMissing(fc.constantFrom('package', 'python', 'jar')),
        status: maybeMissing(shortText),
        link: maybeMissing(shortText),
        title: maybeMissing(shortText),
        description: maybeMissing(fc.string({ maxLength: 40 })),
        vecStr: maybeMissing(fc.constantFrom('CVSS:3.1/AV:N', 'CVSS:3.0/AV:L')),
        vector: maybeMissing(fc.constantFrom('CVSS:3.1/AV:N', 'CVSS:2.0/AV:N')),
        riskFactors: fc.oneof(
          fc.constant(null),
          fc.array(factorName, { maxLength: 3 }),
          fc.dictionary(factorName, fc.constant({}), { maxKeys: 3 }),
        ),
        published: time,
        fixDate: time,
        futureField: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    )
    .map((row) => (expectedVulnId(row) === null ? { ...row, id: 0 } : row));
}

/** A report around random vulnerability rows, some of them repeated verbatim. */
const rawReport: fc.Arbitrary<Json> = fc
  .record({
    vulnerabilities: fc.oneof(
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 3, arbitrary: fc.array(vulnerabilityRow('wide'), { maxLength: 25 }) },
      { weight: 3, arbitrary: fc.array(vulnerabilityRow('narrow'), { maxLength: 12 }) },
    ),
    repeat: fc.array(fc.nat(), { maxLength: 5 }),
    complianceIssues: fc.array(
      fc.record({
        id: fc.integer({ min: 1, max: 6 }),
        severity: fc.constantFrom('high', 'low', 'critical'),
        cause: shortText,
      }),
      { maxLength: 6 },
    ),
    packages: fc.array(
      fc.record({ name: fc.constantFrom('zlib', 'musl', 'openssl'), version: fc.constantFrom('1', '2') }),
      {
        maxLength: 6,
      },
    ),
  })
  .map(({ vulnerabilities, repeat, complianceIssues, packages }) => {
    const rows = vulnerabilities === null ? null : [...vulnerabilities];
    if (rows !== null && rows.length > 0)
      for (const index of repeat) rows.push(rows[index % rows.length] as Json);
    return {
      _id: 'sha256:0123',
      id: 'sha256:0123',
      repoTag: { registry: 'registry.example.com', repo: 'team/app', tag: '1.2' },
      tags: [{ registry: 'registry.example.com', repo: 'team/app', tag: '1.2' }],
      scanTime: '2024-01-08T11:19:49.252Z',
      vulnerabilities: rows,
      complianceIssues,
      packages: [{ pkgsType: 'package', pkgs: packages }],
    };
  });

/** A deterministic permutation (mulberry32-driven Fisher–Yates). */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function rows(report: Json): Json[] {
  return Array.isArray(report.vulnerabilities) ? (report.vulnerabilities as Json[]) : [];
}

function keyOf(row: Json): string {
  const text = (value: unknown): string => (typeof value === 'string' && value.trim() !== '' ? value : '');
  return findingKey(expectedVulnId(row) ?? '', text(row.packageName), text(row.packageVersion));
}

describe('normalizeReport properties', () => {
  it('loses no finding: every distinct (id, package, version) appears exactly once, and counts equal the findings', () => {
    fc.assert(
      fc.property(rawReport, (raw) => {
        expectNothingLost(raw, normalizeReport(raw, context));
      }),
    );
  });

  it('is deterministic and independent of the order of vulnerabilities, issues, packages and tags', () => {
    fc.assert(
      fc.property(rawReport, fc.integer(), (raw, seed) => {
        const [group] = (raw.packages as Json[]) ?? [];
        const reordered = {
          ...raw,
          vulnerabilities: raw.vulnerabilities === null ? null : shuffle(rows(raw), seed),
          complianceIssues: shuffle(raw.complianceIssues as Json[], seed + 1),
          packages: [{ ...group, pkgs: shuffle((group?.pkgs as Json[]) ?? [], seed + 2) }],
        };
        expect(normalizeReport(reordered, context)).toEqual(normalizeReport(raw, context));
        expect(normalizeReport(raw, context)).toEqual(normalizeReport(structuredClone(raw), context));
      }),
    );
  });

  it('merges rows sharing a key into the most severe level, the highest cvss and the union of risk factors', () => {
    const rank = { critical: 3, high: 2, medium: 1, low: 0 } as const;
    fc.assert(
      fc.property(rawReport, (raw) => {
        const { findings } = normalizeReport(raw, context);
        for (const finding of findings) {
          const group = rows(raw)
            .filter((row) => keyOf(row) === finding.key)
            .map((row) => normalizeReport({ ...raw, vulnerabilities: [row] }, context).findings[0]);
          const maxRank = Math.max(...group.map((single) => rank[single?.severity ?? 'low']));
          expect(rank[finding.severity]).toBe(maxRank);
          const scores = group.flatMap((single) => (single?.cvss == null ? [] : [single.cvss]));
          expect(finding.cvss).toBe(scores.length === 0 ? null : Math.max(...scores));
          expect(finding.riskFactors).toEqual(
            [...new Set(group.flatMap((single) => single?.riskFactors ?? []))].sort(),
          );
        }
      }),
    );
  });

  it('merges verbatim duplicate rows into the findings the unique rows give', () => {
    fc.assert(
      fc.property(rawReport, (raw) => {
        const doubled = {
          ...raw,
          vulnerabilities: raw.vulnerabilities === null ? null : [...rows(raw), ...rows(raw)],
        };
        const once = normalizeReport(raw, context);
        const twice = normalizeReport(doubled, context);
        expect(twice.findings).toEqual(once.findings);
        expect(twice.image.contentHash).toBe(once.image.contentHash);
      }),
    );
  });

  it('keeps the content hash when only volatile report and finding fields change', () => {
    // Without a vulnerability list the counters tell a clean image from a compacted report
    // (findingsIncomplete), so they are volatile only when the list is present.
    const volatileWithoutList = Object.keys(VOLATILE_REPORT_FIELDS).filter(
      (name) => !(COUNTER_FIELDS as readonly string[]).includes(name),
    );
    const volatileValues = fc.record(
      Object.fromEntries(
        Object.keys(VOLATILE_REPORT_FIELDS).map((name) => [name, fc.jsonValue({ maxDepth: 2 })]),
      ),
    );
    const volatileFindingValues = fc.record(
      Object.fromEntries(
        Object.keys(VOLATILE_FINDING_FIELDS).map((name) => [name, fc.jsonValue({ maxDepth: 2 })]),
      ),
    );
    fc.assert(
      fc.property(rawReport, volatileValues, volatileFindingValues, (raw, reportNoise, findingNoise) => {
        const applicable = Array.isArray(raw.vulnerabilities)
          ? reportNoise
          : Object.fromEntries(volatileWithoutList.map((name) => [name, reportNoise[name]]));
        const noisy = {
          ...raw,
          ...applicable,
          vulnerabilities:
            raw.vulnerabilities === null ? null : rows(raw).map((row) => ({ ...row, ...findingNoise })),
        };
        const before = normalizeReport(raw, context);
        const after = normalizeReport(noisy, context);
        expect(after.image.contentHash).toBe(before.image.contentHash);
        expect(after.findings.map((finding) => finding.contentHash)).toEqual(
          before.findings.map((finding) => finding.contentHash),
        );
      }),
    );
  });

  it('changes the content hash when any field of any finding changes', () => {
    const mutableFields = [
      'id',
      'severity',
      'cvss',
      'packageName',
      'packageVersion',
      'packageType',
      'status',
      'published',
      'fixDate',
      'link',
      'title',
      'description',
      'vector',
      'riskFactors',
    ] as const;
    const withUniqueKeys = rawReport
      .map((raw) => {
        const unique = new Map(rows(raw).map((row) => [keyOf(row), row]));
        return { ...raw, vulnerabilities: [...unique.values()] };
      })
      .filter((raw) => raw.vulnerabilities.length > 0);

    fc.assert(
      fc.property(withUniqueKeys, fc.nat(), fc.constantFrom(...mutableFields), (raw, pick, name) => {
        const index = pick % raw.vulnerabilities.length;
        const row = { ...(raw.vulnerabilities[index] as Json) };
        const present = (value: unknown): string =>
          typeof value === 'string' && value.trim() !== ''
            ? value
            : typeof value === 'number'
              ? String(value)
              : '';
        switch (name) {
          case 'id':
            if (present(row.cve) !== '') row.cve = `${present(row.cve)}${MARK}`;
            else row.id = `${present(row.id)}${MARK}`;
            break;
          case 'cvss': {
            const current = typeof row.cvss === 'number' ? row.cvss : Number.parseFloat(String(row.cvss));
            row.cvss = (Number.isFinite(current) ? current : 0) + 1;
            break;
          }
          case 'published':
          case 'fixDate':
            row[name] =
              parseTime(row[name]).iso === '2017-07-14T02:40:00.000Z' ? 1_600_000_000 : 1_500_000_000;
            break;
          case 'vector':
            if (present(row.vecStr) !== '') row.vecStr = `${present(row.vecStr)}${MARK}`;
            else row.vector = `${present(row.vector)}${MARK}`;
            break;
          case 'riskFactors':
            row.riskFactors = Array.isArray(row.riskFactors)
              ? [...row.riskFactors, MARK]
              : { ...(row.riskFactors as Json | null), [MARK]: {} };
            break;
          default:
            row[name] = `${present(row[name])}${MARK}`;
        }
        const mutated = {
          ...raw,
          vulnerabilities: raw.vulnerabilities.map((old, i) => (i === index ? row : old)),
        };
        const before = normalizeReport(raw, context);
        const after = normalizeReport(mutated, context);
        expect(after.image.contentHash).not.toBe(before.image.contentHash);
        expect(after.findings.length).toBe(before.findings.length);
      }),
    );
  });
});

describe('findingsIncomplete', () => {
  it('changes the hash when a report without a list turns from clean to compacted', () => {
    const clean = {
      repoTag: { registry: '', repo: 'app', tag: '1' },
      vulnerabilities: null,
      vulnerabilitiesCount: 0,
    };
    const compacted = { ...clean, vulnerabilitiesCount: 3 };
    const before = normalizeReport(clean, context);
    const after = normalizeReport(compacted, context);
    expect(before.image.findingsIncomplete).toBeUndefined();
    expect(after.image.findingsIncomplete).toBe(true);
    expect(after.image.contentHash).not.toBe(before.image.contentHash);
  });
});
