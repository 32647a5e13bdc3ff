/**
 * Pure key builders. Every key carries the console id, so several consoles share one set of tables.
 * Components are joined with `#`; `%` and `#` inside a component are percent-escaped, so a prefix
 * like `<registry>#` can never match another registry. A component longer than {@link MAX_KEY_PART}
 * bytes (bad input: DynamoDB caps a sort key at 1024 bytes) becomes a stable hash of itself; the
 * query side applies the same function, so lookups still match.
 */
import { createHash } from 'node:crypto';
import { type ImageKey, keyPart } from './identity.js';

export { type ImageKey, identityPk, imageKeyString, imagePk, keyPart, MAX_KEY_PART } from './identity.js';

/** Sort key of the image item in its partition. */
export const IMAGE_SK = 'IMAGE';
export const FINDING_PREFIX = 'F#';
export const HISTORY_PREFIX = 'H#';

/** The change feed of a console is spread over this many partitions per month (write headroom on a first sync). */
export const CHANGE_FEED_SHARDS = 4;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Sort key of a finding item. */
export function findingSk(findingKey: string): string {
  return `${FINDING_PREFIX}${keyPart(findingKey)}`;
}

/** Sort key of a history item: time order, one per content change. */
export function historySk(observedAt: string, contentHash: string): string {
  return `${HISTORY_PREFIX}${observedAt}#${keyPart(contentHash)}`;
}

/**
 * Sort-key prefix of the raw chunks of one report: content hash plus the raw text's own sha256, so
 * two raw texts with the same content hash (volatile fields differ) never mix their chunks.
 */
export function rawPrefix(contentHash: string, rawSha256: string): string {
  return `${keyPart(contentHash)}#${rawSha256.slice(0, 16)}#`;
}

/** Sort key of one raw chunk (zero-padded so chunks sort in order). */
export function rawSk(contentHash: string, rawSha256: string, index: number): string {
  return `${rawPrefix(contentHash, rawSha256)}${String(index).padStart(5, '0')}`;
}

/** GSI keys of a current (not removed) image. */
export function currentImageKeys(consoleId: string, key: ImageKey) {
  return {
    curPk: keyPart(consoleId),
    curSk: `${keyPart(key.registry)}#${keyPart(key.repo)}#${keyPart(key.tag)}`,
    repoPk: `${keyPart(consoleId)}#${keyPart(key.repo)}`,
    repoSk: `${keyPart(key.registry)}#${keyPart(key.tag)}`,
  };
}

/** Sparse GSI keys of an open finding. */
export function openFindingKeys(
  consoleId: string,
  key: ImageKey,
  vulnerabilityId: string,
  findingKey: string,
) {
  return {
    vulnPk: `${keyPart(consoleId)}#${keyPart(vulnerabilityId)}`,
    vulnSk: `${keyPart(key.registry)}#${keyPart(key.repo)}#${keyPart(key.tag)}#${keyPart(findingKey)}`,
  };
}

/** `yyyy-mm` of an ISO time: the change feed's time bucket. */
export function monthOf(iso: string): string {
  return iso.slice(0, 7);
}

/** Which change-feed shard an image writes to (stable per image). */
export function changeShard(imageKey: string): number {
  return Number.parseInt(sha256(imageKey).slice(0, 8), 16) % CHANGE_FEED_SHARDS;
}

/** Partition key of a change-feed bucket. */
export function changePk(consoleId: string, month: string, shard: number): string {
  return `CHG#${keyPart(consoleId)}#${month}#${shard}`;
}

/**
 * Sort key of an image's changes of one kind at one detection time: detection time first, so
 * "since T" is a key condition; the part number keeps a split list in order.
 */
export function changeGroupSk(
  at: string,
  imageKey: string,
  change: 'new' | 'resolved',
  part: number,
): string {
  return `${at}#${keyPart(imageKey)}#${change}#${String(part).padStart(3, '0')}`;
}

/** Every `yyyy-mm` from `since` to `until`, inclusive. */
export function monthsBetween(since: string, until: string): string[] {
  const months: string[] = [];
  let year = Number(since.slice(0, 4));
  let month = Number(since.slice(5, 7));
  const end = monthOf(until);
  for (let guard = 0; guard < 100_000; guard += 1) {
    const current = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
    if (current > end) break;
    months.push(current);
    month += 1;
    if (month > 12) {
      month = 1;
      year += 1;
    }
  }
  return months;
}

/** Partition of everything per console in the runs table (lease, checkpoint, run records). */
export function consolePk(consoleId: string): string {
  return `C#${keyPart(consoleId)}`;
}

export const LEASE_SK = 'LEASE';
export const CHECKPOINT_SK = 'CHECKPOINT';
/**
 * Sort key (under the console's pk in the runs table) of the set of image partitions whose first write
 * began and may not have finished: their findings can exist without an image item.
 */
export const FIRST_WRITES_SK = 'FIRST_WRITES';

export function runSk(runId: string): string {
  return `RUN#${keyPart(runId)}`;
}

/** Partition of the seen-key pages of one run. */
export function runSeenPk(consoleId: string, runId: string): string {
  return `C#${keyPart(consoleId)}#RUN#${keyPart(runId)}`;
}

export function seenSk(pageIndex: number, part: number): string {
  return `SEEN#${pageIndex}#${part}`;
}

/** Partition listing the consoles stored in these tables (one item per console). */
export const CONSOLES_PK = 'CONSOLES';
