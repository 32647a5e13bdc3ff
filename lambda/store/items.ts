/**
 * Pure item builders: a normalized report in, plain DynamoDB items out. No I/O, no clock
 * (times are passed in), so the shapes are tested without a database.
 */
import type { FindingRecord, NormalizedReport, SeverityCounts } from '../common/records.js';
import {
  CONSOLES_PK,
  changePk,
  changeShard,
  changeSk,
  currentImageKeys,
  findingSk,
  historySk,
  IMAGE_SK,
  type ImageKey,
  identityPk,
  imageKeyString,
  monthOf,
  openFindingKeys,
  rawSk,
} from './keys.js';
import type { CompressedRaw } from './raw.js';

export type Item = Record<string, unknown>;

/** DynamoDB's hard item limit is 400 KB; the store keeps every item below this. */
export const ITEM_BUDGET_BYTES = 350_000;
/** Longest text a finding attribute keeps when a finding would not fit in one item (the raw report keeps it all). */
export const MAX_FINDING_TEXT = 32_000;
/** Compliance issues stay on the image item only while they fit this budget (the raw report keeps them all). */
export const MAX_INLINE_COMPLIANCE_BYTES = 100_000;

/**
 * Approximate DynamoDB size of a value in bytes (names + values, as DynamoDB bills them, rounded up).
 *
 * @example
 * itemSize({ pk: 'a', n: 1 }) // 2 + 1 + 1 + 21 (numbers counted at their maximum)
 */
export function itemSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return 21;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + itemSize(element), 0);
  if (typeof value === 'object') {
    let size = 3;
    for (const [name, element] of Object.entries(value)) {
      if (element === undefined) continue;
      size += Buffer.byteLength(name, 'utf8') + 1 + itemSize(element);
    }
    return size;
  }
  return 0;
}

/** Drops `undefined` attributes (the marshaller may be configured either way). */
function defined(item: Item): Item {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));
}

function imageKeyOf(report: NormalizedReport): ImageKey {
  const { registry, repo, tag } = report.image.identity;
  return { registry, repo, tag };
}

/**
 * A time in one canonical ISO form (`2024-05-01T10:00:00.000Z`), so times compare as strings in keys
 * and conditions whatever form they arrived in. Text that is not a time is returned unchanged.
 *
 * @example
 * canonicalTime('2024-05-01T12:00:00+02:00') // '2024-05-01T10:00:00.000Z'
 */
export function canonicalTime(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}

/** Sortable scan time for the freshness rule; a report without one sorts before any that has one. */
export function scanTimeKey(scanTime: string | null | undefined): string {
  return scanTime ? canonicalTime(scanTime) : '';
}

/** Where a report's raw JSON is stored: enough for the image/history item to point at it. */
export interface RawPointer {
  contentHash: string;
  sha256: string;
  chunks: number;
  byteLength: number;
}

/**
 * The image item: the current state of one image. Written last in a change, with the freshness
 * condition, so its `contentHash` is only ever the hash of a fully written report.
 */
export function toImageItem(
  report: NormalizedReport,
  input: { observedAt: string; seenAt: string; runId: string; firstSeenAt: string; raw: RawPointer },
): Item {
  const image = report.image;
  const key = imageKeyOf(report);
  const compliance = report.compliance.map((c) => ({
    key: c.key,
    id: c.id,
    severity: c.severity,
    vendorSeverity: c.vendorSeverity,
    title: c.title,
    cause: c.cause,
    type: c.type,
  }));
  const inlineCompliance = itemSize(compliance) <= MAX_INLINE_COMPLIANCE_BYTES;
  let tags = image.tags;
  let tagsTruncated: number | undefined;
  if (itemSize(tags) > MAX_INLINE_COMPLIANCE_BYTES) {
    // Hundreds of KB of tags on one report is bad input; the raw report keeps them all.
    const kept: typeof tags = [];
    let size = 0;
    for (const tag of tags) {
      size += itemSize(tag) + 1;
      if (size > MAX_INLINE_COMPLIANCE_BYTES) break;
      kept.push(tag);
    }
    tagsTruncated = tags.length;
    tags = kept;
  }
  return defined({
    pk: identityPk(image.identity),
    sk: IMAGE_SK,
    type: 'image',
    consoleId: image.identity.consoleId,
    ...key,
    imageKey: imageKeyString(key),
    reportId: image.reportId,
    digest: image.digest,
    imageId: image.imageId,
    scanTime: image.scanTime,
    scanTimeKey: scanTimeKey(image.scanTime),
    lastScannedAt: input.observedAt,
    contentHash: image.contentHash,
    tags,
    tagCount: tagsTruncated,
    osDistro: image.osDistro,
    osDistroVersion: image.osDistroVersion,
    scanVersion: image.scanVersion,
    vulnerabilityCounts: image.vulnerabilityCounts,
    complianceCounts: image.complianceCounts,
    packageCount: image.packageCount,
    riskFactorCount: image.riskFactorCount,
    findingCount: report.findings.length,
    compliance: inlineCompliance ? compliance : undefined,
    complianceInRawOnly: inlineCompliance ? undefined : true,
    warnings: report.warnings.length > 0 ? report.warnings.slice(0, 50) : undefined,
    raw: input.raw,
    removed: false,
    firstSeenAt: input.firstSeenAt,
    updatedAt: input.seenAt,
    lastRunId: input.runId,
    ...currentImageKeys(image.identity.consoleId, key),
  });
}

