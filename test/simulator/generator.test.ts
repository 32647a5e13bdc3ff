import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateReport, imageSlot, type RawReport, ZERO_TIME } from '../../simulator/generator.js';
import { COMPACT_DROPPED_KEYS, imageKeyOf } from '../../simulator/index.js';
import { referenceValidator } from './openapi-schema.js';

/** The real API report fixture, as committed (with its NOTICE) by the normalizer's tests. */
const FIXTURE = new URL('../normalize/fixtures/real/datadog-prisma_cloud-registry.json', import.meta.url);
const realReports = JSON.parse(readFileSync(FIXTURE, 'utf8')) as RawReport[];
const options = { seed: 1, heavyFraction: 0.01 };

/** What `compact=true` leaves of a full report: the oracle the compact generator is held to. */
function compactReport(report: RawReport): RawReport {
  return Object.fromEntries(
    Object.entries(report).filter(
      ([key, value]) => !COMPACT_DROPPED_KEYS.includes(key) && value !== undefined,
    ),
  );
}

/** 400 reports: the first 400 images, some rescanned with changed findings. */
const sample: RawReport[] = Array.from({ length: 400 }, (_, i) =>
  generateReport(options, imageSlot(1, i), {
    scanGeneration: i % 7 === 0 ? 2 : 0,
    findingsVersion: i % 7 === 0 ? 1 : 0,
  }),
);
const vulns = sample.flatMap((r) =>
  Array.isArray(r.vulnerabilities) ? (r.vulnerabilities as RawReport[]) : [],
);

function keys(objects: RawReport[]): Set<string> {
  return new Set(objects.flatMap((o) => Object.keys(o)));
}

