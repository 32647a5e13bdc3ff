/**
 * The thin I/O layer: batched writes and reads with retries, and paginated queries. Everything
 * above it builds plain request objects; only this module talks to DynamoDB in bulk.
 *
 * One retry layer per failure: an error (throttling, a 500, a dropped connection) is retried by
 * the SDK's standard retry strategy alone (`maxAttempts` of the client, createStoreClient), never
 * again here. What the SDK reports as success but left undone is retried here alone:
 * UnprocessedItems, UnprocessedKeys, a transaction cancelled only by conflicts or throttling. A
 * batch's budget (`RetryPolicy.maxAttempts`) counts every request sent for it, the SDK's retries
 * included, so no batch is sent more than `maxAttempts` + the SDK's `maxAttempts` - 1 times.
 */

import { randomUUID } from 'node:crypto';
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type KeysAndAttributes,
  QueryCommand as LowQueryCommand,
  type QueryCommandInput as LowQueryInput,
  type WriteRequest as LowWriteRequest,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { type Backoff, backoffDelay } from '../common/backoff.js';
import { SyncError } from '../common/errors.js';
import type { LowLevelClient } from './client.js';
import { type AttributeMap, fromAttributeMap } from './model/attribute-value.js';

/** One item of a BatchWriteItem call (already marshalled), with the table it goes to. */
export type WriteRequest = { table: string; put: AttributeMap } | { table: string; delete: AttributeMap };

/** An item as read back (unmarshalled): what the model's decoders take. */
export type StoredItem = Record<string, unknown>;

