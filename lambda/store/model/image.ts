/**
 * The image item: the current state of one image (`pk` = image partition, `sk` = `IMAGE`). Written
 * last in a change, with the freshness condition, so its `contentHash` is only ever the hash of a
 * fully written report. Only images not removed carry the sparse current-image index keys.
 */
import type { ImageRecord, NormalizedReport, SeverityCounts } from '../../common/records.js';
import { identityPk, imageKeyOf, imageKeyString } from '../identity.js';
import { currentImageKeys, IMAGE_SK } from '../keys.js';
import {
  countsOf,
  type ImagePartitionItem,
  intOrNull,
  itemSize,
  type RawItem,
  type RawPointer,
  rawPointerOf,
  str,
  strOrNull,
  strOrUndefined,
} from './common.js';

/** Compliance issues stay on the image item only while they fit this budget (the raw report keeps them all). */
export const MAX_INLINE_COMPLIANCE_BYTES = 100_000;

export interface InlineCompliance {
  key: string;
  id: string;
  severity: string;
  vendorSeverity: string;
  title: string | null;
  cause: string | null;
  type: string | null;
}

/** The image item: what the report says of the image (as `ImageRecord`), located, and its sync state. */
export interface ImageItem
  extends ImagePartitionItem,
    Pick<
      ImageRecord,
      | 'reportId'
      | 'digest'
      | 'imageId'
      | 'contentHash'
      | 'tags'
      | 'osDistro'
      | 'osDistroVersion'
      | 'scanVersion'
      | 'vulnerabilityCounts'
      | 'complianceCounts'
      | 'packageCount'
      | 'riskFactorCount'
    > {
  sk: typeof IMAGE_SK;
  type: 'image';
  /** What the console said, verbatim. */
  scanTime: string | null;
  /** The ordering time of the freshness rule (a scan time beyond now + skew is not trusted for it). */
  scanTimeKey: string;
  /** The image's latest scan the sync saw: the `lastSeen` of its open findings. */
  lastScannedAt: string;
  tagCount?: number;
  findingCount: number;
  compliance?: InlineCompliance[];
  complianceInRawOnly?: true;
  warnings?: string[];
  raw?: RawPointer;
  removed: boolean;
  removedAt?: string;
  lastRemovedAt?: string;
  removedByRun?: string;
  firstSeenAt: string;
  /** The detection time (`seenAt`) of the last committed write of this image. */
  updatedAt: string;
  lastRunId: string;
  curPk?: string;
  curSk?: string;
  repoPk?: string;
  repoSk?: string;
}

/** What the image item needs beyond the report. */
export interface ImageItemInput {
  /** Ordering time (the trusted scan time, or the detection time for a report without one). */
  scanTimeKey: string;
  observedAt: string;
  seenAt: string;
  runId: string;
  firstSeenAt: string;
  raw: RawPointer | undefined;
  lastRemovedAt?: string;
  /** Warnings of the store itself (an untrusted scan time), kept beside the normalizer's. */
  warnings?: readonly string[];
}

function fitTags(tags: NormalizedReport['image']['tags']): { tags: typeof tags; tagCount?: number } {
  if (itemSize(tags) <= MAX_INLINE_COMPLIANCE_BYTES) return { tags };
  // Hundreds of KB of tags on one report is bad input; the raw report keeps them all.
  const kept: typeof tags = [];
  let size = 0;
  for (const tag of tags) {
    size += itemSize(tag) + 1;
    if (size > MAX_INLINE_COMPLIANCE_BYTES) break;
    kept.push(tag);
  }
  return { tags: kept, tagCount: tags.length };
}

/**
 * The image item of a report.
 *
 * @example
 * const item = toImageItem(report, { scanTimeKey: t, observedAt: t, seenAt, runId, firstSeenAt: t, raw });
 */
