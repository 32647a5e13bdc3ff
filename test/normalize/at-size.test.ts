import { describe, expect, it } from 'vitest';
import { extractReports, normalizeReport } from '../../lambda/normalize/index.js';
import { FIXTURE_FILES, loadFixture } from './support.js';

const context = { consoleId: 'console-a', imageName: 'defectdojo/defectdojo-django:1.0' };

/** A report of about 5 MB: 3,000 vulnerabilities with real-sized descriptions, 2,000 packages. */
function fiveMegabyteReport(): Record<string, unknown> {
  const description =
    'Improper input validation in a widely used library allows a remote attacker to '.repeat(16);
  return {
    _id: 'sha256:5555',
    id: 'sha256:5555',
    repoTag: { registry: 'registry.example.com', repo: 'big/app', tag: '1' },
    scanTime: '2024-01-08T11:19:49.252Z',
    vulnerabilities: Array.from({ length: 3_000 }, (_, index) => ({
      cve: `CVE-2024-${10_000 + (index % 1_500)}`,
      id: 46,
      severity: ['critical', 'high', 'important', 'medium', 'moderate', 'low', 'negligible'][index % 7],
      cvss: (index % 100) / 10,
      vecStr: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      packageName: `package-${index % 400}`,
      packageVersion: `1.${index % 3}.0`,
      status: index % 2 === 0 ? 'fixed in 2.0.0' : 'open',
      published: 1_700_000_000 + index,
      fixDate: 0,
      link: `https://nvd.nist.gov/vuln/detail/CVE-2024-${10_000 + index}`,
      description,
      riskFactors: { 'Has fix': {}, 'Attack vector: network': {}, 'Remote execution': {} },
      layerTime: 1_700_000_000,
      applicableRules: ['<2.0.0'],
    })),
    packages: [
      {
        pkgsType: 'package',
        pkgs: Array.from({ length: 2_000 }, (_, index) => ({
          name: `package-${index}`,
          version: `1.${index % 3}.0`,
          license: 'MIT',
          cveCount: index % 5,
          layerTime: 1_700_000_000,
        })),
      },
    ],
  };
}

// Speed is measured by `npm run bench` (normalize alone); these tests hold only behaviour at size.
describe('normalization at size', () => {
  it('normalizes every real fixture report to the same records each time', () => {
    const reports = FIXTURE_FILES.flatMap((file) => extractReports(loadFixture(file)).reports);
    const first = reports.map((report) => JSON.stringify(normalizeReport(report, context)));
    for (let pass = 0; pass < 3; pass++) {
      reports.forEach((report, at) => {
        expect(JSON.stringify(normalizeReport(report, context))).toBe(first[at]);
      });
    }
  });

  it('normalizes a 5 MB report with every one of its 3,000 findings', () => {
    const raw = fiveMegabyteReport();
    const json = JSON.stringify(raw);
    expect(json.length).toBeGreaterThan(5_000_000);
    const normalized = normalizeReport(JSON.parse(json), context);
    expect(normalized.findings).toHaveLength(3_000);
    expect(normalized.image.vulnerabilityCounts.total).toBe(3_000);
    expect(normalized.packages.length).toBeGreaterThan(0);
  });
});
