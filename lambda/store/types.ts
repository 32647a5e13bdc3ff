/** Public types of the store: run records, checkpoints and the JSON shapes of the query commands (SPEC §3). */
import type { FindingRecord, Severity, SeverityCounts } from '../common/records.js';
import type { HistoryItem } from './model/history.js';

/** How a run ended; a run record says `running` until then. */
export type RunStatus = 'completed' | 'partial' | 'failed' | 'skipped';

/**
 * One sync run. Known fields are typed; the engine adds its figures (images, pages, requests,
 * throttled, retries, written, unchanged, removed, durationMs, ...) as further top-level attributes.
 */
export interface RunRecord {
  consoleId: string;
  runId: string;
  startedAt: string;
  trigger: string;
  options: object;
  status: RunStatus | 'running';
  /** True once the run paged through the complete result set: only then may the sweep remove images. */
  pagingComplete?: boolean;
  finishedAt?: string;
  updatedAt?: string;
  error?: string;
  [figure: string]: unknown;
}

/** The engine's resume point: saved atomically with the page's seen keys by `commitPage`. */
export interface Checkpoint {
  runId: string;
  pageIndex: number;
  /** Opaque JSON from the client's pager (stored as JSON text, returned as parsed). */
  pagerState: unknown;
  /** The run's figures so far (lambda/sync/figures.ts). */
  figures: Record<string, number>;
  startedAt: string;
  updatedAt: string;
  options?: object;
}

export type LeaseResult =
  | { acquired: true; expiresAt: string }
  | { acquired: false; holder: string; expiresAt: string };

/** Image identity as the query commands take it (console implied by the store). */
export interface ImageKeyInput {
  registry: string;
  repo: string;
  tag: string;
}

/** One open finding in `query image` (SPEC §3). */
export interface FindingView
  extends Pick<
    FindingRecord,
    'id' | 'severity' | 'vendorSeverity' | 'cvss' | 'packageName' | 'packageVersion' | 'status'
  > {
  firstSeen: string;
  /** Open finding: the image's latest scan that still contained it (`lastScannedAt`). */
  lastSeen: string;
}

/** One row of `query images`. */
export interface ImageSummary {
  registry: string;
  repo: string;
  tag: string;
  digest: string | null;
  imageId: string | null;
  scanTime: string | null;
  vulnerabilityCounts: SeverityCounts;
}

/** `query image --json` (SPEC §3). */
export interface ImageView extends ImageSummary {
  consoleId: string;
  lastScannedAt: string | null;
  removed: boolean;
  removedAt: string | null;
  contentHash: string;
  findings: FindingView[];
}

/** One row of `query cve` (SPEC §3). */
export interface CveHit {
  registry: string;
  repo: string;
  tag: string;
  digest: string | null;
  packageName: string;
  packageVersion: string;
  severity: Severity;
}

/** One row of `query history`, oldest first: the history item less what only locates it. */
export interface HistoryEntry
  extends Omit<
    HistoryItem,
    'pk' | 'sk' | 'type' | 'consoleId' | 'registry' | 'repo' | 'tag' | 'imageKey' | 'raw'
  > {
  /** Which raw report this scan stored: pass it to `rawReport(key, raw)` to read that version. */
  raw: { contentHash: string; sha256: string } | null;
}

/** One row of `query changes` (SPEC §3). `at` is when the sync detected the change. */
export interface ChangeView {
  change: 'new' | 'resolved';
  id: string;
  registry: string;
  repo: string;
  tag: string;
  at: string;
  packageName: string;
  packageVersion: string;
  severity: Severity;
  /** The scan time the change was observed in (for `new`, the finding's firstSeen). */
  observedAt: string;
  /** `imageRemoved` when the sweep resolved the finding because its image left the console. */
  reason?: string;
}

export type WriteOutcome = 'new' | 'changed' | 'unchanged' | 'stale';

/** Why a report's own data cannot be stored (SPEC §4.7 quarantine). */
export type QuarantineCode =
  /** An item of the report is over DynamoDB's 400 KB even after fitting and chunking. */
  | 'store.itemTooLarge'
  /** A table or index key attribute over DynamoDB's limit (2,048 / 1,024 bytes). */
  | 'store.keyTooLong'
  /** A non-finite number, or one DynamoDB cannot hold exactly (|x| ≥ 1e126, an unsafe integer). */
  | 'store.unsafeNumber'
  /** DynamoDB answered ValidationException for an item of this report. */
  | 'store.itemRejected';

/** A report `writeReports` did not store, and why. Nothing of it was written; its stored state is kept. */
export interface QuarantinedReport {
  /** Position of the report in the `writeReports` call. */
  index: number;
  /** `imageKeyString` of its identity: `${registry}/${repo}:${tag}` (the seen-key format). */
  key: string;
  identity: { consoleId: string; registry: string; repo: string; tag: string };
  code: QuarantineCode;
  /** One line naming the item kind and the attribute; no report text beyond the identity. */
  reason: string;
}

export interface WriteReportsResult {
  itemsWritten: number;
  /** Every report that was not quarantined, in call order. */
  images: Array<{ key: string; outcome: WriteOutcome }>;
  /** Reports not stored for reasons of their own data ([] when none). */
  quarantined: QuarantinedReport[];
}
