/**
 * Writes normalized reports with change detection, keeps the findings lifecycle and the change
 * feed, stores the raw report in full, and sweeps images a complete run did not see.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../common/errors.js';
import type { FindingRecord, NormalizedReport } from '../common/records.js';
import {
  type BatchWriter,
  batchGet,
  type Limiter,
  mapLimit,
  queryAll,
  queryPages,
  type RetryPolicy,
  type StoredItem,
  type WriteRequest,
} from './batch.js';
import {
  canonicalTime,
  type FindingLifecycle,
  findingFromItem,
  firstChangeMarker,
  type Item,
  type RawPointer,
  scanTimeKey,
  toChangeItem,
  toFindingItem,
  toHistoryItem,
  toImageItem,
  toRawItems,
  toResolvedFindingItem,
} from './items.js';
import {
  consolePk,
  FINDING_PREFIX,
  findingSk,
  IMAGE_SK,
  type ImageKey,
  identityPk,
  imageKeyString,
  imagePk,
  keyPart,
  runSeenPk,
  runSk,
} from './keys.js';
import { compressRaw } from './raw.js';
import { INDEX_NAMES, type TableNames } from './tables.js';
import type { StoreLogger, WriteOutcome, WriteReportsResult } from './types.js';

export interface ImageStoreDeps {
  client: DynamoDBDocumentClient;
  tables: TableNames;
  consoleId: string;
  now: () => Date;
  logger: StoreLogger | undefined;
  writer: BatchWriter;
  /** Bounds BatchWriteItem calls in flight across everything this store does. */
  limiter: Limiter;
  retry: RetryPolicy;
  /** Images of one page processed at once. */
  imageConcurrency: number;
}

interface Entry {
  index: number;
  report: NormalizedReport;
  rawJson: string;
  key: string;
  pk: string;
}

interface ImageResult {
  outcome: WriteOutcome;
  itemsWritten: number;
}

/** The run statuses under which a run that paged completely may sweep. */
const SWEEPABLE_STATUSES = new Set(['running', 'completed']);

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * The current images of one console: writes (with change detection and a freshness rule) and the
 * removal sweep.
 *
 * @example
 * const { images } = await stores.images.writeReports(page.map((r) => ({ normalized: r.report, rawJson: r.text })), { runId, seenAt: new Date().toISOString() });
 */
export class ImageStore {
  /** The earliest change time this instance made sure the console's `firstChangeAt` marker covers. */
  #changeTimeNoted: string | undefined;

  constructor(private readonly deps: ImageStoreDeps) {}