/** Retry behaviour of batched calls; injectable so tests run fast and deterministically. */
export interface RetryPolicy {
  /** Requests per batch including the first and the SDK's own retries of them. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** The wait before the batch layer's `retry`-th retry (lambda/common/backoff.ts). */
function retryDelay(retry: number, policy: RetryPolicy): number {
  const backoff: Backoff = { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs };
  return backoffDelay(retry, backoff, policy.random);
}

/** Requests the SDK sent for one call (its own retries included), from the output's or error's metadata. */
function sent(result: unknown): number {
  return (result as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 50,
  maxDelayMs: 5_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** A counting semaphore: at most `limit` tasks run at once. */
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active += 1;
    try {
      return await task();
    } finally {
      this.#active -= 1;
      this.#waiting.shift()?.();
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order; the first failure rejects. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    // After a failure no worker starts another item: the caller gets the error, not more side effects.
    while (next < items.length && !failed) {
      const index = next;
      next += 1;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  await Promise.all(workers);
  return results;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

type RequestItems = Record<string, LowWriteRequest[]>;

function toRequestItems(requests: readonly WriteRequest[]): RequestItems {
  const byTable: RequestItems = {};
  for (const request of requests) {
    const list = byTable[request.table] ?? [];
    list.push(
      'put' in request ? { PutRequest: { Item: request.put } } : { DeleteRequest: { Key: request.delete } },
    );
    byTable[request.table] = list;
  }
  return byTable;
}

function countRequests(items: RequestItems | undefined): number {
  let count = 0;
  for (const table in items) count += items[table]?.length ?? 0;
  return count;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Sends batched writes of marshalled items: 25 per call, several calls in flight (bounded),
 * unprocessed items retried with backoff.
 */
export class BatchWriter {
  constructor(
    private readonly client: LowLevelClient,
    private readonly limiter: Limiter,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  /**
   * Writes every request; resolves with the number of items written. Throws `store.unprocessed`
   * when DynamoDB keeps refusing items after the retry budget, `store.writeFailed` on other errors
   * (the SDK's error, e.g. a ValidationException, is its `cause`).
   */
  async write(requests: readonly WriteRequest[]): Promise<number> {
    if (requests.length === 0) return 0;
    const written = await Promise.all(
      chunk(requests, 25).map((batch) => this.limiter.run(() => this.#writeBatch(toRequestItems(batch)))),
    );
    return written.reduce((a, b) => a + b, 0);
  }

  async #writeBatch(initial: RequestItems): Promise<number> {
    const total = countRequests(initial);
    let pending: RequestItems = initial;
    let attempts = 0;
    for (let retry = 1; ; retry += 1) {
      let response: { UnprocessedItems?: unknown };
      try {
        response = await this.client.send(new BatchWriteItemCommand({ RequestItems: pending }));
      } catch (error) {
        const message = `BatchWriteItem failed: ${errorText(error)}`;
        throw new SyncError('store.writeFailed', message, { tables: Object.keys(pending) }, error);
      }
      attempts += sent(response);
      const unprocessed = response.UnprocessedItems as RequestItems | undefined;
      if (countRequests(unprocessed) === 0) return total;
      pending = unprocessed as RequestItems;
      if (attempts >= this.retry.maxAttempts) {
        throw new SyncError(
          'store.unprocessed',
          `${countRequests(pending)} of ${total} items still unprocessed after ${attempts} BatchWriteItem requests`,
          { unprocessed: countRequests(pending), total, attempts },
        );
      }
      await this.retry.sleep(retryDelay(retry, this.retry));
    }
  }

  /**
   * One TransactWriteItems call (≤ 100 operations). Throttling and 500s (DynamoDB Local answers
   * transactions waiting for its table lock with one) are the SDK's to retry; a cancellation only
   * by conflicts or throttling is retried here. A cancellation for a condition or a validation
   * error of an item is the caller's to read (`TransactionCanceledException` with its
   * `CancellationReasons`, rethrown as is); other errors become `store.writeFailed`.
   */
  async transact(items: readonly TransactWriteItem[]): Promise<number> {
    if (items.length === 0) return 0;
    // One token for every attempt, the SDK's included: resending a transaction that did apply is a no-op.
    const token = randomUUID();
    return await this.limiter.run(async () => {
      let attempts = 0;
      for (let retry = 1; ; retry += 1) {
        try {
          await this.client.send(
            new TransactWriteItemsCommand({ TransactItems: [...items], ClientRequestToken: token }),
          );
          return items.length;
        } catch (error) {
          if (!isCancellation(error)) {
            if (error instanceof Error && error.name === 'ValidationException') throw error;
            const message = `TransactWriteItems failed: ${errorText(error)}`;
            throw new SyncError('store.writeFailed', message, { operations: items.length }, error);
          }
          if (!retryableCancellation(error)) throw error;
          attempts += sent(error);
        }
        if (attempts >= this.retry.maxAttempts) {
          throw new SyncError(
            'store.unprocessed',
            `a transaction of ${items.length} writes still in conflict after ${attempts} requests`,
            { total: items.length, attempts },
          );
        }
        await this.retry.sleep(retryDelay(retry, this.retry));
      }
    });
  }
}

/** One reason per operation of a cancelled transaction (`None` for the ones that were fine). */
export interface CancellationReason {
  Code?: string;
  Message?: string;
}

export function isCancellation(
  error: unknown,
): error is Error & { CancellationReasons?: CancellationReason[] } {
  return error instanceof Error && error.name === 'TransactionCanceledException';
}

/** A cancellation only by throttling or a conflicting transaction: the whole transaction may be retried. */
function retryableCancellation(error: Error & { CancellationReasons?: CancellationReason[] }): boolean {
  const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
  return (
    codes.some((code) => code !== 'None') &&
    codes.every(
      (code) =>
        code === 'None' ||
        code === 'TransactionConflict' ||
        code === 'ThrottlingError' ||
        code === 'ProvisionedThroughputExceeded',
    )
  );
}

/**
 * Reads items by key (BatchGetItem, 100 per call, ConsistentRead), retrying unprocessed keys.
 * Returns the items found (unmarshalled), in no particular order.
 */
export async function batchGet(
  client: LowLevelClient,
  table: string,
  keys: readonly AttributeMap[],
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<StoredItem[]> {
  const found = await batchGetTables(
    client,
    keys.map((key) => ({ table, key })),
    retry,
  );
  return found.map(({ item }) => item);
}

/** {@link batchGet} across tables: one request reads keys of several tables. Items come with their table. */
export async function batchGetTables(
  client: LowLevelClient,
  keys: ReadonlyArray<{ table: string; key: AttributeMap }>,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<Array<{ table: string; item: StoredItem }>> {
  const found: Array<{ table: string; item: StoredItem }> = [];
  for (const batch of chunk(keys, 100)) {
    let pending: Record<string, KeysAndAttributes> = {};
    for (const { table, key } of batch) {
      const request = pending[table] ?? { Keys: [], ConsistentRead: true };
      request.Keys?.push(key);
      pending[table] = request;
    }
    const tables = Object.keys(pending);
    let attempts = 0;
    for (let retryNumber = 1; ; retryNumber += 1) {
      let response: BatchGetItemCommandOutput;
      try {
        response = await client.send(new BatchGetItemCommand({ RequestItems: pending }));
      } catch (error) {
        throw new SyncError(
          'store.readFailed',
          `BatchGetItem on ${tables.join(', ')} failed`,
          { tables },
          error,
        );
      }
      attempts += sent(response);
      for (const [table, items] of Object.entries(response.Responses ?? {})) {
        for (const item of items) found.push({ table, item: fromAttributeMap(item) });
      }
      pending = (response.UnprocessedKeys ?? {}) as Record<string, KeysAndAttributes>;
      const unprocessed = Object.values(pending).reduce((n, request) => n + (request.Keys?.length ?? 0), 0);
      if (unprocessed === 0) break;
      if (attempts >= retry.maxAttempts) {
        throw new SyncError(
          'store.unprocessed',
          `${unprocessed} keys still unprocessed after ${attempts} BatchGetItem requests`,
          { tables, unprocessed },
        );
      }
      await retry.sleep(retryDelay(retryNumber, retry));
    }
  }
  return found;
}

/** The pages of a Query, one request each; `fetch` sends the request that starts at `startKey`. */
async function* paginate<Key>(
  input: { TableName?: string; IndexName?: string },
  fetch: (startKey: Key | undefined) => Promise<{ items: StoredItem[]; next: Key | undefined }>,
): AsyncGenerator<StoredItem[]> {
  let startKey: Key | undefined;
  do {
    let page: { items: StoredItem[]; next: Key | undefined };
    try {
      page = await fetch(startKey);
    } catch (error) {
      const { TableName: table, IndexName: index } = input;
      const message = `Query on ${table}${index ? `/${index}` : ''} failed`;
      throw new SyncError('store.queryFailed', message, { table, index }, error);
    }
    startKey = page.next;
    yield page.items;
  } while (startKey);
}

async function collect(pages: AsyncGenerator<StoredItem[]>): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  for await (const page of pages) items.push(...page);
  return items;
}

/** Every page of a Query through the low-level client (unmarshalled): the write path's reads. */
export function queryItemPages(client: LowLevelClient, input: LowQueryInput): AsyncGenerator<StoredItem[]> {
  return paginate<AttributeMap>(input, async (startKey) => {
    const response = await client.send(
      new LowQueryCommand({ ...input, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
    );
    return { items: (response.Items ?? []).map(fromAttributeMap), next: response.LastEvaluatedKey };
  });
}

/** Every item of a low-level Query, all pages. */
export function queryItems(client: LowLevelClient, input: LowQueryInput): Promise<StoredItem[]> {
  return collect(queryItemPages(client, input));
}

/** Every page of a Query, as one stream of items (bounded memory for large partitions). */
export function queryPages(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): AsyncGenerator<StoredItem[]> {
  return paginate<StoredItem>(input, async (startKey) => {
    const response: QueryCommandOutput = await client.send(
      new QueryCommand({ ...input, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
    );
    return { items: (response.Items as StoredItem[] | undefined) ?? [], next: response.LastEvaluatedKey };
  });
}

/** Every item a Query returns, all pages. */
export function queryAll(client: DynamoDBDocumentClient, input: QueryCommandInput): Promise<StoredItem[]> {
  return collect(queryPages(client, input));
}
