/**
 * The write planner: pure functions from a normalized report and what is stored to the plan of
 * writes (outcome, finding lifecycle transitions, change-feed items, history, raw chunks, image
 * item). No I/O and no clock (`now` is passed in), so every lifecycle transition is tested without
 * DynamoDB; `ImageStore` only executes plans.
 *
 * Lifecycle of a finding (by its key within the image):
 * - **new**: not stored → put open, `firstSeen` = this scan, change `new`.
 * - **unchanged**: stored open, same content hash → nothing.
 * - **changed**: stored open, other content hash → put (lifecycle kept), no change item.
 * - **resolved**: stored open, absent from a complete report → put resolved, change `resolved`.
 * - **reopened**: stored resolved, back in the report → put open again (`occurrences` + 1,
 *   `lastResolvedAt` kept), change `new`.
 * - **removed**: the sweep resolves every open finding of an image that left the console
 *   (reason `imageRemoved`), see {@link planRemoval}.
 *
 * Every transition stamps the finding with `changeAt` (its change item's detection time). A finding
 * whose `changeAt` is later than the image item's last committed write (`updatedAt`) was written
 * by a write that never committed: its change item is announced again with the same key, so it is
 * neither lost nor doubled (no phantom `new` after a failed write).
 */
import type { FindingRecord, NormalizedReport } from '../common/records.js';
import { type ImageKey, imageKeyOf, imageKeyString } from './identity.js';
import { findingSk } from './keys.js';
import { type ChangeItem, type ChangeKind, changeItems, type PlannedChange } from './model/change.js';
import { canonicalTime, type RawPointer } from './model/common.js';
import {
  type FindingItem,
  type FindingLifecycle,
  findingRecordOf,
  toFindingItem,
  toResolvedFindingItem,
} from './model/finding.js';
import { type HistoryItem, toHistoryItem } from './model/history.js';
import { type ImageItem, type StoredImage, toImageItem } from './model/image.js';
import { type RawChunkItem, toRawItems } from './model/raw-chunk.js';
import { compressRaw } from './raw.js';

/** A scan time later than the sync's clock by more than this is not trusted for ordering. */
export const DEFAULT_SCAN_TIME_SKEW_MS = 10 * 60 * 1000;

export interface PlanContext {
  runId: string;
  /** Detection time of this page (canonical ISO). */
  seenAt: string;
  /** The sync's clock, ms since epoch. */
  nowMs: number;
  scanTimeSkewMs: number;
}

/** The time a report is ordered by, and whether its scan time had to be distrusted. */
export interface OrderingTime {
  /** '' for a report without a scan time (sorts before any scan). */
  key: string;
  /** Set when the console's scan time lies beyond now + skew: the report is ordered at `seenAt`. */
  untrusted?: string;
}

/**
 * The ordering time of a scan time: the canonical scan time, or `seenAt` when the scan time is
 * later than now + skew (a clock gone wrong or a hostile console: such a report must not pin the
 * image, a later real rescan has to win).
 *
 * @example
 * orderingTime('9999-01-01T00:00:00Z', ctx) // { key: ctx.seenAt, untrusted: '...' }
 */
export function orderingTime(scanTime: string | null | undefined, ctx: PlanContext): OrderingTime {
  if (!scanTime) return { key: '' };
  const key = canonicalTime(scanTime);
  const ms = Date.parse(key);
  if (!Number.isNaN(ms) && ms > ctx.nowMs + ctx.scanTimeSkewMs) {
    return {
      key: ctx.seenAt,
      untrusted: `scanTime ${scanTime.slice(0, 40)} is more than ${Math.round(ctx.scanTimeSkewMs / 60_000)} min ahead of the sync's clock; ordered at its detection time ${ctx.seenAt}`,
    };
  }
  return { key };
}

