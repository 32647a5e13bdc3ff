/**
 * Reads the store's items as rows of the flat analytics schema (`schema.ts`), page by page, in
 * bounded memory. The item layout comes from the store's item model (`lambda/store/model`); the
 * export depends on the store, never the other way round, and never on the client or the normalizer.
 *
 * Three ways in, chosen by the options:
 * - **full** (no console, no since): a parallel Scan of the `images` table (Segment/TotalSegments).
 *   One pass yields all four tables; no table is read twice.
 * - **one console** (`consoleId`): Query only. The console's current images come from the
 *   `current-images` index, each image's partition (image item, findings, history) from one Query,
 *   the change feed from its month/shard buckets. Removed images have left the index, so they are only
 *   in a full export.
 * - **since T** (`since`, with or without `consoleId`): Query only, rows whose sync time is at or after T
 *   (`updatedAt` of images and findings, `seenAt` of scans, `at` of changes), consoles from the console
 *   registry when none is given.
 *
 * Items of one image partition arrive together and in sort-key order (findings `F#…`, history `H#…`,
 * then the image item `IMAGE`), so a partition is assembled in memory (bounded by one image) and
 * emitted when its image item arrives: open findings take `last_seen` from the image's
 * `lastScannedAt`, and findings or history of an image whose item was never committed (a crash during
 * its very first write) are left out, as the store's queries leave them out.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../common/errors.js';
import type { SeverityCounts } from '../common/records.js';
import { queryAll, queryPages, type StoredItem } from '../store/batch.js';
import { decodeChanges, decodeConsole, decodeFinding, decodeHistory, decodeImage } from '../store/items.js';
import {
  CHANGE_FEED_SHARDS,
  CONSOLES_PK,
  changePk,
  IMAGE_SK,
  imagePk,
  keyPart,
  monthsBetween,
} from '../store/keys.js';
import { INDEX_NAMES, tableNames } from '../store/tables.js';
import type { ExportRow, ExportTableName } from './schema.js';

/** Items per page of an export read: keeps each response (and its parsed copies) small. */
export const DEFAULT_EXPORT_PAGE_SIZE = 100;

/** One row of one export table. */
export interface ExportRecord {
  table: ExportTableName;
  row: ExportRow;
}

export interface ExportReaderOptions {
  client: DynamoDBDocumentClient;
  tablePrefix: string;
  /** Only this console (Query). */
  consoleId?: string;
  /** Only rows the sync wrote at or after this ISO time (Query). */
  since?: string;
  /** Parallel Scan segments of a full export (default 4). */
  segments?: number;
  /**
   * Items per Scan/Query page (default {@link DEFAULT_EXPORT_PAGE_SIZE}). Smaller than DynamoDB's 1 MB
   * pages: the SDK holds a page several times over while parsing it, and several segments read at once.
   */
  pageSize?: number;
  /** Clock, for the change feed's last month bucket. */
  now?: () => Date;
}

/** What a read went through, for progress and the final report. */
export interface ExportReadStats {
  /** Items DynamoDB returned (before assembly). */
  itemsRead: number;
  /** Findings and history items left out because their image item was never committed. */
  orphansSkipped: number;
  /** Items of a type the export does not know (counted, not exported). */
  unknownItems: number;
}

/**
 * An ISO time as `YYYY-MM-DDTHH:mm:ss.sssZ` (UTC), or null. Offsets are converted here because
 * DuckDB's `CAST(... AS TIMESTAMP)` would ignore them.
 */
export function toUtcIso(value: unknown, where: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new SyncError('store.exportBadItem', `${where} is not an ISO time: ${String(value).slice(0, 64)}`, {
      where,
    });
  }
  return new Date(time).toISOString();
}

/** The columns images and scans share: both say what one scan found. */
function scanFigures(scan: {
  vulnerabilityCounts: SeverityCounts;
  complianceCounts: SeverityCounts;
  packageCount: number | null;
  findingCount: number | null;
}) {
  return {
    ...counts('vulnerabilities', scan.vulnerabilityCounts),
    ...counts('compliance', scan.complianceCounts),
    package_count: scan.packageCount,
    finding_count: scan.findingCount,
  };
}

