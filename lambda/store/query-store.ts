/**
 * The read side behind `query image|images|cve|history|changes|runs`: every answer is a GetItem or a
 * Query on a key or an index, never a Scan. JSON shapes as SPEC §3.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../common/errors.js';
import { batchGet, mapLimit, queryAll, queryPages, type RetryPolicy, type StoredItem } from './batch.js';
import { lowLevel } from './client.js';
import {
  decodeChanges,
  decodeConsole,
  decodeFinding,
  decodeHistory,
  decodeImage,
  type FindingItem,
} from './items.js';
import {
  CHANGE_FEED_SHARDS,
  CONSOLES_PK,
  changePk,
  FINDING_PREFIX,
  HISTORY_PREFIX,
  IMAGE_SK,
  imagePk,
  keyPart,
  monthsBetween,
  rawPrefix,
} from './keys.js';
import { decompressRaw } from './raw.js';
import { toRunRecord } from './run-store.js';
import { INDEX_NAMES, type TableNames } from './tables.js';
import type {
  ChangeView,
  CveHit,
  FindingView,
  HistoryEntry,
  ImageKeyInput,
  ImageSummary,
  ImageView,
  RunRecord,
} from './types.js';

export interface QueryStoreDeps {
  client: DynamoDBDocumentClient;
  tables: TableNames;
  consoleId: string;
  now: () => Date;
  retry: RetryPolicy;
}

const SEVERITY_RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** Code-point order: deterministic whatever the locale. */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function pick<T, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const key of keys) picked[key] = value[key];
  return picked;
}

const SUMMARY_FIELDS = [
  'registry',
  'repo',
  'tag',
  'digest',
  'imageId',
  'scanTime',
  'vulnerabilityCounts',
] as const;
const FINDING_VIEW_FIELDS = [
  'id',
  'severity',
  'vendorSeverity',
  'cvss',
  'packageName',
  'packageVersion',
  'status',
  'firstSeen',
] as const;

function toSummary(item: StoredItem): ImageSummary {
  return pick(decodeImage(item), SUMMARY_FIELDS);
}

function normalizeSince(since: string): string {
  const time = Date.parse(since);
  if (Number.isNaN(time)) {
    throw new SyncError('store.invalidInput', `since is not a time: ${since}`, { since });
  }
  return new Date(time).toISOString();
}

/**
 * Reads of one console.
 *
 * @example
 * const image = await stores.queries.image({ registry: 'docker.io', repo: 'library/alpine', tag: '3.19' });
 * const affected = await stores.queries.cve('CVE-2024-3094');
 */
export class QueryStore {
  constructor(private readonly deps: QueryStoreDeps) {}

  /** The console this store reads. */
  get consoleId(): string {
    return this.deps.consoleId;
  }

  /** Current state of one image with its open findings (removed images too, flagged `removed`). */
  async image(key: ImageKeyInput): Promise<ImageView | undefined> {
    const { client, tables, consoleId } = this.deps;
    const pk = imagePk(consoleId, key);
    const { Item: item } = await client.send(
      new GetCommand({ TableName: tables.images, Key: { pk, sk: IMAGE_SK }, ConsistentRead: true }),
    );
    if (!item) return undefined;
    const image = decodeImage(item);
    const open = await queryAll(client, {
      TableName: tables.images,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'attribute_not_exists(resolvedAt)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': FINDING_PREFIX },
      ConsistentRead: true,
    });
    const findings: FindingView[] = open.map((found) => {
      const finding = decodeFinding(found);
      // Unchanged re-scans do not rewrite findings: an open finding was last seen by the image's latest scan.
      return { ...pick(finding, FINDING_VIEW_FIELDS), lastSeen: image.lastScannedAt ?? finding.updatedAt };
    });
    findings.sort(
      (a, b) =>
        (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
        (b.cvss ?? -1) - (a.cvss ?? -1) ||
        compare(a.id, b.id) ||
        compare(a.packageName, b.packageName) ||
        compare(a.packageVersion, b.packageVersion),
    );
    return {
      consoleId,
      ...pick(image, SUMMARY_FIELDS),
      lastScannedAt: image.lastScannedAt,
      removed: image.removed,
      removedAt: image.removedAt ?? null,
      contentHash: image.contentHash,
      findings,
    };
  }

