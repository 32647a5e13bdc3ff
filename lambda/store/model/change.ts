/**
 * The change-feed item: the findings that appeared (`new`) or were resolved on one image at one
 * detection time `at`, as one item (split into parts only when the list would be large).
 * Partition `CHG#<console>#<yyyy-mm>#<shard>`, sort key `<at>#<image>#<change>#<part>`, so
 * "changes since T" is a key condition and the same change written twice is the same item.
 *
 * One item per image and detection time, not one per finding: a new image with F findings costs
 * one change item instead of F, and every reader sees single changes through `decodeChanges`.
 * Items of the earlier one-per-finding layout (sort key `<at>#<image>#<finding>#<change>`, the
 * finding's fields on the item) still decode.
 */
import type { FindingRecord, Severity } from '../../common/records.js';
import { type ImageKey, imageKeyString } from '../identity.js';
import { changeGroupSk, changePk, changeShard, monthOf } from '../keys.js';
import { type RawItem, str, strOrUndefined } from './common.js';

export type ChangeKind = 'new' | 'resolved';

/** One finding of a change item. `observedAt`/`reason` only where they differ from the item's. */
export interface ChangeEntry {
  findingKey: string;
  id: string;
  packageName: string;
  packageVersion: string;
  severity: Severity;
  observedAt?: string;
  reason?: string;
}

export interface ChangeItem {
  pk: string;
  sk: string;
  type: 'change';
  consoleId: string;
  change: ChangeKind;
  registry: string;
  repo: string;
  tag: string;
  imageKey: string;
  at: string;
  observedAt: string;
  runId: string;
  /** Which part of the image's changes at `at` this item holds (0 unless the list was split). */
  part: number;
  findings: ChangeEntry[];
}

/** One change as every reader sees it: one finding of a change item with the item's own fields. */
export interface Change
  extends Omit<ChangeItem, 'pk' | 'sk' | 'type' | 'part' | 'findings'>,
    Required<Omit<ChangeEntry, 'reason'>> {
  /** `imageRemoved` when the sweep resolved the finding because its image left the console. */
  reason?: string;
}

/** One change a plan announces, before it is grouped into items. */
export interface PlannedChange {
  finding: Pick<FindingRecord, 'key' | 'id' | 'packageName' | 'packageVersion' | 'severity'>;
  change: ChangeKind;
  at: string;
  observedAt: string;
  reason?: string;
}

/**
 * Bytes of entries per change item before a new part starts: far below the 400 KB item limit
 * whatever the entries hold (each is bounded by the finding key, itself bounded in length).
 */
export const CHANGE_PART_BYTES = 200_000;

/**
 * The change items of one image: one per detection time and kind, entries sorted by finding key
 * and split into parts of at most `CHANGE_PART_BYTES`, so the same changes always give the same
 * items (a write repeated after a crash overwrites, never doubles).
 *
 * @example
 * changeItems({ consoleId: 'c', image, runId: 'r' }, [{ finding, change: 'new', at, observedAt }])
 * // one item, findings: [finding]
 */
export function changeItems(
  owner: { consoleId: string; image: ImageKey; runId: string },
  changes: readonly PlannedChange[],
): ChangeItem[] {
  if (changes.length === 0) return [];
  const imageKey = imageKeyString(owner.image);
  const shard = changeShard(imageKey);
  const groups = new Map<string, PlannedChange[]>();
  for (const planned of changes) {
    const group = `${planned.at}#${planned.change}`;
    const list = groups.get(group);
    if (list) list.push(planned);
    else groups.set(group, [planned]);
  }
  const items: ChangeItem[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => (a.finding.key < b.finding.key ? -1 : a.finding.key > b.finding.key ? 1 : 0));
    const first = group[0] as PlannedChange;
    let part = 0;
    let bytes = 0;
    let entries: ChangeEntry[] = [];
    const flush = () => {
      items.push({
        pk: changePk(owner.consoleId, monthOf(first.at), shard),
        sk: changeGroupSk(first.at, imageKey, first.change, part),
        type: 'change',
        consoleId: owner.consoleId,
        change: first.change,
        registry: owner.image.registry,
        repo: owner.image.repo,
        tag: owner.image.tag,
        imageKey,
        at: first.at,
        observedAt: first.observedAt,
        runId: owner.runId,
        part,
        findings: entries,
      });
      part += 1;
      bytes = 0;
      entries = [];
    };
    for (const planned of group) {
      const entry = changeEntry(planned, first.observedAt);
      const size = entrySize(entry);
      if (entries.length > 0 && bytes + size > CHANGE_PART_BYTES) flush();
      entries.push(entry);
      bytes += size;
    }
    flush();
  }
  return items;
}

function changeEntry(planned: PlannedChange, itemObservedAt: string): ChangeEntry {
  const { finding } = planned;
  const entry: ChangeEntry = {
    findingKey: finding.key,
    id: finding.id,
    packageName: finding.packageName,
    packageVersion: finding.packageVersion,
    severity: finding.severity,
  };
  if (planned.observedAt !== itemObservedAt) entry.observedAt = planned.observedAt;
  if (planned.reason !== undefined) entry.reason = planned.reason;
  return entry;
}

/** Upper bound of an entry's DynamoDB size: UTF-8 takes at most 3 bytes per UTF-16 unit, plus names. */
function entrySize(entry: ChangeEntry): number {
  let chars = 0;
  for (const value of Object.values(entry)) chars += (value as string).length;
  return 3 * chars + 100;
}

/**
 * The one decoder of a change-feed item: the single changes it holds (several for an item of the
 * current layout, one for an item of the one-per-finding layout).
 */
export function decodeChanges(item: RawItem): Change[] {
  const base = {
    change: (item.change === 'resolved' ? 'resolved' : 'new') as ChangeKind,
    consoleId: str(item.consoleId),
    registry: str(item.registry),
    repo: str(item.repo),
    tag: str(item.tag),
    imageKey: str(item.imageKey),
    at: str(item.at),
    observedAt: str(item.observedAt),
    runId: str(item.runId),
  };
  const entries = Array.isArray(item.findings) ? (item.findings as RawItem[]) : [item];
  return entries.map((entry) => {
    const change: Change = {
      ...base,
      findingKey: str(entry.findingKey),
      id: str(entry.id),
      packageName: str(entry.packageName),
      packageVersion: str(entry.packageVersion),
      severity: str(entry.severity) as Severity,
      observedAt: strOrUndefined(entry.observedAt) ?? base.observedAt,
    };
    const reason = strOrUndefined(entry.reason);
    if (reason !== undefined) change.reason = reason;
    return change;
  });
}
