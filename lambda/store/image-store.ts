/**
 * Executes write plans (planner.ts): reads what is stored for a page, plans each report, and writes
 * the plans in as few requests as it can; also the sweep of images a complete run did not see.
 *
 * A plan of up to 100 writes is one atomic unit: several images' plans are packed into one
 * TransactWriteItems (≤ 100 operations), image items with their freshness condition, so an image's
 * findings, change items, history, raw chunks and image item land together or not at all. A plan
 * too large for one transaction is written in phases (its first write noted in the console's
 * first-writes set, then findings/history/raw, then change items, then the image item, then the
 * note's removal), and the planner announces again any change an interrupted phase left
 * unannounced.
 */
import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { GetItemCommand, UpdateItemCommand, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isSyncError, SyncError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { NormalizedReport } from '../common/records.js';
import {
  type BatchWriter,
  batchGetTables,
  type CancellationReason,
  isCancellation,
  type Limiter,
  mapLimit,
  queryItemPages,
  queryItems,
  type RetryPolicy,
  type StoredItem,
  type WriteRequest,
} from './batch.js';
import { type LowLevelClient, lowLevel } from './client.js';
import { identityPk, imageKeyOf, imageKeyString, imagePk, keyPart } from './identity.js';
import { consolePk, FINDING_PREFIX, FIRST_WRITES_SK, IMAGE_SK, runSeenPk, runSk } from './keys.js';
import {
  type AttributeMap,
  attributeMapSize,
  fromAttributeMap,
  toAttributeMap,
} from './model/attribute-value.js';
import { canonicalTime, DYNAMODB_ITEM_LIMIT_BYTES } from './model/common.js';
import { firstChangeMarker } from './model/console.js';
import { decodeFinding, type FindingItem } from './model/finding.js';
import { decodeImage, type StoredImage } from './model/image.js';
import { decodeFirstWrites, decodeRunSweepGuard, decodeSeen, firstWritesUpdate } from './model/run.js';
import {
  classify,
  type Decision,
  newestPerImage,
  type PlanContext,
  planRemoval,
  planTouch,
  planWrite,
  type RemovalPlan,
  type TouchPlan,
  type WritePlan,
} from './planner.js';
import { INDEX_NAMES, type TableNames } from './tables.js';
import type { QuarantineCode, QuarantinedReport, WriteOutcome, WriteReportsResult } from './types.js';

export interface ImageStoreDeps {
  client: DynamoDBDocumentClient;
  tables: TableNames;
  consoleId: string;
  now: () => Date;
  logger: Logger | undefined;
  writer: BatchWriter;
  /** Bounds write calls in flight across everything this store does. */
  limiter: Limiter;
  retry: RetryPolicy;
  /** Images of one page read or removed at once. */
  imageConcurrency: number;
  /** A scan time later than now by more than this is not trusted for ordering. */
  scanTimeSkewMs: number;
}

/** DynamoDB's limits on key attributes (table and index keys), in UTF-8 bytes. */
const PARTITION_KEY_LIMIT = 2048;
const SORT_KEY_LIMIT = 1024;
const PARTITION_KEYS = ['pk', 'curPk', 'repoPk', 'vulnPk'];
const SORT_KEYS = ['sk', 'curSk', 'repoSk', 'vulnSk'];
/** One transaction: DynamoDB takes 100 operations and 4 MB; the margin covers request overhead. */
const MAX_TRANSACTION_OPERATIONS = 100;
const MAX_TRANSACTION_BYTES = 3_500_000;

/** The run statuses under which a run that paged completely may sweep. */
const SWEEPABLE_STATUSES = new Set(['running', 'completed']);

const IMAGE_CONDITION = 'attribute_not_exists(pk) OR scanTimeKey <= :scanTimeKey';

interface Entry {
  index: number;
  report: NormalizedReport;
  rawJson: string;
  key: string;
  pk: string;
}

/** A report's writes as DynamoDB operations, ready to send. */
interface Prepared {
  entry: Entry;
  outcome: WriteOutcome;
  /** A first write (no image item stored): noted in the first-writes set before anything else of it. */
  firstWrite: boolean;
  /** Findings, history, raw chunks (BatchWriteItem). */
  bulk: WriteRequest[];
  /** Change items (BatchWriteItem, after the bulk). */
  changes: WriteRequest[];
  /** Last, in a transaction: the image item with its freshness condition (or a scan-time touch). */
  operations: TransactWriteItem[];
  bytes: number;
}

/** A report that cannot be stored for reasons of its own data. */
class QuarantineError extends Error {
  constructor(
    readonly code: QuarantineCode,
    message: string,
  ) {
    super(message);
  }
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

function isValidation(error: unknown): boolean {
  const cause = isSyncError(error) ? (error as { cause?: unknown }).cause : error;
  return cause instanceof Error && cause.name === 'ValidationException';
}

/**
 * The current images of one console: writes (with change detection and a freshness rule) and the
 * removal sweep.
 *
 * @example
 * const { images, quarantined } = await stores.images.writeReports(page.map((r) => ({ normalized: r.report, rawJson: r.text })), { runId, seenAt: new Date().toISOString() });
 */
export class ImageStore {
  /** The earliest change time this instance made sure the console's `firstChangeAt` marker covers. */
  #changeTimeNoted: string | undefined;
  readonly #client: LowLevelClient;

  constructor(private readonly deps: ImageStoreDeps) {
    this.#client = lowLevel(deps.client);
  }

  /**
   * Writes one page of reports (≤ 50 in practice). Per image: unchanged content hash → no write (one
   * small update when only the scan time moved forward); an older scan than stored → `stale`;
   * otherwise the plan of the finding diff, change items, history, raw chunks and the image item.
   * A report whose own data cannot be stored (an item over 400 KB, a key over DynamoDB's limit, a
   * number DynamoDB cannot hold, a ValidationException for its items) is listed in `quarantined`
   * and nothing of it is written; the other reports are stored. Throttling and other errors throw.
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
    const entries = reports.map(({ normalized, rawJson }, index) => this.#entry(normalized, rawJson, index));
    const ctx: PlanContext = {
      runId: context.runId,
      seenAt: canonicalTime(context.seenAt),
      nowMs: this.deps.now().getTime(),
      scanTimeSkewMs: this.deps.scanTimeSkewMs,
    };
    const winners = newestPerImage(entries, ctx);
    const read = await this.#readImages(winners);
    const decisions = winners.map((entry) => classify(entry.report, read.images.get(entry.pk), ctx));
    const outcomes = new Map<number, WriteOutcome>();
    const quarantined: QuarantinedReport[] = [];
    const quarantine = (entry: Entry, code: QuarantineCode, reason: string) => {
      quarantined.push(quarantineOf(entry, code, reason));
      this.deps.logger?.warn('report quarantined: it cannot be stored', { image: entry.key, code, reason });
    };
    let itemsWritten = decisions.includes('write') ? await this.#noteChangeTime(ctx.seenAt) : 0;
    const { prepared, touches } = await this.#planPage(winners, decisions, read, ctx, outcomes, quarantine);
    itemsWritten += await this.#execute(prepared, touches, read, outcomes, quarantine);
    const quarantinedIndexes = new Set(quarantined.map((q) => q.index));
    return {
      itemsWritten,
      images: entries
        .filter((entry) => !quarantinedIndexes.has(entry.index))
        .map((entry) => ({ key: entry.key, outcome: outcomes.get(entry.index) ?? 'stale' })),
      quarantined: quarantined.sort((a, b) => a.index - b.index),
    };
  }

  /**
   * The page's plans as DynamoDB operations: `unchanged` and `stale` decided on the spot, scan-time
   * touches, and full writes (which read the stored findings first where any can exist).
   */
  async #planPage(
    winners: readonly Entry[],
    decisions: readonly Decision[],
    read: { images: ReadonlyMap<string, StoredImage>; pending: ReadonlySet<string> },
    ctx: PlanContext,
    outcomes: Map<number, WriteOutcome>,
    quarantine: (entry: Entry, code: QuarantineCode, reason: string) => void,
  ): Promise<{ prepared: Prepared[]; touches: Prepared[] }> {
    const prepared: Prepared[] = [];
    const touches: Prepared[] = [];
    await mapLimit(winners, this.deps.imageConcurrency, async (entry, i) => {
      const decision = decisions[i] as Decision;
      const stored = read.images.get(entry.pk);
      if (decision === 'stale' || decision === 'unchanged') outcomes.set(entry.index, decision);
      if (decision === 'touch') {
        touches.push(
          this.#prepareTouch(entry, planTouch(entry.report, entry.pk, ctx), healingKey(stored, ctx)),
        );
      }
      if (decision !== 'write') return;
      try {
        prepared.push(await this.#planWrite(entry, stored, read.pending.has(entry.pk), ctx));
      } catch (error) {
        if (error instanceof QuarantineError) return quarantine(entry, error.code, error.message);
        if (isSyncError(error, 'store.unsafeNumber'))
          return quarantine(entry, 'store.unsafeNumber', error.message);
        throw error;
      }
    });
    return { prepared, touches };
  }

  async #planWrite(
    entry: Entry,
    stored: StoredImage | undefined,
    pending: boolean,
    ctx: PlanContext,
  ): Promise<Prepared> {
    // Findings exist only where an image item does or the console's first-writes set names the image.
    const storedFindings = stored || pending ? await this.#findings(entry.pk) : [];
    const plan = planWrite({ report: entry.report, rawJson: entry.rawJson, stored, storedFindings, ctx });
    if (plan.duplicateFindings.length > 0) {
      this.deps.logger?.warn('duplicate finding key in one report; keeping the first', {
        image: entry.key,
        findings: plan.duplicateFindings.slice(0, 10),
      });
    }
    return this.#prepare(entry, plan, stored, pending, healingKey(stored, ctx));
  }

  #entry(normalized: NormalizedReport, rawJson: string, index: number): Entry {
    const identity = normalized.image.identity;
    if (identity.consoleId !== this.deps.consoleId) {
      throw new SyncError(
        'store.consoleMismatch',
        `report ${index} belongs to console ${identity.consoleId}, this store writes console ${this.deps.consoleId}`,
        { index, reportConsole: identity.consoleId, storeConsole: this.deps.consoleId },
      );
    }
    return { index, report: normalized, rawJson, key: imageKeyString(identity), pk: identityPk(identity) };
  }

  /**
   * One consistent BatchGetItem: the page's image items and the console's first writes in progress
   * (`pending`: the page's images whose findings may exist without an image item).
   */
  async #readImages(
    entries: readonly Entry[],
  ): Promise<{ images: Map<string, StoredImage>; pending: Set<string> }> {
    const { tables, consoleId, retry } = this.deps;
    const keys = entries.map((entry) => ({
      table: tables.images,
      key: { pk: { S: entry.pk }, sk: { S: IMAGE_SK } },
    }));
    const firstWritesKey = { pk: { S: consolePk(consoleId) }, sk: { S: FIRST_WRITES_SK } };
    const found = await batchGetTables(
      this.#client,
      [{ table: tables.runs, key: firstWritesKey }, ...keys],
      retry,
    );
    const images = new Map<string, StoredImage>();
    let firstWrites = new Set<string>();
    for (const { table, item } of found) {
      if (table === tables.runs) firstWrites = decodeFirstWrites(item).pks;
      else images.set(String(item.pk), decodeImage(item));
    }
    const pending = new Set(entries.map((entry) => entry.pk).filter((pk) => firstWrites.has(pk)));
    return { images, pending };
  }

  /** Adds (before their findings) or removes (after their image items) first writes in progress. */
  async #noteFirstWrites(action: 'ADD' | 'DELETE', pks: readonly string[]): Promise<number> {
    if (pks.length === 0) return 0;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.deps.tables.runs,
          ...firstWritesUpdate(consolePk(this.deps.consoleId), FIRST_WRITES_SK, action, pks),
        }),
      );
      return 1;
    } catch (error) {
      throw new SyncError(
        'store.writeFailed',
        `could not ${action === 'ADD' ? 'note' : 'clear'} ${pks.length} first writes in progress`,
        { images: pks.length },
        error,
      );
    }
  }

  async #findings(pk: string): Promise<FindingItem[]> {
    const items = await queryItems(this.#client, {
      TableName: this.deps.tables.images,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: pk }, ':prefix': { S: FINDING_PREFIX } },
      ConsistentRead: true,
    });
    return items.map(decodeFinding);
  }

  /** A plan as DynamoDB operations, each item checked against DynamoDB's limits on the way. */
  #prepare(
    entry: Entry,
    plan: WritePlan,
    stored: StoredImage | undefined,
    pending: boolean,
    healing: string | undefined,
  ): Prepared {
    const { images, rawReports } = this.deps.tables;
    const put = (_table: string, item: object, kind: string): AttributeMap =>
      checked(toAttributeMap(item), kind);
    const bulk: WriteRequest[] = [
      ...plan.findings.map((f) => ({ table: images, put: put(images, f, 'finding') })),
      { table: images, put: put(images, plan.history, 'history') },
      ...plan.raw.map((r) => ({ table: rawReports, put: put(rawReports, r, 'raw chunk') })),
    ];
    const changes: WriteRequest[] = plan.changes.map((c) => ({
      table: images,
      put: put(images, c, 'change'),
    }));
    const imagePut: TransactWriteItem = {
      Put: {
        TableName: images,
        Item: put(images, plan.image, 'image'),
        ...imageCondition(plan.condition.scanTimeKey, healing),
      },
    };
    return {
      entry,
      outcome: plan.outcome,
      firstWrite: !stored && !pending,
      bulk,
      changes,
      operations: [imagePut],
      bytes: attributeMapSize(imagePut.Put?.Item ?? {}),
    };
  }

  #prepareTouch(entry: Entry, plan: TouchPlan, healing: string | undefined): Prepared {
    const values: AttributeMap = {
      ':scanTime': plan.scanTime === null ? { NULL: true } : { S: plan.scanTime },
      ':scanTimeKey': { S: plan.scanTimeKey },
      ':lastScannedAt': { S: plan.lastScannedAt },
      ':seenAt': { S: plan.updatedAt },
      ':hash': { S: plan.contentHash },
    };
    if (healing !== undefined) values[':readKey'] = { S: healing };
    const operation: TransactWriteItem = {
      Update: {
        TableName: this.deps.tables.images,
        Key: { pk: { S: plan.pk }, sk: { S: IMAGE_SK } },
        UpdateExpression:
          'SET scanTime = :scanTime, scanTimeKey = :scanTimeKey, lastScannedAt = :lastScannedAt, updatedAt = :seenAt',
        ConditionExpression:
          healing === undefined
            ? 'attribute_exists(pk) AND scanTimeKey < :scanTimeKey AND contentHash = :hash'
            : 'attribute_exists(pk) AND scanTimeKey = :readKey AND contentHash = :hash',
        ExpressionAttributeValues: values,
      },
    };
    return {
      entry,
      outcome: 'unchanged',
      firstWrite: false,
      bulk: [],
      changes: [],
      operations: [operation],
      bytes: 200,
    };
  }

  /**
   * Sends the plans of a page in phases, each phase batched across the page's images: (1) its first
   * writes added to the console's first-writes set (one request), (2) findings, history and raw
   * chunks, (3) change items, (4) image items (freshness condition) and scan-time touches in
   * transactions of up to 100 operations, sent one after another, (5) the first writes that now
   * have an image item removed from the set (one request). A cancelled transaction names the
   * operation that failed: its image is `stale` (condition) or quarantined (validation), and the
   * rest is sent again.
   */
  async #execute(
    plans: Prepared[],
    touches: Prepared[],
    page: { pending: ReadonlySet<string>; images: ReadonlyMap<string, StoredImage> },
    outcomes: Map<number, WriteOutcome>,
    quarantine: (entry: Entry, code: QuarantineCode, reason: string) => void,
  ): Promise<number> {
    let written = await this.#noteFirstWrites(
      'ADD',
      plans.filter((plan) => plan.firstWrite).map((plan) => plan.entry.pk),
    );
    const bulk = await this.#writeEach(plans, (plan) => plan.bulk, quarantine);
    written += bulk.written;
    let alive = plans.filter((plan) => !bulk.failed.has(plan));
    const changes = await this.#writeEach(alive, (plan) => plan.changes, quarantine);
    written += changes.written;
    alive = alive.filter((plan) => !changes.failed.has(plan));
    // One transaction at a time: DynamoDB Local serializes transactions behind one lock, and
    // concurrent ones wait for it until they fail.
    for (const group of packTransactions([...alive, ...touches])) {
      written += await this.#sendGroup(group, outcomes, quarantine);
    }
    // An image item now exists (written, or newer and `stale`) for these: their findings are covered.
    const covered = plans
      .filter(
        (plan) => (plan.firstWrite || page.pending.has(plan.entry.pk)) && outcomes.has(plan.entry.index),
      )
      .map((plan) => plan.entry.pk);
    for (const pk of page.pending) if (page.images.has(pk)) covered.push(pk);
    return written + (await this.#noteFirstWrites('DELETE', [...new Set(covered)]));
  }

  /**
   * Writes the requests of every plan in one batched stream; if DynamoDB refuses the stream with a
   * ValidationException, each plan's requests are sent alone and the plans refused are quarantined.
   */
  async #writeEach(
    plans: readonly Prepared[],
    requestsOf: (plan: Prepared) => WriteRequest[],
    quarantine: (entry: Entry, code: QuarantineCode, reason: string) => void,
  ): Promise<{ written: number; failed: Set<Prepared> }> {
    const failed = new Set<Prepared>();
    try {
      return { written: await this.deps.writer.write(plans.flatMap(requestsOf)), failed };
    } catch (error) {
      if (!isValidation(error)) throw error;
    }
    let written = 0;
    for (const plan of plans) {
      try {
        written += await this.deps.writer.write(requestsOf(plan));
      } catch (error) {
        if (!isValidation(error)) throw error;
        failed.add(plan);
        quarantine(
          plan.entry,
          'store.itemRejected',
          `DynamoDB refused an item: ${(error as Error).message.slice(0, 200)}`,
        );
      }
    }
    return { written, failed };
  }

  async #sendGroup(
    initial: Prepared[],
    outcomes: Map<number, WriteOutcome>,
    quarantine: (entry: Entry, code: QuarantineCode, reason: string) => void,
  ): Promise<number> {
    let group = initial;
    while (group.length > 0) {
      try {
        const written = await this.deps.writer.transact(group.flatMap((plan) => plan.operations));
        for (const plan of group) outcomes.set(plan.entry.index, plan.outcome);
        return written;
      } catch (error) {
        if (isCancellation(error)) {
          group = this.#dropFailed(group, error.CancellationReasons ?? [], outcomes, quarantine);
          continue;
        }
        if (!isValidation(error)) throw error;
        if (group.length === 1) {
          const only = group[0] as Prepared;
          quarantine(
            only.entry,
            'store.itemRejected',
            `DynamoDB refused an item: ${(error as Error).message.slice(0, 200)}`,
          );
          return 0;
        }
        // Which image's items DynamoDB refused is not said: send each image alone.
        const alone = await Promise.all(group.map((plan) => this.#sendGroup([plan], outcomes, quarantine)));
        return alone.reduce((a, b) => a + b, 0);
      }
    }
    return 0;
  }

  #dropFailed(
    group: Prepared[],
    reasons: readonly CancellationReason[],
    outcomes: Map<number, WriteOutcome>,
    quarantine: (entry: Entry, code: QuarantineCode, reason: string) => void,
  ): Prepared[] {
    const failed = new Set<Prepared>();
    let offset = 0;
    for (const plan of group) {
      const own = reasons.slice(offset, offset + plan.operations.length);
      offset += plan.operations.length;
      const code = own.find((reason) => reason.Code && reason.Code !== 'None');
      if (!code) continue;
      failed.add(plan);
      if (code.Code === 'ConditionalCheckFailed') {
        this.deps.logger?.info('a newer scan was stored meanwhile; skipped', { image: plan.entry.key });
        outcomes.set(plan.entry.index, 'stale');
      } else if (code.Code === 'ValidationError') {
        quarantine(
          plan.entry,
          'store.itemRejected',
          `DynamoDB refused an item: ${(code.Message ?? '').slice(0, 200)}`,
        );
      } else {
        throw new SyncError('store.writeFailed', `transaction cancelled: ${code.Code}`, {
          image: plan.entry.key,
        });
      }
    }
    if (failed.size === 0) {
      throw new SyncError('store.writeFailed', 'transaction cancelled without a reason', {
        images: group.length,
      });
    }
    return group.filter((plan) => !failed.has(plan));
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

  /**
   * Marks every current image of this console that run `runId` did not see as removed: `removed: true`,
   * `removedAt`, out of the current-image indexes, its open findings resolved (reason `imageRemoved`,
   * with `resolved` change-feed entries) so `query cve` never lists a removed image. History and raw
   * reports are kept. Refused (`store.sweepRefused`) unless the run record says `pagingComplete` and
   * its status is `running` or `completed`.
   */
  async sweepRemoved(runId: string): Promise<{ removed: number; itemsWritten: number }> {
    const { tables, consoleId } = this.deps;
    const { Item: runItem } = await this.#client.send(
      new GetItemCommand({
        TableName: tables.runs,
        Key: { pk: { S: consolePk(consoleId) }, sk: { S: runSk(runId) } },
        ConsistentRead: true,
      }),
    );
    if (!runItem) {
      throw new SyncError('store.sweepRefused', `no run record for run ${runId}; nothing may be removed`, {
        runId,
      });
    }
    const run = decodeRunSweepGuard(fromAttributeMap(runItem));
    if (!run.pagingComplete || !SWEEPABLE_STATUSES.has(run.status)) {
      throw new SyncError(
        'store.sweepRefused',
        `run ${runId} did not see the complete result set (status ${run.status}, pagingComplete ${String(run.pagingComplete)}); removal refused`,
        { runId, status: run.status, pagingComplete: run.pagingComplete },
      );
    }
    const seen = new Set<string>();
    for await (const page of queryItemPages(this.#client, {
      TableName: tables.runs,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: runSeenPk(consoleId, runId) }, ':prefix': { S: 'SEEN#' } },
      ConsistentRead: true,
    })) {
      for (const item of page) for (const key of decodeSeen(item).keys) seen.add(key);
    }

    const removedAt = this.deps.now().toISOString();
    let removed = 0;
    let itemsWritten = 0;
    for await (const page of queryItemPages(this.#client, {
      TableName: tables.images,
      IndexName: INDEX_NAMES.currentImages,
      KeyConditionExpression: 'curPk = :console',
      ExpressionAttributeValues: { ':console': { S: keyPart(consoleId) } },
    })) {
      const gone = page.map(decodeImage).filter((image) => !seen.has(image.imageKey));
      if (gone.length > 0) itemsWritten += await this.#noteChangeTime(removedAt);
      const results = await mapLimit(gone, this.deps.imageConcurrency, (image) =>
        this.#removeImage(image, runId, removedAt),
      );
      for (const result of results) {
        removed += result.removed ? 1 : 0;
        itemsWritten += result.itemsWritten;
      }
    }
    this.deps.logger?.info('removal sweep done', { runId, seen: seen.size, removed, itemsWritten });
    return { removed, itemsWritten };
  }

  async #removeImage(
    summary: StoredImage,
    runId: string,
    removedAt: string,
  ): Promise<{ removed: boolean; itemsWritten: number }> {
    const { tables, consoleId } = this.deps;
    const pk = imagePk(consoleId, imageKeyOf(summary));
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: tables.images,
        Key: { pk: { S: pk }, sk: { S: IMAGE_SK } },
        ConsistentRead: true,
      }),
    );
    const item = Item ? fromAttributeMap(Item) : undefined;
    // Gone meanwhile, already removed (index lag), or written by this very run: not removable.
    if (!item) return { removed: false, itemsWritten: 0 };
    const image = decodeImage(item);
    if (image.removed || image.lastRunId === runId) return { removed: false, itemsWritten: 0 };
    const plan = planRemoval(image, await this.#findings(pk), consoleId, runId, removedAt);
    return await this.#executeRemoval(plan);
  }

  async #executeRemoval(plan: RemovalPlan): Promise<{ removed: boolean; itemsWritten: number }> {
    const { images } = this.deps.tables;
    const findings = plan.findings.map((f) => ({ table: images, put: toAttributeMap(f) }));
    const changes = plan.changes.map((c) => ({ table: images, put: toAttributeMap(c) }));
    const update: TransactWriteItem = {
      Update: {
        TableName: images,
        Key: { pk: { S: plan.pk }, sk: { S: IMAGE_SK } },
        UpdateExpression:
          'SET removed = :true, removedAt = :at, updatedAt = :at, removedByRun = :run REMOVE curPk, curSk, repoPk, repoSk',
        // Only if nothing wrote the image since we read it.
        ConditionExpression: 'attribute_exists(pk) AND contentHash = :hash AND scanTimeKey = :scan',
        ExpressionAttributeValues: {
          ':true': { BOOL: true },
          ':at': { S: plan.removedAt },
          ':run': { S: plan.runId },
          ':hash': { S: plan.condition.contentHash },
          ':scan': { S: plan.condition.scanTimeKey },
        },
      },
    };
    // Findings first: an interrupted removal leaves them stamped, and the next sweep announces their changes.
    let written = await this.deps.writer.write(findings);
    written += await this.deps.writer.write(changes);
    try {
      await this.#client.send(
        new UpdateItemCommand({
          ...update.Update,
          ReturnValuesOnConditionCheckFailure: 'NONE',
        } as UpdateItemCommandInput),
      );
      written += 1;
    } catch (error) {
      if (isConditionFailure(error)) return { removed: false, itemsWritten: written };
      throw new SyncError(
        'store.writeFailed',
        `marking image ${plan.imageKey} removed failed`,
        { image: plan.imageKey },
        error,
      );
    }
    return { removed: true, itemsWritten: written };
  }
}