export function toImageItem(report: NormalizedReport, input: ImageItemInput): ImageItem {
  const image = report.image;
  const key = imageKeyOf(image.identity);
  const compliance: InlineCompliance[] = report.compliance.map((c) => ({
    key: c.key,
    id: c.id,
    severity: c.severity,
    vendorSeverity: c.vendorSeverity,
    title: c.title,
    cause: c.cause,
    type: c.type,
  }));
  const inline = itemSize(compliance) <= MAX_INLINE_COMPLIANCE_BYTES;
  const warnings = [...(input.warnings ?? []), ...report.warnings].slice(0, 50);
  const item: ImageItem = {
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
    scanTimeKey: input.scanTimeKey,
    lastScannedAt: input.observedAt,
    contentHash: image.contentHash,
    ...fitTags(image.tags),
    osDistro: image.osDistro,
    osDistroVersion: image.osDistroVersion,
    scanVersion: image.scanVersion,
    vulnerabilityCounts: image.vulnerabilityCounts,
    complianceCounts: image.complianceCounts,
    packageCount: image.packageCount,
    findingCount: report.findings.length,
    raw: input.raw,
    removed: false,
    firstSeenAt: input.firstSeenAt,
    updatedAt: input.seenAt,
    lastRunId: input.runId,
    ...currentImageKeys(image.identity.consoleId, key),
  };
  if (image.riskFactorCount !== undefined) item.riskFactorCount = image.riskFactorCount;
  if (inline) item.compliance = compliance;
  else item.complianceInRawOnly = true;
  if (warnings.length > 0) item.warnings = warnings;
  if (input.lastRemovedAt !== undefined) item.lastRemovedAt = input.lastRemovedAt;
  return item;
}

/** The stored image state the write planner and the queries read. */
export interface StoredImage {
  pk: string;
  registry: string;
  repo: string;
  tag: string;
  imageKey: string;
  digest: string | null;
  imageId: string | null;
  scanTime: string | null;
  scanTimeKey: string;
  lastScannedAt: string | null;
  contentHash: string;
  raw: RawPointer | undefined;
  removed: boolean;
  removedAt: string | undefined;
  firstSeenAt: string | undefined;
  updatedAt: string;
  lastRunId: string | undefined;
  vulnerabilityCounts: SeverityCounts;
  consoleId: string;
  reportId: string | null;
  osDistro: string | null;
  osDistroVersion: string | null;
  scanVersion: string | null;
  complianceCounts: SeverityCounts;
  packageCount: number | null;
  findingCount: number | null;
  riskFactorCount: number | null;
}

/**
 * The one decoder of an image item (also of its index projection, which carries a subset).
 *
 * @example
 * const image = decodeImage(await getItem(...));
 */
export function decodeImage(item: RawItem): StoredImage {
  const registry = str(item.registry);
  const repo = str(item.repo);
  const tag = str(item.tag);
  return {
    pk: str(item.pk),
    registry,
    repo,
    tag,
    imageKey: strOrNull(item.imageKey) ?? imageKeyString({ registry, repo, tag }),
    digest: strOrNull(item.digest),
    imageId: strOrNull(item.imageId),
    scanTime: strOrNull(item.scanTime),
    scanTimeKey: str(item.scanTimeKey),
    lastScannedAt: strOrNull(item.lastScannedAt),
    contentHash: str(item.contentHash),
    raw: rawPointerOf(item.raw),
    removed: item.removed === true,
    removedAt: strOrUndefined(item.removedAt),
    firstSeenAt: strOrUndefined(item.firstSeenAt),
    updatedAt: str(item.updatedAt),
    lastRunId: strOrUndefined(item.lastRunId),
    vulnerabilityCounts: countsOf(item.vulnerabilityCounts),
    consoleId: str(item.consoleId),
    reportId: strOrNull(item.reportId),
    osDistro: strOrNull(item.osDistro),
    osDistroVersion: strOrNull(item.osDistroVersion),
    scanVersion: strOrNull(item.scanVersion),
    complianceCounts: countsOf(item.complianceCounts),
    packageCount: intOrNull(item.packageCount),
    findingCount: intOrNull(item.findingCount),
    riskFactorCount: intOrNull(item.riskFactorCount),
  };
}