function counts(prefix: string, value: SeverityCounts): Record<string, number> {
  return {
    [`${prefix}_critical`]: value.critical,
    [`${prefix}_high`]: value.high,
    [`${prefix}_medium`]: value.medium,
    [`${prefix}_low`]: value.low,
    [`${prefix}_total`]: value.total,
  };
}

function identity(item: {
  consoleId: string;
  registry: string;
  repo: string;
  tag: string;
  imageKey: string;
}) {
  return {
    console_id: item.consoleId,
    registry: item.registry,
    repo: item.repo,
    tag: item.tag,
    image_key: item.imageKey || `${item.registry}/${item.repo}:${item.tag}`,
  };
}

/**
 * The `images` row of an image item (pure), read through the store's one decoder.
 *
 * @example
 * imageRow({ type: 'image', consoleId: 'prod', registry: 'r', repo: 'a', tag: '1', removed: false, ... })
 */
export function imageRow(item: StoredItem): ExportRow {
  const image = decodeImage(item);
  const at = (name: string, value: string | null | undefined) =>
    toUtcIso(value, `image ${image.imageKey} ${name}`);
  return {
    ...identity(image),
    report_id: image.reportId,
    digest: image.digest,
    image_id: image.imageId,
    scan_time: at('scanTime', image.scanTime),
    last_scanned_at: at('lastScannedAt', image.lastScannedAt),
    first_seen_at: at('firstSeenAt', image.firstSeenAt),
    updated_at: at('updatedAt', image.updatedAt || null),
    removed: image.removed,
    removed_at: at('removedAt', image.removedAt),
    os_distro: image.osDistro,
    os_distro_version: image.osDistroVersion,
    scan_version: image.scanVersion,
    ...scanFigures(image),
    risk_factor_count: image.riskFactorCount,
    content_hash: image.contentHash || null,
  };
}

/**
 * The `findings` row of a finding item (pure), read through the store's one decoder.
 * `imageLastScannedAt` is the image's latest scan the sync saw: the `last_seen` of an open finding
 * (the store does not rewrite findings on every scan).
 */
export function findingRow(item: StoredItem, imageLastScannedAt: string | null): ExportRow {
  const finding = decodeFinding(item);
  const where = `finding ${finding.imageKey} ${finding.findingKey}`;
  const time = (name: string, value: string | null | undefined) =>
    toUtcIso(value || null, `${where} ${name}`);
  const resolvedAt = time('resolvedAt', finding.resolvedAt);
  return {
    ...identity(finding),
    finding_key: finding.findingKey,
    vulnerability_id: finding.id,
    severity: finding.severity,
    vendor_severity: finding.vendorSeverity || null,
    cvss: finding.cvss,
    package_name: finding.packageName,
    package_version: finding.packageVersion,
    package_type: finding.packageType,
    status: finding.status,
    fix_date: time('fixDate', finding.fixDate),
    published: time('published', finding.published),
    title: finding.title,
    link: finding.link,
    vector: finding.vector,
    risk_factors: finding.riskFactors.length > 0 ? JSON.stringify(finding.riskFactors) : null,
    description: finding.description,
    is_open: resolvedAt === null,
    first_seen: time('firstSeen', finding.firstSeen) ?? time('updatedAt', finding.updatedAt),
    last_seen: resolvedAt ?? time('lastSeen', imageLastScannedAt),
    resolved_at: resolvedAt,
    resolved_reason: resolvedAt === null ? null : (finding.resolvedReason ?? null),
    occurrences: finding.occurrences,
    updated_at: time('updatedAt', finding.updatedAt),
  };
}

/** The `scans` row of a history item (pure), read through the store's one decoder. */
export function scanRow(item: StoredItem): ExportRow {
  const history = decodeHistory(item);
  const where = `history ${history.imageKey}`;
  return {
    ...identity(history),
    observed_at: toUtcIso(history.observedAt || null, `${where} observedAt`),
    scan_time: toUtcIso(history.scanTime, `${where} scanTime`),
    seen_at: toUtcIso(history.seenAt || null, `${where} seenAt`),
    digest: history.digest,
    image_id: history.imageId,
    content_hash: history.contentHash,
    ...scanFigures(history),
    run_id: history.runId || null,
  };
}

