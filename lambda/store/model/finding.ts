/**
 * The finding item (`F#<findingKey>` in the image partition), open or resolved. Open findings carry
 * the sparse `vulnPk`/`vulnSk` keys of `open-findings-by-vulnerability`; resolved ones do not, so
 * "images currently affected by X" is one Query that only ever sees open findings.
 */
import type { FindingRecord, ImageIdentity, Severity } from '../../common/records.js';
import { identityPk, imageKeyOf, imageKeyString } from '../identity.js';
import { findingSk, openFindingKeys } from '../keys.js';
import {
  type ImagePartitionItem,
  ITEM_BUDGET_BYTES,
  itemSize,
  numOrNull,
  type RawItem,
  str,
  strOrNull,
  strOrUndefined,
} from './common.js';

/** Longest text a finding attribute keeps when a finding would not fit in one item (the raw report keeps it all). */
export const MAX_FINDING_TEXT = 32_000;

export type ResolvedReason = 'goneFromReport' | 'imageRemoved';

/** Lifecycle of a finding item beyond what the report says. */
export interface FindingLifecycle {
  firstSeen: string;
  occurrences: number;
  lastResolvedAt?: string;
  resolvedAt?: string;
  resolvedReason?: ResolvedReason;
  /**
   * Detection time (`seenAt`) of the finding's last transition (new, reopened, resolved): its change
   * item's `at`. A transition written but not yet committed by its image item is re-announced with
   * this same time, so a change item is never lost and never doubled.
   */
  changeAt?: string;
}

/** The finding item: the normalized finding (its `key` as `findingKey`), located and with its lifecycle. */
export interface FindingItem
  extends ImagePartitionItem,
    FindingLifecycle,
    Omit<FindingRecord, 'key' | 'descriptionTruncated'> {
  type: 'finding';
  findingKey: string;
  updatedAt: string;
  truncatedFields?: string[];
  vulnPk?: string;
  vulnSk?: string;
}

const FINDING_TEXT_FIELDS = [
  'description',
  'title',
  'link',
  'vector',
  'status',
  'packageType',
  'packageName',
  'packageVersion',
  'id',
  'findingKey',
  'imageKey',
] as const;

/**
 * A finding item. A finding whose text would overflow one item keeps its first
 * {@link MAX_FINDING_TEXT} characters per field and names the shortened fields in `truncatedFields`
 * (the raw report keeps the full text).
 */
export function toFindingItem(
  identity: ImageIdentity,
  finding: FindingRecord,
  lifecycle: FindingLifecycle,
  updatedAt: string,
): FindingItem {
  const key = imageKeyOf(identity);
  const item: FindingItem = {
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
    updatedAt,
    ...withLifecycle(lifecycle),
  };
  if (lifecycle.resolvedAt === undefined) {
    Object.assign(item, openFindingKeys(identity.consoleId, key, finding.id, finding.key));
  }
  return fitFinding(item);
}

function withLifecycle(lifecycle: FindingLifecycle): FindingLifecycle {
  const out: FindingLifecycle = { firstSeen: lifecycle.firstSeen, occurrences: lifecycle.occurrences };
  if (lifecycle.lastResolvedAt !== undefined) out.lastResolvedAt = lifecycle.lastResolvedAt;
  if (lifecycle.resolvedAt !== undefined) out.resolvedAt = lifecycle.resolvedAt;
  if (lifecycle.resolvedReason !== undefined) out.resolvedReason = lifecycle.resolvedReason;
  if (lifecycle.changeAt !== undefined) out.changeAt = lifecycle.changeAt;
  return out;
}

function fitFinding(item: FindingItem): FindingItem {
  // Cheap bound first: most findings are a few KB.
  const text = (item.description?.length ?? 0) + (item.title?.length ?? 0) + item.packageName.length;
  if (text < 50_000 && itemSize(item) <= ITEM_BUDGET_BYTES) return item;
  if (itemSize(item) <= ITEM_BUDGET_BYTES) return item;
  const truncated: string[] = [];
  const fitted = { ...item } as FindingItem & Record<string, unknown>;
  for (const field of FINDING_TEXT_FIELDS) {
    const value = fitted[field];
    if (typeof value === 'string' && value.length > MAX_FINDING_TEXT) {
      fitted[field] = value.slice(0, MAX_FINDING_TEXT);
      truncated.push(field);
    }
  }
  if (itemSize(fitted.riskFactors) > MAX_FINDING_TEXT) {
    fitted.riskFactors = fitted.riskFactors.slice(0, 100).map((r) => String(r).slice(0, 1_000));
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
  previous: FindingItem,
  resolvedAt: string,
  reason: ResolvedReason,
  updatedAt: string,
): FindingItem {
  const { vulnPk: _vulnPk, vulnSk: _vulnSk, ...rest } = previous;
  return { ...rest, resolvedAt, resolvedReason: reason, updatedAt, changeAt: updatedAt };
}

const SEVERITIES = new Set(['critical', 'high', 'medium', 'low']);

/** The one decoder of a finding item (every attribute the store wrote, typed). */
export function decodeFinding(item: RawItem): FindingItem {
  const decoded: FindingItem = {
    pk: str(item.pk),
    sk: str(item.sk),
    type: 'finding',
    consoleId: str(item.consoleId),
    registry: str(item.registry),
    repo: str(item.repo),
    tag: str(item.tag),
    imageKey: str(item.imageKey),
    findingKey: str(item.findingKey),
    id: str(item.id),
    severity: (SEVERITIES.has(str(item.severity)) ? item.severity : 'low') as Severity,
    vendorSeverity: str(item.vendorSeverity),
    cvss: numOrNull(item.cvss),
    packageName: str(item.packageName),
    packageVersion: str(item.packageVersion),
    packageType: strOrNull(item.packageType),
    status: strOrNull(item.status),
    fixDate: strOrNull(item.fixDate),
    published: strOrNull(item.published),
    link: strOrNull(item.link),
    title: strOrNull(item.title),
    description: strOrNull(item.description),
    vector: strOrNull(item.vector),
    riskFactors: Array.isArray(item.riskFactors) ? item.riskFactors.map(String) : [],
    contentHash: str(item.contentHash),
    updatedAt: str(item.updatedAt),
    firstSeen: str(item.firstSeen),
    occurrences: typeof item.occurrences === 'number' ? item.occurrences : 1,
  };
  const optional = {
    lastResolvedAt: strOrUndefined(item.lastResolvedAt),
    resolvedAt: strOrUndefined(item.resolvedAt),
    resolvedReason: strOrUndefined(item.resolvedReason) as ResolvedReason | undefined,
    changeAt: strOrUndefined(item.changeAt),
    vulnPk: strOrUndefined(item.vulnPk),
    vulnSk: strOrUndefined(item.vulnSk),
    truncatedFields: Array.isArray(item.truncatedFields) ? item.truncatedFields.map(String) : undefined,
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value !== undefined) (decoded as unknown as Record<string, unknown>)[name] = value;
  }
  return decoded;
}

/** The report-side record of a stored finding (to re-put it resolved or announce it). */
export function findingRecordOf(item: FindingItem): FindingRecord {
  return {
    key: item.findingKey,
    id: item.id,
    severity: item.severity,
    vendorSeverity: item.vendorSeverity,
    cvss: item.cvss,
    packageName: item.packageName,
    packageVersion: item.packageVersion,
    packageType: item.packageType,
    status: item.status,
    fixDate: item.fixDate,
    published: item.published,
    link: item.link,
    title: item.title,
    description: item.description,
    vector: item.vector,
    riskFactors: item.riskFactors,
    contentHash: item.contentHash,
  };
}