  /**
   * Writes one page of reports (≤ 50 in practice). Per image: unchanged content hash → no write (one
   * small UpdateItem when only the scan time moved forward); an older scan than stored → `stale`;
   * otherwise findings are diffed against the stored ones, change-feed items, findings, a history item
   * and the raw chunks are written, and the image item last, conditionally.
   */
  async writeReports(
    reports: ReadonlyArray<{ normalized: NormalizedReport; rawJson: string }>,
    context: { runId: string; seenAt: string },
  ): Promise<WriteReportsResult> {
    if (Number.isNaN(Date.parse(context.seenAt))) {
      throw new SyncError('store.invalidInput', `seenAt is not an ISO time: ${context.seenAt}`, {
        seenAt: context.seenAt,
      });
    }
    const entries: Entry[] = reports.map(({ normalized, rawJson }, index) => {
      const identity = normalized.image.identity;
      if (identity.consoleId !== this.deps.consoleId) {
        throw new SyncError(
          'store.consoleMismatch',
          `report ${index} belongs to console ${identity.consoleId}, this store writes console ${this.deps.consoleId}`,
          { index, reportConsole: identity.consoleId, storeConsole: this.deps.consoleId },
        );
      }
      return { index, report: normalized, rawJson, key: imageKeyString(identity), pk: identityPk(identity) };
    });
    context = { ...context, seenAt: canonicalTime(context.seenAt) };

    // The same image twice in one call: the newer scan wins, the other is stale by definition.
    const winners = new Map<string, Entry>();
    for (const entry of entries) {
      const current = winners.get(entry.pk);
      if (
        !current ||
        scanTimeKey(entry.report.image.scanTime) >= scanTimeKey(current.report.image.scanTime)
      ) {
        winners.set(entry.pk, entry);
      }
    }
    const stored = await batchGet(
      this.deps.client,
      this.deps.tables.images,
      [...winners.keys()].map((pk) => ({ pk, sk: IMAGE_SK })),
      this.deps.retry,
    );
    const storedByPk = new Map(stored.map((item) => [String(item.pk), item]));
    const results = new Map<number, ImageResult>();
    const winnerList = [...winners.values()];
    // Before any change-feed item of this call exists, make sure the console's marker covers its time.
    const writes = winnerList.some((entry) => classify(entry.report, storedByPk.get(entry.pk)) === 'write');
    const marker = writes ? await this.#noteChangeTime(context.seenAt) : 0;
    const written = await mapLimit(winnerList, this.deps.imageConcurrency, (entry) =>
      this.#writeImage(entry, storedByPk.get(entry.pk), context),
    );
    winnerList.forEach((entry, i) => {
      results.set(entry.index, written[i] as ImageResult);
    });

    const itemsWritten = [...results.values()].reduce((sum, r) => sum + r.itemsWritten, 0) + marker;
    return {
      itemsWritten,
      images: entries.map((entry) => ({
        key: entry.key,
        outcome: results.get(entry.index)?.outcome ?? 'stale',
      })),
    };
  }

  /**
   * Lowers the console's `firstChangeAt` marker to `at` if needed (also registering the console),
   * at most once per store instance and time. Returns the items written (0 or 1).
   */
  async #noteChangeTime(at: string): Promise<number> {
    if (this.#changeTimeNoted !== undefined && this.#changeTimeNoted <= at) return 0;
    try {
      await this.deps.client.send(
        new UpdateCommand({
          TableName: this.deps.tables.runs,
          ...firstChangeMarker(this.deps.consoleId, at),
        }),
      );
      this.#changeTimeNoted = at;
      return 1;
    } catch (error) {
      if (isConditionFailure(error)) {
        // An earlier change is already recorded: nothing to do.
        this.#changeTimeNoted = at;
        return 0;
      }
      throw new SyncError(
        'store.writeFailed',
        'could not record the change-feed start of this console',
        {},
        error,
      );
    }
  }

