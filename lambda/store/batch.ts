/**
 * The thin I/O layer: batched writes and reads with retries, and paginated queries. Everything
 * above it builds plain request objects; only this module talks to DynamoDB in bulk.
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
import { SyncError } from '../common/errors.js';
import type { LowLevelClient } from './client.js';
import { type AttributeMap, fromAttributeMap } from './model/attribute-value.js';

/** One item of a BatchWriteItem call (already marshalled), with the table it goes to. */
export type WriteRequest = { table: string; put: AttributeMap } | { table: string; delete: AttributeMap };

/** An item as read back (unmarshalled): what the model's decoders take. */
export type StoredItem = Record<string, unknown>;

/** Retry behaviour of batched calls; injectable so tests run fast and deterministically. */
export interface RetryPolicy {
  /** Attempts per batch including the first (UnprocessedItems or throttling count alike). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 50,
  maxDelayMs: 5_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/**
 * Delay before retry `attempt` (1 = first retry): capped exponential with full jitter.
 *
 * @example
 * retryDelayMs(3, DEFAULT_RETRY, () => 0.5) // 100: half of min(5000, 50 * 2^2)
 */
export function retryDelayMs(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(ceiling * random());
}

/** Error names DynamoDB uses for "slow down": retried like UnprocessedItems. */
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

/** True for an error the batch layer retries itself (an allow-list, not "anything"). */
export function isThrottling(error: unknown): boolean {
  return error instanceof Error && THROTTLING_ERRORS.has(error.name);
}

/**
 * A 500 from DynamoDB after the SDK's own retries. Retried for transactions only (they carry an
 * idempotency token): DynamoDB Local answers transactions that wait for its table lock this way.
 */
function isServerError(error: unknown): boolean {
  return error instanceof Error && error.name === 'InternalServerError';
}

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
    for (let attempt = 1; ; attempt += 1) {
      try {
        const response = await this.client.send(new BatchWriteItemCommand({ RequestItems: pending }));
        const unprocessed = response.UnprocessedItems as RequestItems | undefined;
        if (countRequests(unprocessed) === 0) return total;
        pending = unprocessed as RequestItems;
      } catch (error) {
        if (!isThrottling(error)) {
          throw new SyncError(
            'store.writeFailed',
            `BatchWriteItem failed: ${errorText(error)}`,
            { tables: Object.keys(pending) },
            error,
          );
        }
      }
      if (attempt >= this.retry.maxAttempts) {
        throw new SyncError(
          'store.unprocessed',
          `${countRequests(pending)} of ${total} items still unprocessed after ${attempt} BatchWriteItem attempts`,
          { unprocessed: countRequests(pending), total, attempts: attempt },
        );
      }
      await this.retry.sleep(retryDelayMs(attempt, this.retry, this.retry.random));
    }
  }

  /**
   * One TransactWriteItems call (≤ 100 operations), retried on throttling and transaction
   * conflicts. A cancellation for a condition or a validation error of an item is the caller's to
   * read (`TransactionCanceledException` with its `CancellationReasons`, rethrown as is); other
   * errors become `store.writeFailed`.
   */
  async transact(items: readonly TransactWriteItem[]): Promise<number> {
    if (items.length === 0) return 0;
    // One token for every attempt: a retry of a transaction that did apply is a no-op, not a second write.
    const token = randomUUID();
    return await this.limiter.run(async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await this.client.send(
            new TransactWriteItemsCommand({ TransactItems: [...items], ClientRequestToken: token }),
          );
          return items.length;
        } catch (error) {
          if (isCancellation(error) && !retryableCancellation(error)) throw error;
          if (!isCancellation(error) && !isThrottling(error) && !isServerError(error)) {
            if (error instanceof Error && error.name === 'ValidationException') throw error;
            throw new SyncError(
              'store.writeFailed',
              `TransactWriteItems failed: ${errorText(error)}`,
              { operations: items.length },
              error,
            );
          }
        }
        if (attempt >= this.retry.maxAttempts) {
          throw new SyncError(
            'store.unprocessed',
            `a transaction of ${items.length} writes still throttled or in conflict after ${attempt} attempts`,
            { total: items.length, attempts: attempt },
          );
        }
        await this.retry.sleep(retryDelayMs(attempt, this.retry, this.retry.random));
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
  const found: StoredItem[] = [];
  for (const batch of chunk(keys, 100)) {
    let pending: Record<string, KeysAndAttributes> = { [table]: { Keys: batch, ConsistentRead: true } };
    for (let attempt = 1; ; attempt += 1) {
      let unprocessedCount = 0;
      try {
        const response: BatchGetItemCommandOutput = await client.send(
          new BatchGetItemCommand({ RequestItems: pending }),
        );
        for (const item of response.Responses?.[table] ?? []) found.push(fromAttributeMap(item));
        const unprocessed = response.UnprocessedKeys?.[table];
        unprocessedCount = unprocessed?.Keys?.length ?? 0;
        if (unprocessedCount === 0) break;
        pending = { [table]: { Keys: unprocessed?.Keys ?? [], ConsistentRead: true } };
      } catch (error) {
        if (!isThrottling(error)) {
          throw new SyncError('store.readFailed', `BatchGetItem on ${table} failed`, { table }, error);
        }
        unprocessedCount = batch.length;
      }
      if (attempt >= retry.maxAttempts) {
        throw new SyncError(
          'store.unprocessed',
          `${unprocessedCount} keys still unprocessed after ${attempt} BatchGetItem attempts`,
          { table, unprocessed: unprocessedCount },
        );
      }
      await retry.sleep(retryDelayMs(attempt, retry, retry.random));
    }
  }
  return found;
}

/** Every page of a Query through the low-level client (unmarshalled): the write path's reads. */
export async function* queryItemPages(
  client: LowLevelClient,
  input: LowQueryInput,
): AsyncGenerator<StoredItem[]> {
  let startKey: AttributeMap | undefined;
  do {
    let page: StoredItem[];
    try {
      const response = await client.send(
        new LowQueryCommand({ ...input, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
      );
      page = (response.Items ?? []).map(fromAttributeMap);
      startKey = response.LastEvaluatedKey;
    } catch (error) {
      throw new SyncError(
        'store.queryFailed',
        `Query on ${input.TableName}${input.IndexName ? `/${input.IndexName}` : ''} failed`,
        { table: input.TableName, index: input.IndexName },
        error,
      );
    }
    yield page;
  } while (startKey);
}

/** Every item of a low-level Query, all pages. */
export async function queryItems(client: LowLevelClient, input: LowQueryInput): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  for await (const page of queryItemPages(client, input)) items.push(...page);
  return items;
}

/** Every page of a Query, as one stream of items (bounded memory for large partitions). */
export async function* queryPages(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): AsyncGenerator<StoredItem[]> {
  let startKey: StoredItem | undefined;
  do {
    let response: QueryCommandOutput;
    try {
      response = await client.send(
        new QueryCommand({ ...input, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
      );
    } catch (error) {
      throw new SyncError(
        'store.queryFailed',
        `Query on ${input.TableName}${input.IndexName ? `/${input.IndexName}` : ''} failed`,
        { table: input.TableName, index: input.IndexName },
        error,
      );
    }
    yield (response.Items as StoredItem[] | undefined) ?? [];
    startKey = response.LastEvaluatedKey;
  } while (startKey);
}

/** Every item a Query returns, all pages. */
export async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  for await (const page of queryPages(client, input)) items.push(...page);
  return items;
}
