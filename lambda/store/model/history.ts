/** The history item (`H#<observedAt>#<contentHash>`): one per content change of an image. */
import type { NormalizedReport, SeverityCounts } from '../../common/records.js';
import { identityPk, imageKeyOf, imageKeyString } from '../identity.js';
import { historySk } from '../keys.js';
import {
  countsOf,
  type ImagePartitionItem,
  type RawItem,
  type RawPointer,
  rawPointerOf,
  str,
  strOrNull,
} from './common.js';

export interface HistoryItem extends ImagePartitionItem {
  type: 'history';
  scanTime: string | null;
  /** The scan's ordering time (trusted scan time, or the detection time without one). */
  observedAt: string;
  seenAt: string;
  digest: string | null;
  imageId: string | null;
  contentHash: string;
  vulnerabilityCounts: SeverityCounts;
  complianceCounts: SeverityCounts;
  packageCount: number;
  findingCount: number;
  runId: string;
  raw?: RawPointer;
}

/** A history item: digest, time, counts and the pointer to this version's raw report. */
export function toHistoryItem(
  report: NormalizedReport,
  input: { observedAt: string; seenAt: string; runId: string; raw: RawPointer | undefined },
): HistoryItem {
  const image = report.image;
  const key = imageKeyOf(image.identity);
  const item: HistoryItem = {
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
  };
  if (input.raw) item.raw = input.raw;
  return item;
}

/** The one decoder of a history item. */
export function decodeHistory(item: RawItem): HistoryItem {
  const decoded: HistoryItem = {
    pk: str(item.pk),
    sk: str(item.sk),
    type: 'history',
    consoleId: str(item.consoleId),
    registry: str(item.registry),
    repo: str(item.repo),
    tag: str(item.tag),
    imageKey: str(item.imageKey),
    scanTime: strOrNull(item.scanTime),
    observedAt: str(item.observedAt),
    seenAt: str(item.seenAt),
    digest: strOrNull(item.digest),
    imageId: strOrNull(item.imageId),
    contentHash: str(item.contentHash),
    vulnerabilityCounts: countsOf(item.vulnerabilityCounts),
    complianceCounts: countsOf(item.complianceCounts),
    packageCount: typeof item.packageCount === 'number' ? item.packageCount : 0,
    findingCount: typeof item.findingCount === 'number' ? item.findingCount : 0,
    runId: str(item.runId),
  };
  const raw = rawPointerOf(item.raw);
  if (raw) decoded.raw = raw;
  return decoded;
}