/** A stored ordering key beyond now + skew (written before the store distrusted such times) pins nothing. */
function storedOrderingKey(stored: StoredImage, ctx: PlanContext): string {
  const ms = Date.parse(stored.scanTimeKey);
  return !Number.isNaN(ms) && ms > ctx.nowMs + ctx.scanTimeSkewMs ? '' : stored.scanTimeKey;
}

export type Decision = 'stale' | 'unchanged' | 'touch' | 'write';

/**
 * The reports of one call that are written: per image partition the newest by ordering time (the
 * later of equal ones); the others are `stale` by definition. Call order kept.
 *
 * @example
 * newestPerImage([{ pk: 'a', report: older }, { pk: 'a', report: newer }], ctx) // [{ pk: 'a', report: newer }]
 */
export function newestPerImage<T extends { pk: string; report: NormalizedReport }>(
  entries: readonly T[],
  ctx: PlanContext,
): T[] {
  const winners = new Map<string, T>();
  for (const entry of entries) {
    const current = winners.get(entry.pk);
    if (
      !current ||
      orderingTime(entry.report.image.scanTime, ctx).key >=
        orderingTime(current.report.image.scanTime, ctx).key
    ) {
      winners.set(entry.pk, entry);
    }
  }
  return [...winners.values()];
}

/**
 * What a report means against the stored image item: an older scan is `stale`; the same content at
 * the same scan time `unchanged`; the same content scanned again later `touch` (one small update);
 * anything else (new, changed, or a removed image back) `write`. Equal scan times with other content
 * are a write (`<=`: a console may re-scan within the same millisecond-rounded time).
 */
export function classify(
  report: NormalizedReport,
  stored: StoredImage | undefined,
  ctx: PlanContext,
): Decision {
  if (!stored) return 'write';
  const newKey = orderingTime(report.image.scanTime, ctx).key;
  const storedKey = storedOrderingKey(stored, ctx);
  if (storedKey > newKey) return 'stale';
  if (stored.contentHash !== report.image.contentHash || stored.removed) return 'write';
  return newKey === stored.scanTimeKey ? 'unchanged' : 'touch';
}

/** Same content, newer scan: the attributes the touch sets, and its condition. */
export interface TouchPlan {
  imageKey: string;
  pk: string;
  scanTime: string | null;
  scanTimeKey: string;
  lastScannedAt: string;
  updatedAt: string;
  /** Only if the stored item still has this content and an older ordering time. */
  contentHash: string;
}

export function planTouch(report: NormalizedReport, pk: string, ctx: PlanContext): TouchPlan {
  const order = orderingTime(report.image.scanTime, ctx);
  return {
    imageKey: imageKeyString(imageKeyOf(report.image.identity)),
    pk,
    scanTime: report.image.scanTime,
    scanTimeKey: order.key,
    lastScannedAt: order.key || ctx.seenAt,
    updatedAt: ctx.seenAt,
    contentHash: report.image.contentHash,
  };
}

/** Counts of the lifecycle transitions a plan makes. */
export interface Transitions {
  new: number;
  reopened: number;
  changed: number;
  resolved: number;
  /** Change items of an earlier, uncommitted write announced again (same keys). */
  reannounced: number;
}

/** Everything one new or changed report writes; the image item goes last, conditionally. */
export interface WritePlan {
  outcome: 'new' | 'changed';
  imageKey: string;
  findings: FindingItem[];
  changes: ChangeItem[];
  history: HistoryItem;
  raw: RawChunkItem[];
  image: ImageItem;
  /** The freshness rule: the image item is written only if the stored one is not newer. */
  condition: { scanTimeKey: string };
  transitions: Transitions;
  /** Finding keys listed more than once in the report (the first is kept). */
  duplicateFindings: string[];
}

export interface WriteInput {
  report: NormalizedReport;
  rawJson: string;
  stored: StoredImage | undefined;
  /** The image's stored finding items ([] for an image never written). */
  storedFindings: readonly FindingItem[];
  ctx: PlanContext;
}

