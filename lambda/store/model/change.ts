/**
 * The change-feed item: a finding appeared (`new`) or was resolved on an image, at detection time
 * `at`. Partition `CHG#<console>#<yyyy-mm>#<shard>`, sort key `<at>#<image>#<finding>#<change>`, so
 * "changes since T" is a key condition and the same change written twice is the same item.
 */
import type { FindingRecord, Severity } from '../../common/records.js';
import { type ImageKey, imageKeyString } from '../identity.js';
import { changePk, changeShard, changeSk, monthOf } from '../keys.js';
import { type RawItem, str, strOrUndefined } from './common.js';

export type ChangeKind = 'new' | 'resolved';

export interface ChangeItem {
  pk: string;
  sk: string;
  type: 'change';
  consoleId: string;
  change: ChangeKind;
  id: string;
  findingKey: string;
  registry: string;
  repo: string;
  tag: string;
  imageKey: string;
  packageName: string;
  packageVersion: string;
  severity: Severity;
  at: string;
  observedAt: string;
  runId: string;
  reason?: string;
}

export interface ChangeInput {
  consoleId: string;
  image: ImageKey;
  finding: Pick<FindingRecord, 'key' | 'id' | 'packageName' | 'packageVersion' | 'severity'>;
  change: ChangeKind;
  at: string;
  observedAt: string;
  runId: string;
  reason?: string;
}

/** A change-feed item. */
export function toChangeItem(input: ChangeInput): ChangeItem {
  const imageKey = imageKeyString(input.image);
  const item: ChangeItem = {
    pk: changePk(input.consoleId, monthOf(input.at), changeShard(imageKey)),
    sk: changeSk(input.at, imageKey, input.finding.key, input.change),
    type: 'change',
    consoleId: input.consoleId,
    change: input.change,
    id: input.finding.id,
    findingKey: input.finding.key,
    registry: input.image.registry,
    repo: input.image.repo,
    tag: input.image.tag,
    imageKey,
    packageName: input.finding.packageName,
    packageVersion: input.finding.packageVersion,
    severity: input.finding.severity,
    at: input.at,
    observedAt: input.observedAt,
    runId: input.runId,
  };
  if (input.reason !== undefined) item.reason = input.reason;
  return item;
}

/** The one decoder of a change-feed item. */
export function decodeChange(item: RawItem): ChangeItem {
  const decoded: ChangeItem = {
    pk: str(item.pk),
    sk: str(item.sk),
    type: 'change',
    consoleId: str(item.consoleId),
    change: item.change === 'resolved' ? 'resolved' : 'new',
    id: str(item.id),
    findingKey: str(item.findingKey),
    registry: str(item.registry),
    repo: str(item.repo),
    tag: str(item.tag),
    imageKey: str(item.imageKey),
    packageName: str(item.packageName),
    packageVersion: str(item.packageVersion),
    severity: str(item.severity) as Severity,
    at: str(item.at),
    observedAt: str(item.observedAt),
    runId: str(item.runId),
  };
  const reason = strOrUndefined(item.reason);
  if (reason !== undefined) decoded.reason = reason;
  return decoded;
}