  async #writeImage(
    entry: Entry,
    stored: StoredItem | undefined,
    context: { runId: string; seenAt: string },
  ): Promise<ImageResult> {
    const { report } = entry;
    const image = report.image;
    const newScanKey = scanTimeKey(image.scanTime);
    const wasRemoved = stored?.removed === true;

    const decision = classify(report, stored);
    if (decision === 'stale') return { outcome: 'stale', itemsWritten: 0 };
    if (decision === 'unchanged') return { outcome: 'unchanged', itemsWritten: 0 };
    if (decision === 'touch')
      return await this.#touchScanTime(entry, image.contentHash, newScanKey, context.seenAt);

    const observedAt = image.scanTime ? canonicalTime(image.scanTime) : context.seenAt;
    const identity = image.identity;
    const key: ImageKey = { registry: identity.registry, repo: identity.repo, tag: identity.tag };

    // Always read the stored findings, even for an image item that does not exist yet: a crash after
    // the findings but before the image item must not produce a second "new" for each finding.
    const storedFindings = await queryAll(this.deps.client, {
      TableName: this.deps.tables.images,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': entry.pk, ':prefix': FINDING_PREFIX },
      ConsistentRead: true,
    });
    const storedBySk = new Map(storedFindings.map((item) => [String(item.sk), item]));

    const changes: Item[] = [];
    const findingItems: Item[] = [];
    const seenSks = new Set<string>();
    for (const finding of report.findings) {
      const sk = findingSk(finding.key);
      if (seenSks.has(sk)) {
        this.deps.logger?.warn('duplicate finding key in one report; keeping the first', {
          image: entry.key,
          finding: finding.key,
        });
        continue;
      }
      seenSks.add(sk);
      const previous = storedBySk.get(sk);
      const previouslyResolved = typeof previous?.resolvedAt === 'string';
      if (!previous || previouslyResolved) {
        const lifecycle: FindingLifecycle = {
          firstSeen: observedAt,
          occurrences: (typeof previous?.occurrences === 'number' ? previous.occurrences : 0) + 1,
          ...(previouslyResolved ? { lastResolvedAt: previous?.resolvedAt as string } : {}),
        };
        findingItems.push(toFindingItem(identity, finding, lifecycle, context.seenAt));
        changes.push(this.#change(key, finding, 'new', context, observedAt));
      } else if (previous.contentHash !== finding.contentHash) {
        findingItems.push(toFindingItem(identity, finding, lifecycleOf(previous), context.seenAt));
      }
    }
    // A compact or trimmed report has no vulnerability list although its counters say there are
    // vulnerabilities: absence from it proves nothing, so no finding is resolved from it.
    for (const previous of image.findingsIncomplete === true ? [] : storedFindings) {
      if (typeof previous.resolvedAt === 'string' || seenSks.has(String(previous.sk))) continue;
      findingItems.push(toResolvedFindingItem(previous, observedAt, 'goneFromReport', context.seenAt));
      changes.push(this.#change(key, findingFromItem(previous), 'resolved', context, observedAt));
    }

    // The raw report: stored once per (image, content hash, raw bytes); a revived image with the
    // same content already has it.
    const rawNeeded = !stored || stored.contentHash !== image.contentHash || typeof stored.raw !== 'object';
    const compressed = rawNeeded ? compressRaw(entry.rawJson) : undefined;
    const raw: RawPointer = compressed
      ? {
          contentHash: image.contentHash,
          sha256: compressed.sha256,
          chunks: compressed.chunks.length,
          byteLength: compressed.byteLength,
        }
      : (stored?.raw as RawPointer);
    const rawItems = compressed ? toRawItems(identity, image.contentHash, compressed) : [];
    const history = toHistoryItem(report, { observedAt, seenAt: context.seenAt, runId: context.runId, raw });

    // Change-feed items first: after a crash between the two batches a change may repeat, never vanish.
    let itemsWritten = await this.deps.writer.write(
      changes.map((put) => ({ table: this.deps.tables.images, put })),
    );
    const bulk: WriteRequest[] = [
      ...findingItems.map((put) => ({ table: this.deps.tables.images, put })),
      { table: this.deps.tables.images, put: history },
      ...rawItems.map((put) => ({ table: this.deps.tables.rawReports, put })),
    ];
    itemsWritten += await this.deps.writer.write(bulk);

    const imageItem = toImageItem(report, {
      observedAt,
      seenAt: context.seenAt,
      runId: context.runId,
      firstSeenAt: typeof stored?.firstSeenAt === 'string' ? stored.firstSeenAt : observedAt,
      raw,
    });
    if (wasRemoved && typeof stored?.removedAt === 'string') imageItem.lastRemovedAt = stored.removedAt;
    try {
      await this.deps.client.send(
        new PutCommand({
          TableName: this.deps.tables.images,
          Item: imageItem,
          // The freshness rule: an older scan never overwrites a newer one, even in a race.
          ConditionExpression: 'attribute_not_exists(pk) OR scanTimeKey <= :scanTimeKey',
          ExpressionAttributeValues: { ':scanTimeKey': newScanKey },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        this.deps.logger?.info('a newer scan was stored meanwhile; skipped', { image: entry.key });
        return { outcome: 'stale', itemsWritten };
      }
      throw new SyncError(
        'store.writeFailed',
        `PutItem of image ${entry.key} failed`,
        { image: entry.key },
        error,
      );
    }
    return { outcome: stored && !wasRemoved ? 'changed' : 'new', itemsWritten: itemsWritten + 1 };
  }

  /** Same content, newer scan: one small update so `lastSeen` of open findings moves with it. */
  async #touchScanTime(
    entry: Entry,
    contentHash: string,
    newScanKey: string,
    seenAt: string,
  ): Promise<ImageResult> {
    try {
      await this.deps.client.send(
        new UpdateCommand({
          TableName: this.deps.tables.images,
          Key: { pk: entry.pk, sk: IMAGE_SK },
          UpdateExpression:
            'SET scanTime = :scanTime, scanTimeKey = :scanTime, lastScannedAt = :scanTime, updatedAt = :seenAt',
          ConditionExpression: 'attribute_exists(pk) AND scanTimeKey < :scanTime AND contentHash = :hash',
          ExpressionAttributeValues: { ':scanTime': newScanKey, ':seenAt': seenAt, ':hash': contentHash },
        }),
      );
      return { outcome: 'unchanged', itemsWritten: 1 };
    } catch (error) {
      if (isConditionFailure(error)) return { outcome: 'stale', itemsWritten: 0 };
      throw new SyncError(
        'store.writeFailed',
        `UpdateItem of image ${entry.key} failed`,
        { image: entry.key },
        error,
      );
    }
  }

  #change(
    key: ImageKey,
    finding: FindingRecord,
    change: 'new' | 'resolved',
    context: { runId: string; seenAt: string },
    observedAt: string,
    reason?: string,
  ): Item {
    return toChangeItem({
      consoleId: this.deps.consoleId,
      image: key,
      finding,
      change,
      at: context.seenAt,
      observedAt,
      runId: context.runId,
      ...(reason ? { reason } : {}),
    });
  }

  /**
   * Marks every current image of this console that run `runId` did not see as removed: `removed: true`,
   * `removedAt`, out of the current-image indexes, its open findings resolved (reason `imageRemoved`,
   * with `resolved` change-feed entries) so `query cve` never lists a removed image. History and raw
   * reports are kept. Refused (`store.sweepRefused`) unless the run record says `pagingComplete` and
   * its status is `running` or `completed`.
   */
  async sweepRemoved(runId: string): Promise<{ removed: number; itemsWritten: number }> {
    const { client, tables, consoleId } = this.deps;
    const { Item: run } = await client.send(
      new GetCommand({
        TableName: tables.runs,
        Key: { pk: consolePk(consoleId), sk: runSk(runId) },
        ConsistentRead: true,
      }),
    );
    if (!run) {
      throw new SyncError('store.sweepRefused', `no run record for run ${runId}; nothing may be removed`, {
        runId,
      });
    }
    if (run.pagingComplete !== true || !SWEEPABLE_STATUSES.has(String(run.status))) {
      throw new SyncError(
        'store.sweepRefused',
        `run ${runId} did not see the complete result set (status ${String(run.status)}, pagingComplete ${String(run.pagingComplete === true)}); removal refused`,
        { runId, status: run.status, pagingComplete: run.pagingComplete === true },
      );
    }
    const seen = new Set<string>();
    for await (const page of queryPages(client, {
      TableName: tables.runs,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': runSeenPk(consoleId, runId), ':prefix': 'SEEN#' },
      ConsistentRead: true,
    })) {
      for (const item of page) for (const key of (item.keys as string[] | undefined) ?? []) seen.add(key);
    }

    const removedAt = this.deps.now().toISOString();
    let removed = 0;
    let itemsWritten = 0;
    for await (const page of queryPages(client, {
      TableName: tables.images,
      IndexName: INDEX_NAMES.currentImages,
      KeyConditionExpression: 'curPk = :console',
      ExpressionAttributeValues: { ':console': keyPart(consoleId) },
    })) {
      const gone = page.filter((item) => !seen.has(String(item.imageKey)));
      if (gone.length > 0) itemsWritten += await this.#noteChangeTime(removedAt);
      const outcomes = await mapLimit(gone, this.deps.imageConcurrency, (item) =>
        this.#removeImage(
          { registry: String(item.registry), repo: String(item.repo), tag: String(item.tag) },
          runId,
          removedAt,
        ),
      );
      for (const outcome of outcomes) {
        removed += outcome.removed ? 1 : 0;
        itemsWritten += outcome.itemsWritten;
      }
    }
    this.deps.logger?.info('removal sweep done', { runId, seen: seen.size, removed, itemsWritten });
    return { removed, itemsWritten };
  }

  async #removeImage(
    key: ImageKey,
    runId: string,
    removedAt: string,
  ): Promise<{ removed: boolean; itemsWritten: number }> {
    const { client, tables, consoleId } = this.deps;
    const pk = imagePk(consoleId, key);
    const { Item: image } = await client.send(
      new GetCommand({ TableName: tables.images, Key: { pk, sk: IMAGE_SK }, ConsistentRead: true }),
    );
    // Gone meanwhile, already removed (index lag), or written by this very run: not removable.
    if (!image || image.removed === true || image.lastRunId === runId)
      return { removed: false, itemsWritten: 0 };

    const open = await queryAll(client, {
      TableName: tables.images,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'attribute_not_exists(resolvedAt)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': FINDING_PREFIX },
      ConsistentRead: true,
    });
    const context = { runId, seenAt: removedAt };
    const changes = open.map((item) =>
      this.#change(key, findingFromItem(item), 'resolved', context, removedAt, 'imageRemoved'),
    );
    const resolved = open.map((item) => toResolvedFindingItem(item, removedAt, 'imageRemoved', removedAt));
    let itemsWritten = await this.deps.writer.write(changes.map((put) => ({ table: tables.images, put })));
    itemsWritten += await this.deps.writer.write(resolved.map((put) => ({ table: tables.images, put })));
    try {
      await client.send(
        new UpdateCommand({
          TableName: tables.images,
          Key: { pk, sk: IMAGE_SK },
          UpdateExpression:
            'SET removed = :true, removedAt = :at, updatedAt = :at, removedByRun = :run REMOVE curPk, curSk, repoPk, repoSk',
          // Only if nothing wrote the image since we read it.
          ConditionExpression: 'attribute_exists(pk) AND contentHash = :hash AND scanTimeKey = :scan',
          ExpressionAttributeValues: {
            ':true': true,
            ':at': removedAt,
            ':run': runId,
            ':hash': image.contentHash,
            ':scan': image.scanTimeKey,
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return { removed: false, itemsWritten };
      throw new SyncError(
        'store.writeFailed',
        `marking image ${imageKeyString(key)} removed failed`,
        { image: imageKeyString(key) },
        error,
      );
    }
    return { removed: true, itemsWritten: itemsWritten + 1 };
  }
}

function lifecycleOf(item: StoredItem): FindingLifecycle {
  return {
    firstSeen: String(item.firstSeen ?? ''),
    occurrences: typeof item.occurrences === 'number' ? item.occurrences : 1,
    ...(typeof item.lastResolvedAt === 'string' ? { lastResolvedAt: item.lastResolvedAt } : {}),
  };
}

/**
 * What a report means against the stored image item (pure): an older scan is `stale`; the same
 * content at the same scan time `unchanged`; the same content scanned again later `touch` (one small
 * update); anything else (new, changed, or a removed image back) `write`.
 */
export function classify(
  report: NormalizedReport,
  stored: StoredItem | undefined,
): 'stale' | 'unchanged' | 'touch' | 'write' {
  if (!stored) return 'write';
  const newScanKey = scanTimeKey(report.image.scanTime);
  const storedScanKey = typeof stored.scanTimeKey === 'string' ? stored.scanTimeKey : '';
  if (storedScanKey > newScanKey) return 'stale';
  if (stored.contentHash !== report.image.contentHash || stored.removed === true) return 'write';
  return newScanKey === storedScanKey ? 'unchanged' : 'touch';
}