/** True when a stored finding's last transition was written but its image item never committed. */
export function isUnannounced(finding: FindingItem, stored: StoredImage | undefined): boolean {
  return finding.changeAt !== undefined && finding.changeAt > (stored?.updatedAt ?? '');
}

/** The change a stored finding's last transition announced (to announce it again, same item key). */
export function announcedChange(finding: FindingItem): PlannedChange {
  const resolved = finding.resolvedAt !== undefined;
  return {
    finding: findingRecordOf(finding),
    change: resolved ? 'resolved' : 'new',
    at: finding.changeAt ?? finding.updatedAt,
    observedAt: (resolved ? finding.resolvedAt : finding.firstSeen) ?? finding.updatedAt,
    ...(resolved && finding.resolvedReason === 'imageRemoved' ? { reason: 'imageRemoved' } : {}),
  };
}

interface DiffState {
  findings: FindingItem[];
  changes: PlannedChange[];
  transitions: Transitions;
  duplicates: string[];
}

/** The finding diff of a report against the stored findings. */
function diffFindings(input: WriteInput, observedAt: string): DiffState {
  const { report, stored, ctx } = input;
  const identity = report.image.identity;
  const state: DiffState = {
    findings: [],
    changes: [],
    transitions: { new: 0, reopened: 0, changed: 0, resolved: 0, reannounced: 0 },
    duplicates: [],
  };
  const change = (
    finding: Pick<FindingRecord, 'key' | 'id' | 'packageName' | 'packageVersion' | 'severity'>,
    kind: ChangeKind,
  ) => state.changes.push({ finding, change: kind, at: ctx.seenAt, observedAt });
  const reannounce = (previous: FindingItem) => {
    if (!isUnannounced(previous, stored)) return;
    state.changes.push(announcedChange(previous));
    state.transitions.reannounced += 1;
  };
  const storedBySk = new Map(input.storedFindings.map((item) => [item.sk, item]));
  const seenSks = new Set<string>();
  for (const finding of report.findings) {
    const sk = findingSk(finding.key);
    if (seenSks.has(sk)) {
      state.duplicates.push(finding.key);
      continue;
    }
    seenSks.add(sk);
    const previous = storedBySk.get(sk);
    if (previous) reannounce(previous);
    if (!previous || previous.resolvedAt !== undefined) {
      const lifecycle: FindingLifecycle = {
        firstSeen: observedAt,
        occurrences: (previous?.occurrences ?? 0) + 1,
        changeAt: ctx.seenAt,
      };
      if (previous?.resolvedAt !== undefined) lifecycle.lastResolvedAt = previous.resolvedAt;
      state.findings.push(toFindingItem(identity, finding, lifecycle, ctx.seenAt));
      change(finding, 'new');
      state.transitions[previous ? 'reopened' : 'new'] += 1;
    } else if (previous.contentHash !== finding.contentHash) {
      state.findings.push(toFindingItem(identity, finding, lifecycleOf(previous), ctx.seenAt));
      state.transitions.changed += 1;
    }
  }
  for (const previous of input.storedFindings) {
    if (seenSks.has(previous.sk)) continue;
    reannounce(previous);
    // A compact or trimmed report has no vulnerability list although its counters say there are
    // vulnerabilities: absence from it proves nothing, so no finding is resolved from it.
    if (previous.resolvedAt !== undefined || report.image.findingsIncomplete === true) continue;
    state.findings.push(toResolvedFindingItem(previous, observedAt, 'goneFromReport', ctx.seenAt));
    change(findingRecordOf(previous), 'resolved');
    state.transitions.resolved += 1;
  }
  return state;
}

function lifecycleOf(item: FindingItem): FindingLifecycle {
  const lifecycle: FindingLifecycle = { firstSeen: item.firstSeen, occurrences: item.occurrences };
  if (item.lastResolvedAt !== undefined) lifecycle.lastResolvedAt = item.lastResolvedAt;
  if (item.changeAt !== undefined) lifecycle.changeAt = item.changeAt;
  return lifecycle;
}