  /**
   * Current (not removed) images, optionally of one registry and/or repo, in key order, page by page
   * (bounded memory for any number of images).
   */
  async *iterateImages(filter: { registry?: string; repo?: string } = {}): AsyncGenerator<ImageSummary> {
    const { client, tables, consoleId } = this.deps;
    const console = keyPart(consoleId);
    // By repo: the repo index (registry narrows its sort key); otherwise the console's current images.
    const [indexName, key, value] =
      filter.repo !== undefined
        ? [INDEX_NAMES.currentImagesByRepo, 'repo', `${console}#${keyPart(filter.repo)}`]
        : [INDEX_NAMES.currentImages, 'cur', console];
    const byRegistry = filter.registry !== undefined;
    const input: Parameters<typeof queryPages>[1] = {
      TableName: tables.images,
      IndexName: indexName,
      KeyConditionExpression: byRegistry
        ? `${key}Pk = :pk AND begins_with(${key}Sk, :prefix)`
        : `${key}Pk = :pk`,
      ExpressionAttributeValues: {
        ':pk': value,
        ...(byRegistry ? { ':prefix': `${keyPart(filter.registry ?? '')}#` } : {}),
      },
    };
    for await (const page of queryPages(client, input)) {
      for (const item of page) yield toSummary(item);
    }
  }

  /** {@link iterateImages}, collected. */
  async images(filter: { registry?: string; repo?: string } = {}): Promise<ImageSummary[]> {
    const all: ImageSummary[] = [];
    for await (const image of this.iterateImages(filter)) all.push(image);
    return all;
  }

  /** Images currently affected by one vulnerability id (open findings only, via the sparse index). */
  async cve(id: string): Promise<CveHit[]> {
    const { client, tables, consoleId } = this.deps;
    const hits = await queryAll(client, {
      TableName: tables.images,
      IndexName: INDEX_NAMES.openFindingsByVulnerability,
      KeyConditionExpression: 'vulnPk = :pk',
      ExpressionAttributeValues: { ':pk': `${keyPart(consoleId)}#${keyPart(id)}` },
    });
    if (hits.length === 0) return [];
    const findings = hits.map((hit) => decodeFinding(hit));
    // The digest lives on the image item only (a re-pushed tag changes it without touching findings).
    const pkOf = (finding: FindingItem) => imagePk(consoleId, finding);
    const pks = [...new Set(findings.map(pkOf))];
    const images = await batchGet(
      lowLevel(client),
      tables.images,
      pks.map((pk) => ({ pk: { S: pk }, sk: { S: IMAGE_SK } })),
      this.deps.retry,
    );
    const imageByPk = new Map(images.map((item) => [String(item.pk), decodeImage(item)]));
    const result: CveHit[] = [];
    for (const finding of findings) {
      const image = imageByPk.get(pkOf(finding));
      if (!image || image.removed) continue;
      result.push({
        registry: finding.registry,
        repo: finding.repo,
        tag: finding.tag,
        digest: image.digest,
        packageName: finding.packageName,
        packageVersion: finding.packageVersion,
        severity: finding.severity,
      });
    }
    return result;
  }

  /** One image's scans over time (one entry per content change), oldest first. */
  async history(key: ImageKeyInput): Promise<HistoryEntry[]> {
    const items = await queryAll(this.deps.client, {
      TableName: this.deps.tables.images,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': imagePk(this.deps.consoleId, key), ':prefix': HISTORY_PREFIX },
      ScanIndexForward: true,
    });
    // The model's one decoder, less what only locates the item.
    return items.map((item) => {
      const { pk, sk, type, consoleId, registry, repo, tag, imageKey, raw, ...entry } = decodeHistory(item);
      return { ...entry, raw: raw ? { contentHash: raw.contentHash, sha256: raw.sha256 } : null };
    });
  }