/** Lifecycle of a finding item beyond what the report says. */
export interface FindingLifecycle {
  firstSeen: string;
  occurrences: number;
  lastResolvedAt?: string;
  resolvedAt?: string;
  resolvedReason?: 'goneFromReport' | 'imageRemoved';
}

const FINDING_TEXT_FIELDS = ['description', 'title', 'link', 'vector', 'status', 'packageType'] as const;

/**
 * A finding item. Open findings carry the sparse `vulnPk`/`vulnSk` GSI keys; resolved ones do not,
 * so "images currently affected by X" is one Query that only ever sees open findings.
 * A finding whose text would overflow one item keeps its first {@link MAX_FINDING_TEXT} characters
 * per field and names the shortened fields in `truncatedFields` (the raw report keeps the full text).
 */
export function toFindingItem(
  identity: NormalizedReport['image']['identity'],
  finding: FindingRecord,
  lifecycle: FindingLifecycle,
  updatedAt: string,
): Item {
  const key: ImageKey = { registry: identity.registry, repo: identity.repo, tag: identity.tag };
  const open = lifecycle.resolvedAt === undefined;
  const item: Item = defined({
    pk: identityPk(identity),
    sk: findingSk(finding.key),
    type: 'finding',
    consoleId: identity.consoleId,
    ...key,
    imageKey: imageKeyString(key),
    findingKey: finding.key,
    id: finding.id,
    severity: finding.severity,
    vendorSeverity: finding.vendorSeverity,
    cvss: finding.cvss,
    packageName: finding.packageName,
    packageVersion: finding.packageVersion,
    packageType: finding.packageType,
    status: finding.status,
    fixDate: finding.fixDate,
    published: finding.published,
    link: finding.link,
    title: finding.title,
    description: finding.description,
    vector: finding.vector,
    riskFactors: finding.riskFactors,
    contentHash: finding.contentHash,
    firstSeen: lifecycle.firstSeen,
    occurrences: lifecycle.occurrences,
    lastResolvedAt: lifecycle.lastResolvedAt,
    resolvedAt: lifecycle.resolvedAt,
    resolvedReason: lifecycle.resolvedReason,
    updatedAt,
    ...(open ? openFindingKeys(identity.consoleId, key, finding.id, finding.key) : {}),
  });
  return fitFinding(item);
}

function fitFinding(item: Item): Item {
  if (itemSize(item) <= ITEM_BUDGET_BYTES) return item;
  const truncated: string[] = [];
  const fitted: Item = { ...item };
  for (const field of [
    ...FINDING_TEXT_FIELDS,
    'packageName',
    'packageVersion',
    'id',
    'findingKey',
    'imageKey',
  ]) {
    const value = fitted[field];
    if (typeof value === 'string' && value.length > MAX_FINDING_TEXT) {
      fitted[field] = value.slice(0, MAX_FINDING_TEXT);
      truncated.push(field);
    }
  }
  const risks = fitted.riskFactors;
  if (Array.isArray(risks) && itemSize(risks) > MAX_FINDING_TEXT) {
    fitted.riskFactors = risks.slice(0, 100).map((r) => String(r).slice(0, 1_000));
    truncated.push('riskFactors');
  }
  fitted.truncatedFields = truncated;
  return fitted;
}

/**
 * The stored finding item, resolved: same key and content, `resolvedAt` set, and the sparse
 * vulnerability-index keys dropped so it leaves "currently affected" answers.
 */
export function toResolvedFindingItem(
  previous: Item,
  resolvedAt: string,
  reason: NonNullable<FindingLifecycle['resolvedReason']>,
  updatedAt: string,
): Item {
  const { vulnPk: _vulnPk, vulnSk: _vulnSk, ...rest } = previous;
  return { ...rest, resolvedAt, resolvedReason: reason, updatedAt };
}

