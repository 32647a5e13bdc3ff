import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { extractReports, imageKeyString, normalizeReport } from '../../lambda/normalize/index.js';
import { expectNothingLost, FIXTURE_FILES, loadFixture } from './support.js';

type Json = Record<string, unknown>;
const context = { consoleId: 'console-a' };

function reportsOf(file: (typeof FIXTURE_FILES)[number]): Json[] {
  return extractReports(loadFixture(file)).reports as Json[];
}

describe('normalizeReport on the real fixtures', () => {
  it('extracts the reports of all four dialects', () => {
    const found = FIXTURE_FILES.map((file) => {
      const { dialect, reports } = extractReports(loadFixture(file));
      return [file, dialect, reports.length];
    });
    expect(found).toEqual([
      ['datadog-prisma_cloud-registry.json', 'registry', 5],
      ['xsoar-ci-scan-results.json', 'ciScans', 2],
      ['xsoar-image-scan-results.json', 'xsoarContext', 1],
      ['defectdojo-many_vulns.json', 'twistcli', 1],
    ]);
  });

  it.each(FIXTURE_FILES)(
    'normalizes every report of %s without losing a finding, issue or package',
    (file) => {
      for (const raw of reportsOf(file)) {
        const normalized = normalizeReport(raw, {
          ...context,
          imageName: 'defectdojo/defectdojo-django:1.0',
        });
        expectNothingLost(raw, normalized);
        expect(normalized.image.contentHash).toMatch(/^[0-9a-f]{64}$/);
        for (const finding of normalized.findings) expect(finding.contentHash).toMatch(/^[0-9a-f]{64}$/);
      }
    },
  );

  describe('datadog registry array (old console: _id is a name)', () => {
    const normalized = reportsOf('datadog-prisma_cloud-registry.json').map((raw) =>
      normalizeReport(raw, context),
    );

    it('identifies each image by repoTag with the empty Docker Hub registry kept', () => {
      expect(normalized.map((report) => imageKeyString(report.image.identity))).toEqual([
        '/library/alpine:latest',
        '/library/alpine:3.11.2',
        '/library/alpine:3.11',
        '/library/alpine:3',
        '/library/alpine:3.11.0',
      ]);
      expect(normalized[1]?.image).toMatchObject({
        identity: { consoleId: 'console-a', registry: '', repo: 'library/alpine', tag: '3.11.2' },
        reportId: 'library/alpine:3.11.2',
        digest: null,
        imageId: 'sha256:cc0abc535e36a7ede71978ba2bbd8159b8a5420b91f2fbc520cdf5f673640a34',
        scanTime: '2019-12-30T23:08:06.611Z',
        tags: [{ registry: '', repo: 'library/alpine', tag: '3.11.2', digest: null }],
        osDistro: 'alpine',
        osDistroVersion: '3.11.2',
        scanVersion: '19.11.506',
        packageCount: 10,
        riskFactorCount: 0,
      });
    });

    it('reads CVE-2018-0495 in libgcrypt20 as a low finding with its epoch publish date', () => {
      const report = normalized[1];
      expect(report?.findings).toEqual([
        {
          key: 'CVE-2018-0495|libgcrypt20|1.8.2-2',
          id: 'CVE-2018-0495',
          severity: 'low',
          vendorSeverity: 'low',
          cvss: 4.7,
          packageName: 'libgcrypt20',
          packageVersion: '1.8.2-2',
          packageType: null,
          status: 'fixed in 1.8.3-1',
          fixDate: null,
          published: '2018-06-13T23:29:00.000Z',
          link: 'https://security-tracker.debian.org/tracker/CVE-2018-0495',
          title: null,
          description: expect.stringContaining('Libgcrypt before 1.7.10'),
          vector: 'CVSS:3.0/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N',
          riskFactors: ['Has fix', 'Recent vulnerability'],
          contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        },
      ]);
      expect(report?.image.vulnerabilityCounts).toEqual({
        critical: 0,
        high: 0,
        medium: 0,
        low: 1,
        total: 1,
      });
    });

    it('trusts the vulnerabilities array over the console distribution and says so', () => {
      expect(normalized[1]?.warnings).toEqual([
        'vulnerabilityDistribution.total says 0 but the report lists 1 vulnerabilities; counts come from the list',
      ]);
    });

    it('reads vulnerabilities: null on a clean image as no findings, without a warning', () => {
      for (const index of [0, 2, 3, 4]) {
        expect(normalized[index]?.findings).toEqual([]);
        expect(normalized[index]?.image.findingsIncomplete).toBeUndefined();
        expect(normalized[index]?.warnings).toEqual([]);
      }
    });

    it('keeps the compliance issue with its rule id as the key', () => {
      expect(normalized[0]?.compliance).toEqual([
        {
          key: '41',
          id: '41',
          severity: 'high',
          vendorSeverity: 'high',
          title: '(CIS_Docker_CE_v1.1.0 - 4.1) Image should be created with a non-root user',
          cause: null,
          type: 'image',
        },
      ]);
      expect(normalized[0]?.image.complianceCounts).toEqual({
        critical: 0,
        high: 1,
        medium: 0,
        low: 0,
        total: 1,
      });
    });

    it('keeps every package of packages[].pkgs[] with its license', () => {
      expect(normalized[0]?.packages).toContainEqual({
        type: 'package',
        name: 'openssl',
        version: '1.1.1d-r2',
        license: 'OpenSSL',
        path: null,
      });
      expect(normalized[0]?.packages.map((pkg) => pkg.name)).toHaveLength(10);
    });

    it('gives tags of one image id different content hashes (the tag is part of the identity)', () => {
      expect(new Set(normalized.map((report) => report.image.contentHash)).size).toBe(5);
    });
  });

  describe('xsoar CI scans (report inside entityInfo, no vulnerability list)', () => {
    const normalized = reportsOf('xsoar-ci-scan-results.json').map((raw) => normalizeReport(raw, context));

    it('identifies the ECR image and takes the digest from the sha256 _id', () => {
      expect(normalized[0]?.image).toMatchObject({
        identity: { registry: '1.dkr.ecr.eu-central-1.amazonaws.com', repo: 'pythonscript', tag: 'tag' },
        digest: 'sha256:a1',
        imageId: 'sha256:a3',
        osDistro: 'ubuntu',
        osDistroVersion: '22.04',
        scanTime: '2023-09-20T12:53:36.956Z',
        riskFactorCount: 11,
      });
    });

    it('marks the findings incomplete when the counters say 81 but the list is absent', () => {
      expect(normalized[0]?.findings).toEqual([]);
      expect(normalized[0]?.image.findingsIncomplete).toBe(true);
      expect(normalized[0]?.image.vulnerabilityCounts.total).toBe(0);
      expect(normalized[0]?.warnings).toContain(
        'vulnerabilities is missing although vulnerabilitiesCount says 81 and vulnerabilityDistribution.total says 81: ' +
          'a compact or trimmed report; findings are empty and findingsIncomplete is set',
      );
      expect(normalized[1]?.image.findingsIncomplete).toBe(true);
    });

    it('counts the one compliance issue listed and warns that the console claims five', () => {
      expect(normalized[0]?.compliance.map((issue) => issue.key)).toEqual(['41']);
      expect(normalized[0]?.warnings).toContain(
        'complianceIssuesCount says 5 and complianceDistribution.total says 5 but the report lists 1 compliance issues; counts come from the list',
      );
    });
  });

  describe('xsoar context (agentless scan, vulnerabilities: null with 23 counted)', () => {
    const [raw] = reportsOf('xsoar-image-scan-results.json');
    const normalized = normalizeReport(raw, context);

    it('keeps the repoTag identity with its empty tag and digest, and the other tags', () => {
      expect(normalized.image).toMatchObject({
        identity: { registry: 'some_registry', repo: 'some_repo', tag: '' },
        reportId: 'some_id',
        digest: 'some_repo_digest',
        imageId: 'some_other_id',
        tags: [{ registry: '', repo: 'some_repo_1', tag: 'latest', digest: null }],
        findingsIncomplete: true,
        packageCount: 0,
      });
      expect(imageKeyString(normalized.image.identity)).toBe('some_registry/some_repo:');
    });
  });

  describe('defectdojo twistcli output (results[], CVE in id, vector, flat packages)', () => {
    const [raw] = reportsOf('defectdojo-many_vulns.json');

    it('refuses a report that names no image, naming the field', () => {
      let thrown: unknown;
      try {
        normalizeReport(raw, context);
      } catch (error) {
        thrown = error;
      }
      expect(isSyncError(thrown, 'normalize.invalid')).toBe(true);
      expect(isSyncError(thrown) && thrown.details.field).toBe('repoTag.repo');
    });

    const normalized = normalizeReport(raw, { ...context, imageName: 'defectdojo/defectdojo-django:1.0' });

    it('takes the identity from the importer and the image id from id', () => {
      expect(normalized.image).toMatchObject({
        identity: { registry: '', repo: 'defectdojo/defectdojo-django', tag: '1.0' },
        reportId: '',
        digest: null,
        imageId: 'sha256:f4c0503d26c8da0a04e6190c9d4f2a30f38958852b9fb80bcd2b819a7571e7f7',
        osDistro: 'Debian GNU/Linux 9 (stretch)',
      });
      expect(normalized.warnings).toContain(
        'image identity taken from context.imageName: the report has no repoTag.repo',
      );
    });

    it('has 5 findings whose CVE ids come from id', () => {
      expect(normalized.findings.map((finding) => finding.id)).toEqual([
        'CVE-2013-7459',
        'CVE-2018-1000001',
        'CVE-2018-6485',
        'CVE-2018-9234',
        'CVE-2019-6465',
      ]);
      expect(normalized.image.vulnerabilityCounts).toEqual({
        critical: 1,
        high: 2,
        medium: 0,
        low: 2,
        total: 5,
      });
      expect(normalized.warnings).toContain(
        'vulnerabilityDistribution.total says 4 but the report lists 5 vulnerabilities; counts come from the list',
      );
    });

    it('keeps missing optional fields as null and the vendor severity over the cvss', () => {
      const byId = new Map(normalized.findings.map((finding) => [finding.id, finding]));
      expect(byId.get('CVE-2019-6465')).toMatchObject({ cvss: null, vector: null, status: 'open' });
      expect(byId.get('CVE-2019-6465')?.description).toContain('<div class=\\"field');
      expect(byId.get('CVE-2013-7459')).toMatchObject({
        status: null,
        severity: 'critical',
        vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      });
      expect(byId.get('CVE-2018-9234')).toMatchObject({ cvss: 7.5, severity: 'low', vendorSeverity: 'low' });
      expect(byId.get('CVE-2018-6485')?.key).toBe(
        'CVE-2018-6485|glibc (used in libc6, multiarch-support, libc-bin)|2.24-11+deb9u4',
      );
    });

    it('reads compliances[] keyed by title and the flat packages[] with their types', () => {
      expect(normalized.compliance).toEqual([
        {
          key: 'Sensitive information provided in environment variables',
          id: '',
          severity: 'high',
          vendorSeverity: 'high',
          title: 'Sensitive information provided in environment variables',
          cause: expect.stringContaining('DD_DATABASE_PASSWORD'),
          type: null,
        },
      ]);
      expect(normalized.packages.map((pkg) => `${pkg.type}:${pkg.name}@${pkg.version}`)).toEqual([
        'os:dpkg@1.18.25',
        'os:mawk@1.3.3-17',
        'python:wsgiref@0.1.2',
      ]);
    });
  });
});
