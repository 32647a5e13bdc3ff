/**
 * A small synced dataset for the export tests, and its ground truth.
 *
 * Reports come from the simulator's generator and go through the real normalizer and the store's
 * public API, over three weekly sync rounds (rescans, changed findings) and a removal sweep, for two
 * consoles. Alongside, a plain model of the product's rules (SPEC §5: a finding keeps firstSeen,
 * lastSeen and resolvedAt; an unchanged report writes nothing; a complete run removes what it did
 * not see) computes what the export must contain, from the input reports alone.
 */
import type { FindingRecord, NormalizedReport } from '../../lambda/common/records.js';
import { normalizeReport } from '../../lambda/normalize/index.js';
import { createStores, imageKeyString } from '../../lambda/store/index.js';
import { generateReport, imageSlot, type ReportVersion } from '../../simulator/generator.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  uniqueTablePrefix,
} from '../support/dynamo.js';

export const SEED = 7;
export const CONSOLES = {
  alpha: { id: 'alpha', first: 0, count: 22 },
  beta: { id: 'beta', first: 200, count: 8 },
};
/** Images of console alpha that disappear before the last round (the sweep removes them). */
export const REMOVED_INDEXES = new Set([20, 21]);

export const ROUNDS = [
  '2025-06-02T08:00:00.000Z',
  '2025-06-09T08:00:00.000Z',
  '2025-06-16T08:00:00.000Z',
] as const;
export const SWEEP_AT = '2025-06-16T09:00:00.000Z';

/** Which scan of image `index` round `round` serves (undefined: the console no longer has it). */
export function versionAt(index: number, round: number): ReportVersion | undefined {
  if (round === 2 && REMOVED_INDEXES.has(index)) return undefined;
  const findingsVersion =
    round === 0 ? 0 : round === 1 ? (index % 2 === 0 ? 1 : 0) : index % 3 === 0 ? 2 : index % 2 === 0 ? 1 : 0;
  return { scanGeneration: round, findingsVersion };
}

export interface FindingTruth {
  record: FindingRecord;
  firstSeen: string;
  resolvedAt: string | null;
  reason: string | null;
  updatedAt: string;
}

export interface ImageTruth {
  consoleId: string;
  key: string;
  registry: string;
  latest: NormalizedReport;
  lastScannedAt: string;
  updatedAt: string;
  removed: boolean;
  removedAt: string | null;
  findings: Map<string, FindingTruth>;
  history: Array<{ observedAt: string; seenAt: string; critical: number; contentHash: string }>;
}

export interface ChangeTruth {
  consoleId: string;
  change: 'new' | 'resolved';
  at: string;
  imageKey: string;
  findingKey: string;
  reason: string | null;
}

export interface Truth {
  images: Map<string, ImageTruth>;
  changes: ChangeTruth[];
}

/** Applies one written report to the model, as the product's rules say. */
function applyReport(truth: Truth, report: NormalizedReport, seenAt: string): void {
  const { identity, contentHash, scanTime } = report.image;
  const key = `${identity.consoleId}|${imageKeyString(identity)}`;
  const observedAt = scanTime ?? seenAt;
  const current = truth.images.get(key);
  if (current && current.latest.image.contentHash === contentHash) {
    // Same content, newer scan: only the scan time moves (and with it lastSeen of open findings).
    current.latest = report;
    current.lastScannedAt = observedAt;
    current.updatedAt = seenAt;
    return;
  }
  const image: ImageTruth = current ?? {
    consoleId: identity.consoleId,
    key: imageKeyString(identity),
    registry: identity.registry,
    latest: report,
    lastScannedAt: observedAt,
    updatedAt: seenAt,
    removed: false,
    removedAt: null,
    findings: new Map(),
    history: [],
  };
  const change = (kind: 'new' | 'resolved', findingKey: string, at: string, reason: string | null) =>
    truth.changes.push({
      consoleId: identity.consoleId,
      change: kind,
      at,
      imageKey: image.key,
      findingKey,
      reason,
    });
  const present = new Set<string>();
  for (const finding of report.findings) {
    present.add(finding.key);
    const previous = image.findings.get(finding.key);
    if (!previous || previous.resolvedAt !== null) {
      image.findings.set(finding.key, {
        record: finding,
        firstSeen: observedAt,
        resolvedAt: null,
        reason: null,
        updatedAt: seenAt,
      });
      change('new', finding.key, seenAt, null);
    } else if (previous.record.contentHash !== finding.contentHash) {
      previous.record = finding;
      previous.updatedAt = seenAt;
    }
  }
  for (const [findingKey, finding] of image.findings) {
    if (finding.resolvedAt !== null || present.has(findingKey)) continue;
    finding.resolvedAt = observedAt;
    finding.reason = 'goneFromReport';
    finding.updatedAt = seenAt;
    change('resolved', findingKey, seenAt, null);
  }
  image.history.push({
    observedAt,
    seenAt,
    critical: report.image.vulnerabilityCounts.critical,
    contentHash,
  });
  image.latest = report;
  image.lastScannedAt = observedAt;
  image.updatedAt = seenAt;
  truth.images.set(key, image);
}