/** The `changes` rows of a change-feed item (pure): one per finding it holds. */
export function changeRows(item: StoredItem): ExportRow[] {
  return decodeChanges(item).map((c) => ({
    console_id: c.consoleId,
    change: c.change,
    at: toUtcIso(c.at, `change ${c.imageKey} at`),
    registry: c.registry,
    repo: c.repo,
    tag: c.tag,
    image_key: c.imageKey || `${c.registry}/${c.repo}:${c.tag}`,
    finding_key: c.findingKey,
    vulnerability_id: c.id,
    package_name: c.packageName,
    package_version: c.packageVersion,
    severity: c.severity || null,
    reason: c.reason ?? null,
    run_id: c.runId || null,
  }));
}

/** A filter on sync time, for `since` exports. */
type RowFilter = (table: ExportTableName, item: StoredItem) => boolean;

const keepAll: RowFilter = () => true;

function sinceFilter(since: string): RowFilter {
  return (table, item) => {
    const time =
      table === 'scans'
        ? item.seenAt
        : table === 'changes'
          ? item.at
          : // Images and findings: when the sync last wrote the item.
            item.updatedAt;
    return typeof time === 'string' && time >= since;
  };
}

/**
 * Assembles the items of one image partition at a time into rows. Fed items in the order DynamoDB
 * returns them; holds at most the findings and history of one partition until its image item comes.
 */
class PartitionAssembler {
  private pk: string | undefined;
  private image: StoredItem | undefined;
  private held: StoredItem[] = [];

  constructor(
    private readonly keep: RowFilter,
    private readonly stats: ExportReadStats,
    /** Looks the image item up when it did not come with its partition (a read in another order). */
    private readonly fetchImage: (pk: string) => Promise<StoredItem | undefined>,
  ) {}

  /** Appends to `out` the rows this item completes. */
  async feed(item: StoredItem, out: ExportRecord[]): Promise<void> {
    switch (item.type) {
      case 'change':
        if (this.keep('changes', item)) {
          for (const row of changeRows(item)) out.push({ table: 'changes', row });
        }
        return;
      case 'image':
      case 'finding':
      case 'history':
        break;
      default:
        this.stats.unknownItems += 1;
        return;
    }
    const pk = String(item.pk);
    if (pk !== this.pk) {
      await this.flush(out);
      this.pk = pk;
    }
    if (item.type === 'image') {
      this.image = item;
      if (this.keep('images', item)) out.push({ table: 'images', row: imageRow(item) });
      for (const held of this.held) this.emit(held, item, out);
      this.held = [];
    } else if (this.image) {
      this.emit(item, this.image, out);
    } else {
      this.held.push(item);
    }
  }

  /** Ends the current partition: held items whose image item never came are looked up once. */
  async flush(out: ExportRecord[]): Promise<void> {
    if (this.pk !== undefined && this.held.length > 0) {
      const image = await this.fetchImage(this.pk);
      if (image) for (const held of this.held) this.emit(held, image, out);
      else this.stats.orphansSkipped += this.held.length;
    }
    this.pk = undefined;
    this.image = undefined;
    this.held = [];
  }

  private emit(item: StoredItem, image: StoredItem, out: ExportRecord[]): void {
    if (item.type === 'finding') {
      if (this.keep('findings', item)) {
        out.push({ table: 'findings', row: findingRow(item, decodeImage(image).lastScannedAt) });
      }
    } else if (this.keep('scans', item)) {
      out.push({ table: 'scans', row: scanRow(item) });
    }
  }
}

/**
 * Merges async iterables, yielding from whichever is ready first. At most one pending `next()` per
 * source, so memory stays at one page per source.
 */
export async function* mergeAsync<T>(sources: ReadonlyArray<AsyncIterable<T>>): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) => {
    const iterator = iterators[index];
    if (!iterator) return;
    const next = iterator.next().then((result) => ({ index, result }));
    // A source failing after an early exit must not become an unhandled rejection; the race still sees it.
    next.catch(() => undefined);
    pending.set(index, next);
  };
  iterators.forEach((_, index) => {
    pull(index);
  });
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    // Stop the others on an early exit or an error (their pending pages are dropped).
    await Promise.allSettled(iterators.map((iterator) => iterator.return?.()));
  }
}

/**
 * Reads the export rows, one batch per DynamoDB page (rows of several tables mixed). Stats are
 * filled in as it goes.
 *
 * @example
 * const stats = newExportReadStats();
 * for await (const batch of readExportRecords({ client, tablePrefix: 'prisma-registry' }, stats)) {
 *   for (const { table, row } of batch) await writers[table].write(row);
 * }
 */