describe.each(['prisma-compute-openapi-34.04-registry.json', 'prisma-compute-openapi-33.03-registry.json'])(
  'the generator against %s',
  (file) => {
    const validate = referenceValidator(file, 'shared.ImageScanResult');

    it('accepts the real DataDog reports (the schema conversion is faithful)', () => {
      for (const report of realReports) expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    });

    it('produces reports that validate against shared.ImageScanResult', () => {
      for (const report of sample)
        expect(validate(report), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    });

    it('rejects a drifted report, so the validation has teeth', () => {
      expect(validate({ ...sample[0], vulnerabilities: 'x' })).toBe(false);
      expect(validate({ ...sample[0], repoTag: 5 })).toBe(false);
    });
  },
);

describe('generated reports', () => {
  it('carry every key of the real API reports, at the top level and in vulnerabilities', () => {
    const realVulns = realReports.flatMap((r) =>
      Array.isArray(r.vulnerabilities) ? (r.vulnerabilities as RawReport[]) : [],
    );
    const generatedTop = keys(sample);
    for (const key of keys(realReports)) expect(generatedTop, key).toContain(key);
    const generatedVuln = keys(vulns);
    for (const key of keys(realVulns)) expect(generatedVuln, key).toContain(key);
  });

  it('use every vendor severity spelling', () => {
    const severities = new Set(vulns.map((v) => v.severity));
    for (const s of [
      'critical',
      'high',
      'medium',
      'low',
      'important',
      'moderate',
      'unimportant',
      'negligible',
    ]) {
      expect(severities).toContain(s);
    }
  });

  it('include findings with an empty cve and a numeric id, and PRISMA ids', () => {
    const empty = vulns.filter((v) => v.cve === '');
    expect(empty.length).toBeGreaterThan(0);
    for (const v of empty) expect(typeof v.id).toBe('number');
    expect(vulns.some((v) => String(v.cve).startsWith('PRISMA-'))).toBe(true);
  });

  it('include clean images with vulnerabilities: null, and null counts that disagree', () => {
    const clean = sample.filter((r) => r.vulnerabilities === null);
    expect(clean.length).toBeGreaterThan(10);
    expect(clean.some((r) => (r.vulnerabilitiesCount as number) > 0)).toBe(true);
  });

  it('include zero times and epoch-0 published dates, and findings without fixDate or cvss', () => {
    expect(sample.some((r) => r.firstScanTime === ZERO_TIME)).toBe(true);
    expect(sample.some((r) => (r.image as RawReport).created === ZERO_TIME)).toBe(true);
    expect(vulns.some((v) => v.published === 0)).toBe(true);
    expect(vulns.some((v) => !('fixDate' in v))).toBe(true);
    expect(vulns.some((v) => !('cvss' in v))).toBe(true);
  });

  it('include Docker Hub images with an empty registry', () => {
    const hub = sample.filter((r) => (r.repoTag as RawReport).registry === '');
    expect(hub.length).toBeGreaterThan(20);
    expect(imageKeyOf(hub[0])).toMatch(/^\/[^/]+\/[^:]+:.+$/);
  });

  it('use a sha256 _id on most reports and a name _id on some', () => {
    const sha = sample.filter((r) => String(r._id).startsWith('sha256:'));
    const named = sample.filter((r) => !String(r._id).startsWith('sha256:'));
    expect(sha.length).toBeGreaterThan(named.length * 5);
    expect(named.length).toBeGreaterThan(0);
    for (const r of named)
      expect(r._id).toBe(`${(r.repoTag as RawReport).repo}:${(r.repoTag as RawReport).tag}`);
  });

  it('carry the same image id under several tags and several registries', () => {
    const byImageId = new Map<string, RawReport[]>();
    for (const r of sample) byImageId.set(r.id as string, [...(byImageId.get(r.id as string) ?? []), r]);
    const shared = [...byImageId.values()].filter((list) => list.length > 1);
    expect(shared.length).toBeGreaterThan(20);
    const registries = shared.map((list) => new Set(list.map((r) => (r.repoTag as RawReport).registry)).size);
    expect(Math.max(...registries)).toBeGreaterThan(1);
  });

  it('miss optional fields on some reports and carry fields the schema does not know on others', () => {
    expect(sample.some((r) => !('firstScanTime' in r) || !('hostname' in r))).toBe(true);
    expect(sample.some((r) => !('packages' in r))).toBe(true);
    expect(sample.some((r) => 'packageCorrelationDone' in r || 'cveFixesSummary' in r)).toBe(true);
  });

  it('have heavy-tailed sizes: the heavy share is over 1 MB with thousands of vulnerabilities', () => {
    const sizes = sample.map((r) => JSON.stringify(r).length).sort((a, b) => a - b);
    const median = sizes[Math.floor(sizes.length / 2)]!;
    expect(median).toBeLessThan(100_000);
    const heavy = sample.filter((r) => JSON.stringify(r).length > 1_000_000);
    expect(heavy.length).toBeGreaterThan(0);
    for (const r of heavy) {
      expect((r.vulnerabilities as unknown[]).length).toBeGreaterThan(1000);
      expect((r.layers as unknown[]).length).toBeGreaterThan(50);
    }
  });

  it('keep the finding identity (id + package + version) unique within a report', () => {
    for (const r of sample) {
      const list = Array.isArray(r.vulnerabilities) ? (r.vulnerabilities as RawReport[]) : [];
      const ids = list.map((v) => `${v.cve === '' ? v.id : v.cve}|${v.packageName}|${v.packageVersion}`);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('give every image of 20,000 a distinct key', () => {
    const all = new Set(Array.from({ length: 20_000 }, (_, i) => imageSlot(9, i).key));
    expect(all.size).toBe(20_000);
  });
});

describe('compact reports', () => {
  it('equal compactReport of the full report, for every kind of image and version, history included', () => {
    const plain = { seed: 'compact', heavyFraction: 0.05 };
    const history = {
      ...plain,
      history: { startMs: Date.UTC(2026, 0, 1), spanMs: 42 * 86_400_000, steps: 7 },
    };
    const versions = [
      { options: plain, version: { scanGeneration: 0, findingsVersion: 0 } },
      { options: plain, version: { scanGeneration: 3, findingsVersion: 2 } },
      {
        options: history,
        version: {
          scanGeneration: 0,
          findingsVersion: 0,
          history: { firstStep: 1, scannedStep: 4, pushes: 1, pushedStep: 3 },
        },
      },
    ];
    for (let i = 0; i < 300; i++) {
      const slot = imageSlot('compact', i);
      for (const { options, version } of versions) {
        expect(JSON.stringify(generateReport(options, slot, version, true))).toBe(
          JSON.stringify(compactReport(generateReport(options, slot, version))),
        );
      }
    }
  });
});