  /**
   * Findings that appeared or were resolved since `since` (detection time), oldest first: one Query
   * per month bucket and shard from `since` to now.
   */
  async changes(since: string): Promise<ChangeView[]> {
    const { client, tables, consoleId } = this.deps;
    const from = normalizeSince(since);
    // The console's first change bounds the month buckets: a since of 2015-01-01 costs no empty Queries.
    const { Item: registry } = await client.send(
      new GetCommand({
        TableName: tables.runs,
        Key: { pk: CONSOLES_PK, sk: consoleId },
        ConsistentRead: true,
      }),
    );
    const firstChangeAt = registry ? decodeConsole(registry).firstChangeAt : undefined;
    if (firstChangeAt === undefined) return [];
    const start = [firstChangeAt, from].sort()[1] ?? from;
    const now = this.deps.now().toISOString();
    const buckets = monthsBetween(start, now).flatMap((month) =>
      Array.from({ length: CHANGE_FEED_SHARDS }, (_, shard) => changePk(consoleId, month, shard)),
    );
    const pages = await mapLimit(buckets, 8, (pk) =>
      queryAll(client, {
        TableName: tables.images,
        KeyConditionExpression: 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: { ':pk': pk, ':since': from },
      }),
    );
    const changes: ChangeView[] = pages.flat().flatMap((item) =>
      decodeChanges(item).map((c) => ({
        change: c.change,
        id: c.id,
        registry: c.registry,
        repo: c.repo,
        tag: c.tag,
        at: c.at,
        packageName: c.packageName,
        packageVersion: c.packageVersion,
        severity: c.severity,
        observedAt: c.observedAt,
        ...(c.reason !== undefined ? { reason: c.reason } : {}),
      })),
    );
    return changes.sort(
      (a, b) =>
        compare(a.at, b.at) ||
        compare(`${a.registry}/${a.repo}:${a.tag}`, `${b.registry}/${b.repo}:${b.tag}`) ||
        compare(a.id, b.id) ||
        compare(a.change, b.change),
    );
  }

  /** Recent sync runs of this console, most recent first. */
  async runs(limit = 20): Promise<RunRecord[]> {
    const records: RunRecord[] = [];
    for await (const page of queryPages(this.deps.client, {
      TableName: this.deps.tables.runs,
      IndexName: INDEX_NAMES.runsByStart,
      KeyConditionExpression: 'runsPk = :pk',
      ExpressionAttributeValues: { ':pk': keyPart(this.deps.consoleId) },
      ScanIndexForward: false,
      Limit: Math.min(limit, 100),
    })) {
      for (const item of page) {
        if (records.length < limit) records.push(toRunRecord(item));
      }
      if (records.length >= limit) break;
    }
    return records;
  }

  /** Console ids stored in these tables (from the console registry, not a Scan). */
  async consoles(): Promise<string[]> {
    const items = await queryAll(this.deps.client, {
      TableName: this.deps.tables.runs,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': CONSOLES_PK },
      ConsistentRead: true,
    });
    return items.map((item) => decodeConsole(item).consoleId).sort();
  }

  /**
   * The raw report exactly as the console served it (the version stored for `contentHash`, by default
   * the image's current one), or undefined when none is stored.
   */
  async rawReport(
    key: ImageKeyInput,
    version?: { contentHash: string; sha256: string },
  ): Promise<string | undefined> {
    const { client, tables, consoleId } = this.deps;
    const pk = imagePk(consoleId, key);
    let pointer = version;
    if (!pointer) {
      const { Item: image } = await client.send(
        new GetCommand({ TableName: tables.images, Key: { pk, sk: IMAGE_SK }, ConsistentRead: true }),
      );
      const raw = image?.raw as { contentHash?: string; sha256?: string } | undefined;
      if (!raw?.contentHash || !raw.sha256) return undefined;
      pointer = { contentHash: raw.contentHash, sha256: raw.sha256 };
    }
    const chunks = await queryAll(client, {
      TableName: tables.rawReports,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': rawPrefix(pointer.contentHash, pointer.sha256) },
      ConsistentRead: true,
    });
    if (chunks.length === 0) return undefined;
    return decompressRaw(
      chunks.map((chunk) => ({
        index: Number(chunk.chunkIndex),
        count: Number(chunk.chunkCount),
        data: chunk.data as Uint8Array,
      })),
      pointer.sha256,
    );
  }
}