export async function* readExportRecords(
  options: ExportReaderOptions,
  stats: ExportReadStats = newExportReadStats(),
): AsyncGenerator<ExportRecord[]> {
  const since = options.since === undefined ? undefined : normalizeSince(options.since);
  if (options.consoleId === undefined && since === undefined) {
    yield* fullScan(options, stats);
    return;
  }
  const consoles = options.consoleId !== undefined ? [options.consoleId] : await listConsoles(options);
  for (const consoleId of consoles) yield* consoleQuery(options, consoleId, since, stats);
}

/** Empty stats. */
export function newExportReadStats(): ExportReadStats {
  return { itemsRead: 0, orphansSkipped: 0, unknownItems: 0 };
}

function normalizeSince(since: string): string {
  const time = Date.parse(since);
  if (Number.isNaN(time))
    throw new SyncError('store.invalidInput', `since is not a time: ${since}`, { since });
  return new Date(time).toISOString();
}

function imageFetcher(options: ExportReaderOptions, table: string) {
  return async (pk: string): Promise<StoredItem | undefined> => {
    try {
      const { Item } = await options.client.send(
        new GetCommand({ TableName: table, Key: { pk, sk: IMAGE_SK } }),
      );
      return Item as StoredItem | undefined;
    } catch (error) {
      throw new SyncError('store.readFailed', `GetItem of image ${pk} failed`, { table, pk }, error);
    }
  };
}