/** The stored ordering key when it was distrusted (beyond now + skew): writes may replace exactly it. */
function healingKey(stored: StoredImage | undefined, ctx: PlanContext): string | undefined {
  if (!stored) return undefined;
  const ms = Date.parse(stored.scanTimeKey);
  return !Number.isNaN(ms) && ms > ctx.nowMs + ctx.scanTimeSkewMs ? stored.scanTimeKey : undefined;
}

function imageCondition(scanTimeKey: string, healing: string | undefined) {
  return {
    // The freshness rule: an older scan never overwrites a newer one, even in a race.
    ConditionExpression:
      healing === undefined ? IMAGE_CONDITION : `${IMAGE_CONDITION} OR scanTimeKey = :readKey`,
    ExpressionAttributeValues: {
      ':scanTimeKey': { S: scanTimeKey },
      ...(healing === undefined ? {} : { ':readKey': { S: healing } }),
    },
  };
}

/** Packs plans into transactions of at most 100 operations and about 3.5 MB. */
function packTransactions(plans: readonly Prepared[]): Prepared[][] {
  const groups: Prepared[][] = [];
  let current: Prepared[] = [];
  let operations = 0;
  let bytes = 0;
  for (const plan of plans) {
    if (
      current.length > 0 &&
      (operations + plan.operations.length > MAX_TRANSACTION_OPERATIONS ||
        bytes + plan.bytes > MAX_TRANSACTION_BYTES)
    ) {
      groups.push(current);
      current = [];
      operations = 0;
      bytes = 0;
    }
    current.push(plan);
    operations += plan.operations.length;
    bytes += plan.bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Refuses an item DynamoDB would refuse: over 400 KB, or a key over its limit. */
function checked(map: AttributeMap, kind: string): AttributeMap {
  const size = attributeMapSize(map);
  if (size > DYNAMODB_ITEM_LIMIT_BYTES) {
    throw new QuarantineError(
      'store.itemTooLarge',
      `the ${kind} item is ${size} bytes, over DynamoDB's 400 KB`,
    );
  }
  for (const [names, limit] of [
    [PARTITION_KEYS, PARTITION_KEY_LIMIT],
    [SORT_KEYS, SORT_KEY_LIMIT],
  ] as const) {
    for (const name of names) {
      const value = map[name]?.S;
      if (
        value !== undefined &&
        (value.length * 3 > limit ? Buffer.byteLength(value, 'utf8') > limit : false)
      ) {
        throw new QuarantineError(
          'store.keyTooLong',
          `the ${kind} item's key ${name} is over DynamoDB's ${limit} bytes`,
        );
      }
    }
  }
  return map;
}

function quarantineOf(entry: Entry, code: QuarantineCode, reason: string): QuarantinedReport {
  const { consoleId, registry, repo, tag } = entry.report.image.identity;
  return { index: entry.index, key: entry.key, identity: { consoleId, registry, repo, tag }, code, reason };
}

export type { StoredItem };