/**
 * The plan of a report classified `write`: the finding diff, the raw version (stored once per
 * content hash and raw bytes), the history item and the image item.
 *
 * @example
 * const plan = planWrite({ report, rawJson, stored: undefined, storedFindings: [], ctx });
 * plan.outcome // 'new'
 */
export function planWrite(input: WriteInput): WritePlan {
  const { report, stored, ctx } = input;
  const image = report.image;
  const order = orderingTime(image.scanTime, ctx);
  const observedAt = order.key || ctx.seenAt;
  const diff = diffFindings(input, observedAt);

  const rawNeeded = !stored || stored.contentHash !== image.contentHash || stored.raw === undefined;
  const compressed = rawNeeded ? compressRaw(input.rawJson) : undefined;
  const raw: RawPointer | undefined = compressed
    ? {
        contentHash: image.contentHash,
        sha256: compressed.sha256,
        chunks: compressed.chunks.length,
        byteLength: compressed.byteLength,
      }
    : stored?.raw;
  const imageItem = toImageItem(report, {
    scanTimeKey: order.key,
    observedAt,
    seenAt: ctx.seenAt,
    runId: ctx.runId,
    firstSeenAt: stored?.firstSeenAt ?? observedAt,
    raw,
    ...(stored?.removed && stored.removedAt !== undefined ? { lastRemovedAt: stored.removedAt } : {}),
    ...(order.untrusted ? { warnings: [order.untrusted] } : {}),
  });
  return {
    outcome: stored && !stored.removed ? 'changed' : 'new',
    imageKey: imageItem.imageKey,
    findings: diff.findings,
    changes: changeItems(
      { consoleId: image.identity.consoleId, image: imageKeyOf(image.identity), runId: ctx.runId },
      diff.changes,
    ),
    history: toHistoryItem(report, { observedAt, seenAt: ctx.seenAt, runId: ctx.runId, raw }),
    raw: compressed ? toRawItems(image.identity, image.contentHash, compressed) : [],
    image: imageItem,
    condition: { scanTimeKey: order.key },
    transitions: diff.transitions,
    duplicateFindings: diff.duplicates,
  };
}

/** The removal of one image by the sweep. */
export interface RemovalPlan {
  imageKey: string;
  pk: string;
  findings: FindingItem[];
  changes: ChangeItem[];
  removedAt: string;
  runId: string;
  /** Only if the image still has the content and ordering time the sweep read. */
  condition: { contentHash: string; scanTimeKey: string };
}

/**
 * The sweep's plan for an image the complete run did not see: every open finding resolved
 * (`imageRemoved`, with `resolved` change items), unannounced transitions announced again.
 */
export function planRemoval(
  image: StoredImage,
  findings: readonly FindingItem[],
  consoleId: string,
  runId: string,
  removedAt: string,
): RemovalPlan {
  const key: ImageKey = imageKeyOf(image);
  const resolved: FindingItem[] = [];
  const changes: PlannedChange[] = [];
  for (const finding of findings) {
    if (isUnannounced(finding, image)) changes.push(announcedChange(finding));
    if (finding.resolvedAt !== undefined) continue;
    resolved.push(toResolvedFindingItem(finding, removedAt, 'imageRemoved', removedAt));
    changes.push({
      finding: findingRecordOf(finding),
      change: 'resolved',
      at: removedAt,
      observedAt: removedAt,
      reason: 'imageRemoved',
    });
  }
  return {
    imageKey: image.imageKey,
    pk: image.pk,
    findings: resolved,
    changes: changeItems({ consoleId, image: key, runId }, changes),
    removedAt,
    runId,
    condition: { contentHash: image.contentHash, scanTimeKey: image.scanTimeKey },
  };
}
