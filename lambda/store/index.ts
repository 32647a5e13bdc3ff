/**
 * The DynamoDB store: what the engine, the CLI and the Lambda handler import.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { BatchWriter, DEFAULT_RETRY, Limiter, type RetryPolicy } from './batch.js';
import { lowLevel } from './client.js';
import { ImageStore } from './image-store.js';
import { DEFAULT_SCAN_TIME_SKEW_MS } from './planner.js';
import { QueryStore } from './query-store.js';
import { RunStore } from './run-store.js';
import { tableNames } from './tables.js';

export { createStoreClient } from './client.js';
export { imageKeyString, imagePk } from './identity.js';
export { ImageStore } from './image-store.js';
export { QueryStore } from './query-store.js';
export { RunStore } from './run-store.js';
export { createTables, TABLE_DEFINITIONS, type TableNames, tableNames } from './tables.js';
export type * from './types.js';

export interface Stores {
  images: ImageStore;
  runs: RunStore;
  queries: QueryStore;
}

export interface StoresOptions {
  client: DynamoDBDocumentClient;
  tablePrefix: string;
  consoleId: string;
  now?: () => Date;
  logger?: Logger;
  /** Retry of BatchWriteItem/BatchGetItem for UnprocessedItems and throttling (tests inject a fast one). */
  retry?: Partial<RetryPolicy>;
  /** BatchWriteItem calls in flight at once across the store (default 8). */
  maxConcurrentBatches?: number;
  /** Images of one page read at once (default 4). */
  imageConcurrency?: number;
  /** A report's scan time later than now by more than this is not trusted for ordering (default 10 min). */
  scanTimeSkewMs?: number;
}

/**
 * The stores of one console over one set of tables.
 *
 * @example
 * const stores = createStores({ client: DynamoDBDocumentClient.from(new DynamoDBClient({})), tablePrefix: 'prisma-registry', consoleId: 'acme-eu' });
 * await stores.runs.acquireLease({ owner: 'me', ttlMs: 120_000 });
 */
export function createStores(options: StoresOptions): Stores {
  if (!options.consoleId) throw new SyncError('store.invalidInput', 'consoleId must not be empty');
  if (!options.tablePrefix) throw new SyncError('store.invalidInput', 'tablePrefix must not be empty');
  const tables = tableNames(options.tablePrefix);
  const now = options.now ?? (() => new Date());
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const limiter = new Limiter(options.maxConcurrentBatches ?? 8);
  const common = { client: options.client, tables, consoleId: options.consoleId, now };
  return {
    images: new ImageStore({
      ...common,
      logger: options.logger,
      writer: new BatchWriter(lowLevel(options.client), limiter, retry),
      limiter,
      retry,
      imageConcurrency: options.imageConcurrency ?? 4,
      scanTimeSkewMs: options.scanTimeSkewMs ?? DEFAULT_SCAN_TIME_SKEW_MS,
    }),
    runs: new RunStore({ ...common, logger: options.logger }),
    queries: new QueryStore({ ...common, retry }),
  };
}
