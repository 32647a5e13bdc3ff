/**
 * The findings the product stores, checked against an oracle that never runs the product's
 * normalizer: test/support/reference-findings.ts reads the raw report JSON as SPEC.md describes it.
 * Real reports (the public fixtures, four dialects) go through one page write each; generated ones
 * (the simulator, every distro's severity words, some heavy reports) through a whole engine run.
 * What is compared is what `query image` shows: id, package, version, severity, score.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeReport } from '../../lambda/normalize/index.js';
import type { Stores } from '../../lambda/store/index.js';
import { startSimulator } from '../../simulator/index.js';
import { createTestTables, localDocumentClient, uniqueTablePrefix } from '../support/dynamo.js';
import { REPO_ROOT } from '../support/e2e.js';
import { findingLines, referenceFindings } from '../support/reference-findings.js';
import { parseImageKey, storesOf, syncOnce } from './support.js';

const FIXTURES = join(REPO_ROOT, 'test', 'normalize', 'fixtures', 'real');
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  doc = localDocumentClient();
});
afterAll(() => {
  doc?.destroy();
});

/** Where each real file keeps its image reports (see the fixtures' README), read by hand here. */
const REAL: Array<{
  file: string;
  reports: (json: unknown) => unknown[];
  findings: number;
  /** twistcli output names no image: the operator names it (`imageName`), as on import. */
  imageName?: string;
}> = [
  { file: 'datadog-prisma_cloud-registry.json', reports: (j) => j as unknown[], findings: 1 },
  {
    file: 'xsoar-ci-scan-results.json',
    reports: (j) => (j as Array<{ entityInfo: unknown }>).map((r) => r.entityInfo),
    findings: 0,
  },
  {
    file: 'xsoar-image-scan-results.json',
    reports: (j) =>
      (j as { PrismaCloudCompute: { ReportsImagesScan: unknown[] } }).PrismaCloudCompute.ReportsImagesScan,
    findings: 0,
  },
  {
    file: 'defectdojo-many_vulns.json',
    reports: (j) => (j as { results: unknown[] }).results,
    findings: 5,
    imageName: 'defectdojo/defectdojo-django:1.0',
  },
];

async function storedLines(stores: Stores, key: { registry: string; repo: string; tag: string }) {
  const view = await stores.queries.image(key);
  expect(view, `image ${key.registry}/${key.repo}:${key.tag} stored`).toBeDefined();
  return findingLines(view?.findings ?? []);
}

describe('stored findings against a reference reader of the raw JSON', { timeout: 240_000 }, () => {
  it.each(REAL)('stores exactly the findings of $file', async ({ file, reports, findings, imageName }) => {
    const consoleId = 'oracle-real';
    const prefix = uniqueTablePrefix('oracle-real');
    await createTestTables(doc, prefix);
    const stores = storesOf(doc, prefix, consoleId);
    const raws = reports(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')));
    let total = 0;
    for (const raw of raws) {
      const normalized = normalizeReport(raw, { consoleId, ...(imageName ? { imageName } : {}) });
      const seenAt = new Date().toISOString();
      await stores.images.writeReports([{ normalized, rawJson: JSON.stringify(raw) }], {
        runId: 'oracle',
        seenAt,
      });
      const expected = findingLines(referenceFindings(raw));
      expect(await storedLines(stores, normalized.image.identity)).toEqual(expected);
      total += expected.length;
    }
    // The oracle itself read what the fixtures' README says is there.
    expect(total).toBe(findings);
  });

  it('stores exactly the findings of every generated report after a full engine run', async () => {
    const consoleId = 'oracle-generated';
    const prefix = uniqueTablePrefix('oracle-gen');
    await createTestTables(doc, prefix);
    const stores = storesOf(doc, prefix, consoleId);
    const sim = await startSimulator({ images: 60, seed: 'oracle', rateLimit: false, heavyFraction: 0.05 });
    try {
      const outcome = await syncOnce(sim, stores, consoleId);
      expect(outcome.result?.status).toBe('completed');
      let findings = 0;
      const severities = new Set<string>();
      for (const key of sim.truth.present()) {
        const raw = sim.truth.report(key);
        const expected = referenceFindings(raw);
        for (const row of (raw as { vulnerabilities?: Array<{ severity?: string }> }).vulnerabilities ?? []) {
          severities.add(String(row.severity));
        }
        expect({ key, findings: await storedLines(stores, parseImageKey(key)) }).toEqual({
          key,
          findings: findingLines(expected),
        });
        findings += expected.length;
      }
      expect(findings).toBeGreaterThan(500);
      // The generated set covers the distro words, not only the four normalized levels.
      expect(
        [...severities].filter((s) => !['critical', 'high', 'medium', 'low'].includes(s)).length,
      ).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });
});