function applyRemoval(truth: Truth, image: ImageTruth, at: string): void {
  image.removed = true;
  image.removedAt = at;
  image.updatedAt = at;
  for (const [findingKey, finding] of image.findings) {
    if (finding.resolvedAt !== null) continue;
    finding.resolvedAt = at;
    finding.reason = 'imageRemoved';
    finding.updatedAt = at;
    truth.changes.push({
      consoleId: image.consoleId,
      change: 'resolved',
      at,
      imageKey: image.key,
      findingKey,
      reason: 'imageRemoved',
    });
  }
}

export interface SyncedDataset {
  prefix: string;
  truth: Truth;
}

/** The raw report of image `index` at a version, and its normalized form. */
function reportOf(consoleId: string, index: number, version: ReportVersion) {
  const raw = generateReport({ seed: SEED, heavyFraction: 0 }, imageSlot(SEED, index), version);
  return { rawJson: JSON.stringify(raw), normalized: normalizeReport(raw, { consoleId }) };
}

/**
 * Creates tables under a fresh prefix and syncs the dataset into them through the store, returning
 * the ground truth.
 *
 * @example
 * const { prefix, truth } = await syncDataset();
 */
export async function syncDataset(): Promise<SyncedDataset> {
  const prefix = uniqueTablePrefix('export');
  await createTestTables(localDynamoClient(), prefix);
  const client = localDocumentClient();
  const truth: Truth = { images: new Map(), changes: [] };
  for (const target of Object.values(CONSOLES)) {
    let clock = ROUNDS[0] as string;
    const stores = createStores({
      client,
      tablePrefix: prefix,
      consoleId: target.id,
      now: () => new Date(clock),
    });
    for (let round = 0; round < ROUNDS.length; round += 1) {
      const seenAt = ROUNDS[round] as string;
      clock = seenAt;
      const runId = `run-${round}`;
      const page: Array<{ normalized: NormalizedReport; rawJson: string }> = [];
      for (let index = target.first; index < target.first + target.count; index += 1) {
        const version = versionAt(index, round);
        if (version) page.push(reportOf(target.id, index, version));
      }
      await stores.runs.createRun({ runId, startedAt: seenAt, trigger: 'test', options: {} });
      for (let start = 0; start < page.length; start += 50) {
        await stores.images.writeReports(page.slice(start, start + 50), { runId, seenAt });
      }
      for (const { normalized } of page) applyReport(truth, normalized, seenAt);
      await stores.runs.commitPage({
        runId,
        pageIndex: 0,
        seenKeys: page.map(({ normalized }) => imageKeyString(normalized.image.identity)),
        checkpoint: {
          runId,
          pageIndex: 0,
          pagerState: {},
          figures: {},
          startedAt: seenAt,
          updatedAt: seenAt,
        },
      });
      await stores.runs.updateRun(runId, { pagingComplete: true, status: 'running' });
      if (round === ROUNDS.length - 1) {
        clock = SWEEP_AT;
        const { removed } = await stores.images.sweepRemoved(runId);
        const expected = [...truth.images.values()].filter(
          (image) =>
            image.consoleId === target.id &&
            !page.some(({ normalized }) => imageKeyString(normalized.image.identity) === image.key),
        );
        if (removed !== expected.length)
          throw new Error(`sweep removed ${removed}, expected ${expected.length}`);
        for (const image of expected) applyRemoval(truth, image, SWEEP_AT);
      }
      await stores.runs.updateRun(runId, { status: 'completed', finishedAt: clock });
      await stores.runs.clearCheckpoint(runId);
    }
  }
  return { prefix, truth };
}