async function* scanSegment(
  options: ExportReaderOptions,
  table: string,
  segment: number,
  totalSegments: number,
  stats: ExportReadStats,
): AsyncGenerator<ExportRecord[]> {
  const assembler = new PartitionAssembler(keepAll, stats, imageFetcher(options, table));
  let startKey: Record<string, unknown> | undefined;
  do {
    let response: ScanCommandOutput;
    try {
      response = await options.client.send(
        new ScanCommand({
          TableName: table,
          Segment: segment,
          TotalSegments: totalSegments,
          Limit: options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
    } catch (error) {
      throw new SyncError(
        'store.scanFailed',
        `Scan of ${table} segment ${segment}/${totalSegments} failed`,
        { table, segment, totalSegments },
        error,
      );
    }
    const out: ExportRecord[] = [];
    for (const item of (response.Items as StoredItem[] | undefined) ?? []) {
      stats.itemsRead += 1;
      await assembler.feed(item, out);
    }
    startKey = response.LastEvaluatedKey;
    if (!startKey) await assembler.flush(out);
    if (out.length > 0) yield out;
  } while (startKey);
}

async function* fullScan(
  options: ExportReaderOptions,
  stats: ExportReadStats,
): AsyncGenerator<ExportRecord[]> {
  const table = tableNames(options.tablePrefix).images;
  const segments = Math.max(1, Math.min(options.segments ?? 4, 1_000_000));
  yield* mergeAsync(
    Array.from({ length: segments }, (_, segment) => scanSegment(options, table, segment, segments, stats)),
  );
}

async function listConsoles(options: ExportReaderOptions): Promise<string[]> {
  const items = await queryAll(options.client, {
    TableName: tableNames(options.tablePrefix).runs,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': CONSOLES_PK },
  });
  return items
    .map((item) => decodeConsole(item).consoleId)
    .filter((id) => id !== '')
    .sort();
}

async function* consoleQuery(
  options: ExportReaderOptions,
  consoleId: string,
  since: string | undefined,
  stats: ExportReadStats,
): AsyncGenerator<ExportRecord[]> {
  const tables = tableNames(options.tablePrefix);
  const keep = since === undefined ? keepAll : sinceFilter(since);
  const query: ConsoleQuery = {
    options,
    consoleId,
    since,
    stats,
    tables,
    assembler: new PartitionAssembler(keep, stats, imageFetcher(options, tables.images)),
  };
  const earliestSeen = yield* currentImages(query);
  const start = await changeFeedStart(query, earliestSeen);
  if (start === undefined) return;
  yield* changeFeed(query, start);
}

/** One console's export query: what its phases share. */
interface ConsoleQuery {
  options: ExportReaderOptions;
  consoleId: string;
  since: string | undefined;
  stats: ExportReadStats;
  tables: ReturnType<typeof tableNames>;
  assembler: PartitionAssembler;
}

/**
 * The partitions of the console's current images (changed since `since`, when given). Returns the
 * earliest sync time seen (`since`, or `'9999'` when none): where the change feed's months start.
 */
async function* currentImages(query: ConsoleQuery): AsyncGenerator<ExportRecord[], string> {
  const { options, consoleId, since, stats, tables, assembler } = query;
  let earliest = since ?? '9999';
  for await (const page of queryPages(options.client, {
    TableName: tables.images,
    IndexName: INDEX_NAMES.currentImages,
    KeyConditionExpression: 'curPk = :console',
    ExpressionAttributeValues: { ':console': keyPart(consoleId) },
    Limit: options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE,
  })) {
    for (const summary of page) {
      // The index projects `updatedAt` when the store's definition includes it: unchanged images are skipped
      // without reading their partition. Without it, every partition is read and filtered.
      const image = decodeImage(summary);
      if (since !== undefined && image.updatedAt !== '' && image.updatedAt < since) continue;
      const pk = imagePk(consoleId, image);
      for await (const items of queryPages(options.client, {
        TableName: tables.images,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        Limit: options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE,
      })) {
        const out: ExportRecord[] = [];
        for (const item of items) {
          stats.itemsRead += 1;
          // Every write that records changes also records a history item with the same seen time.
          if (item.type === 'history' && typeof item.seenAt === 'string' && item.seenAt < earliest) {
            earliest = item.seenAt;
          }
          await assembler.feed(item, out);
        }
        if (out.length > 0) yield out;
      }
      const out: ExportRecord[] = [];
      await assembler.flush(out);
      if (out.length > 0) yield out;
    }
  }
  return earliest;
}

/**
 * Where the change feed is read from: `since`, or for a full export the month before the earliest
 * of the syncs seen and the console's registration; undefined when the console never synced.
 */
async function changeFeedStart(query: ConsoleQuery, earliestSeen: string): Promise<string | undefined> {
  if (query.since !== undefined) return earliestSeen;
  const registered = await query.options.client.send(
    new GetCommand({ TableName: query.tables.runs, Key: { pk: CONSOLES_PK, sk: query.consoleId } }),
  );
  const registeredAt = registered.Item ? decodeConsole(registered.Item).registeredAt : undefined;
  const earliest = registeredAt !== undefined && registeredAt < earliestSeen ? registeredAt : earliestSeen;
  if (earliest === '9999') return undefined;
  // A change is stamped with the page's seen time, which may precede the registration by a moment.
  return previousMonth(earliest);
}

/** The change feed's items from `start` to now, month bucket by month bucket, shard by shard. */
async function* changeFeed(query: ConsoleQuery, start: string): AsyncGenerator<ExportRecord[]> {
  const { options, consoleId, since, stats, tables, assembler } = query;
  const now = (options.now ?? (() => new Date()))().toISOString();
  for (const month of monthsBetween(start, now)) {
    for (let shard = 0; shard < CHANGE_FEED_SHARDS; shard += 1) {
      for await (const items of queryPages(options.client, {
        TableName: tables.images,
        KeyConditionExpression: since === undefined ? 'pk = :pk' : 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: {
          ':pk': changePk(consoleId, month, shard),
          ...(since === undefined ? {} : { ':since': since }),
        },
        Limit: options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE,
      })) {
        const out: ExportRecord[] = [];
        for (const item of items) {
          stats.itemsRead += 1;
          await assembler.feed(item, out);
        }
        if (out.length > 0) yield out;
      }
    }
  }
}

/** The first instant of the month before `iso`'s month. */
function previousMonth(iso: string): string {
  const date = new Date(Date.parse(iso));
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - 1, 1)).toISOString();
}

/**
 * DynamoDB's estimate of the `images` table's item count (refreshed about every six hours): the
 * denominator of a full export's progress bar. Undefined when unknown.
 */
export async function estimateItemCount(
  client: DynamoDBDocumentClient,
  tablePrefix: string,
): Promise<number | undefined> {
  try {
    const { Table } = await client.send(
      new DescribeTableCommand({ TableName: tableNames(tablePrefix).images }),
    );
    return Table?.ItemCount;
  } catch (error) {
    throw new SyncError(
      'store.describeFailed',
      'could not describe the images table',
      { tablePrefix },
      error,
    );
  }
}