/** Rebuilds a FindingRecord from its item (to re-put it resolved or reopened). */
export function findingFromItem(item: Item): FindingRecord {
  const text = (name: string): string | null =>
    typeof item[name] === 'string' ? (item[name] as string) : null;
  return {
    key: String(item.findingKey ?? ''),
    id: String(item.id ?? ''),
    severity: (item.severity as FindingRecord['severity']) ?? 'low',
    vendorSeverity: String(item.vendorSeverity ?? ''),
    cvss: typeof item.cvss === 'number' ? item.cvss : null,
    packageName: String(item.packageName ?? ''),
    packageVersion: String(item.packageVersion ?? ''),
    packageType: text('packageType'),
    status: text('status'),
    fixDate: text('fixDate'),
    published: text('published'),
    link: text('link'),
    title: text('title'),
    description: text('description'),
    vector: text('vector'),
    riskFactors: Array.isArray(item.riskFactors) ? item.riskFactors.map(String) : [],
    contentHash: String(item.contentHash ?? ''),
  };
}

/** A history item: one per content change of an image (digest, time, counts, pointer to its raw report). */
export function toHistoryItem(
  report: NormalizedReport,
  input: { observedAt: string; seenAt: string; runId: string; raw: RawPointer },
): Item {
  const image = report.image;
  const key = imageKeyOf(report);
  return defined({
    pk: identityPk(image.identity),
    sk: historySk(input.observedAt, image.contentHash),
    type: 'history',
    consoleId: image.identity.consoleId,
    ...key,
    imageKey: imageKeyString(key),
    scanTime: image.scanTime,
    observedAt: input.observedAt,
    seenAt: input.seenAt,
    digest: image.digest,
    imageId: image.imageId,
    contentHash: image.contentHash,
    vulnerabilityCounts: image.vulnerabilityCounts,
    complianceCounts: image.complianceCounts,
    packageCount: image.packageCount,
    findingCount: report.findings.length,
    runId: input.runId,
    raw: input.raw,
  });
}

/** A change-feed item: a finding appeared or was resolved on an image, at detection time `at`. */
export function toChangeItem(input: {
  consoleId: string;
  image: ImageKey;
  finding: Pick<FindingRecord, 'key' | 'id' | 'packageName' | 'packageVersion' | 'severity'>;
  change: 'new' | 'resolved';
  at: string;
  observedAt: string;
  runId: string;
  reason?: string;
}): Item {
  const imageKey = imageKeyString(input.image);
  return defined({
    pk: changePk(input.consoleId, monthOf(input.at), changeShard(imageKey)),
    sk: changeSk(input.at, imageKey, input.finding.key, input.change),
    type: 'change',
    consoleId: input.consoleId,
    change: input.change,
    id: input.finding.id,
    findingKey: input.finding.key,
    ...input.image,
    imageKey,
    packageName: input.finding.packageName,
    packageVersion: input.finding.packageVersion,
    severity: input.finding.severity,
    at: input.at,
    observedAt: input.observedAt,
    runId: input.runId,
    reason: input.reason,
  });
}

/** The raw chunk items of one report. */
export function toRawItems(
  identity: NormalizedReport['image']['identity'],
  contentHash: string,
  raw: CompressedRaw,
): Item[] {
  const key: ImageKey = { registry: identity.registry, repo: identity.repo, tag: identity.tag };
  return raw.chunks.map((chunk) => ({
    pk: identityPk(identity),
    sk: rawSk(contentHash, raw.sha256, chunk.index),
    consoleId: identity.consoleId,
    imageKey: imageKeyString(key),
    contentHash,
    sha256: raw.sha256,
    byteLength: raw.byteLength,
    chunkIndex: chunk.index,
    chunkCount: chunk.count,
    data: chunk.data,
  }));
}

/**
 * UpdateItem parameters registering a console in the console registry (`query --console` lists
 * consoles without a Scan): the first registration time is kept.
 */
export function consoleRegistration(consoleId: string, at: string) {
  return {
    Key: { pk: CONSOLES_PK, sk: consoleId },
    UpdateExpression:
      'SET consoleId = :console, lastActiveAt = :at, registeredAt = if_not_exists(registeredAt, :at)',
    ExpressionAttributeValues: { ':console': consoleId, ':at': at },
  };
}

/**
 * UpdateItem parameters lowering the console's `firstChangeAt` marker to `at` (never raising it): the
 * change-feed query starts its month buckets there instead of at whatever `--since` says.
 */
export function firstChangeMarker(consoleId: string, at: string) {
  return {
    Key: { pk: CONSOLES_PK, sk: consoleId },
    UpdateExpression:
      'SET consoleId = :console, firstChangeAt = :at, lastActiveAt = :at, registeredAt = if_not_exists(registeredAt, :at)',
    ConditionExpression: 'attribute_not_exists(firstChangeAt) OR firstChangeAt > :at',
    ExpressionAttributeValues: { ':console': consoleId, ':at': at },
  };
}

/** Zero counts, for images stored before counts existed or malformed items. */
export function countsOf(value: unknown): SeverityCounts {
  const counts = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const n = (name: string) => (typeof counts[name] === 'number' ? (counts[name] as number) : 0);
  return { critical: n('critical'), high: n('high'), medium: n('medium'), low: n('low'), total: n('total') };
}
