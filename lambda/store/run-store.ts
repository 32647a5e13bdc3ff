/**
 * Run records, the lease (one run at a time per console) and the checkpoint, all in the `runs`
 * table under the console's partition. Every read is consistent; lease and checkpoint change only
 * through conditional writes.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { consoleRegistration, ITEM_BUDGET_BYTES, itemSize } from './items.js';
import { CHECKPOINT_SK, consolePk, keyPart, LEASE_SK, runSeenPk, runSk, seenSk } from './keys.js';
import type { TableNames } from './tables.js';
import type { Checkpoint, LeaseResult, RunRecord } from './types.js';

/** Seen-key pages outlive any run (a run older than a day is abandoned) and then expire. */
export const SEEN_KEYS_TTL_SECONDS = 30 * 24 * 3600;
/** A lease item lingers a day past its expiry before TTL may delete it (expiry is always re-checked in code). */
const LEASE_TTL_GRACE_SECONDS = 24 * 3600;
/** Seen keys per item: far below 400 KB even for long keys. */
const SEEN_KEYS_PER_ITEM_BYTES = 300_000;

/** Attributes of a run record `updateRun` must never overwrite (its identity and keys). */
const PROTECTED_RUN_ATTRIBUTES = new Set(['pk', 'sk', 'runsPk', 'runsSk', 'runId', 'consoleId', 'startedAt']);

export interface RunStoreDeps {
  client: DynamoDBDocumentClient;
  tables: TableNames;
  consoleId: string;
  now: () => Date;
  logger: Logger | undefined;
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/** Splits seen keys into groups that each fit one item. */
export function seenKeyParts(keys: readonly string[], budget = SEEN_KEYS_PER_ITEM_BYTES): string[][] {
  const parts: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const key of keys) {
    const bytes = Buffer.byteLength(key, 'utf8') + 3;
    if (current.length > 0 && size + bytes > budget) {
      parts.push(current);
      current = [];
      size = 0;
    }
    current.push(key);
    size += bytes;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/**
 * Run bookkeeping of one console.
 *
 * @example
 * const lease = await stores.runs.acquireLease({ owner: 'lambda-abc', ttlMs: 120_000 });
 * if (!lease.acquired) throw new Error(`held by ${lease.holder}`);
 */
export class RunStore {
  constructor(private readonly deps: RunStoreDeps) {}

  get #pk(): string {
    return consolePk(this.deps.consoleId);
  }

  /**
   * Takes the console's lease for `ttlMs`: succeeds when nobody holds it, the holder's lease expired,
   * or `owner` already holds it. A lost race costs no extra read (ReturnValuesOnConditionCheckFailure).
   */
  async acquireLease(input: { owner: string; ttlMs: number }): Promise<LeaseResult> {
    const now = this.deps.now().getTime();
    const expiresAtMs = now + input.ttlMs;
    const expiresAt = new Date(expiresAtMs).toISOString();
    try {
      await this.deps.client.send(
        new PutCommand({
          TableName: this.deps.tables.runs,
          Item: {
            pk: this.#pk,
            sk: LEASE_SK,
            owner: input.owner,
            expiresAtMs,
            expiresAt,
            acquiredAt: new Date(now).toISOString(),
            ttl: Math.ceil(expiresAtMs / 1000) + LEASE_TTL_GRACE_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAtMs < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': input.owner },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { acquired: true, expiresAt };
    } catch (error) {
      if (!isConditionFailure(error)) {
        throw new SyncError(
          'store.leaseFailed',
          'could not write the lease',
          { consoleId: this.deps.consoleId },
          error,
        );
      }
      const held = (error as ConditionalCheckFailedException).Item as Record<string, unknown> | undefined;
      const holder =
        typeof held?.owner === 'object' ? String((held.owner as { S?: string }).S ?? 'unknown') : 'unknown';
      const heldExpiry =
        typeof held?.expiresAt === 'object' ? String((held.expiresAt as { S?: string }).S ?? '') : '';
      return { acquired: false, holder, expiresAt: heldExpiry };
    }
  }

  /** Extends `owner`'s lease; throws `store.leaseLost` when someone else holds it (or nobody does). */
  async renewLease(owner: string, ttlMs: number): Promise<void> {
    const now = this.deps.now().getTime();
    const expiresAtMs = now + ttlMs;
    try {
      await this.deps.client.send(
        new UpdateCommand({
          TableName: this.deps.tables.runs,
          Key: { pk: this.#pk, sk: LEASE_SK },
          UpdateExpression:
            'SET expiresAtMs = :expiresAtMs, expiresAt = :expiresAt, #ttl = :ttl, renewedAt = :now',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':expiresAtMs': expiresAtMs,
            ':expiresAt': new Date(expiresAtMs).toISOString(),
            ':ttl': Math.ceil(expiresAtMs / 1000) + LEASE_TTL_GRACE_SECONDS,
            ':now': new Date(now).toISOString(),
            ':owner': owner,
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new SyncError(
          'store.leaseLost',
          `lease of console ${this.deps.consoleId} is no longer held by ${owner}`,
          {
            consoleId: this.deps.consoleId,
            owner,
          },
        );
      }
      throw new SyncError(
        'store.leaseFailed',
        'could not renew the lease',
        { consoleId: this.deps.consoleId },
        error,
      );
    }
  }

  /** Gives the lease up if `owner` holds it; a lease someone else holds is left alone. */
  async releaseLease(owner: string): Promise<void> {
    try {
      await this.deps.client.send(
        new DeleteCommand({
          TableName: this.deps.tables.runs,
          Key: { pk: this.#pk, sk: LEASE_SK },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        this.deps.logger?.warn('lease not released: not held by this owner', { owner });
        return;
      }
      throw new SyncError(
        'store.leaseFailed',
        'could not release the lease',
        { consoleId: this.deps.consoleId },
        error,
      );
    }
  }

  /** The current lease holder, with expiry re-checked in code (TTL deletes late). */
  async currentLease(): Promise<{ owner: string; expiresAt: string } | undefined> {
    const { Item } = await this.deps.client.send(
      new GetCommand({
        TableName: this.deps.tables.runs,
        Key: { pk: this.#pk, sk: LEASE_SK },
        ConsistentRead: true,
      }),
    );
    if (!Item || typeof Item.expiresAtMs !== 'number' || Item.expiresAtMs < this.deps.now().getTime())
      return undefined;
    return { owner: String(Item.owner), expiresAt: String(Item.expiresAt) };
  }

  /** Creates the run record (status `running`); a run id used before is `store.runExists`. Registers the console. */
  async createRun(run: {
    runId: string;
    startedAt: string;
    trigger: string;
    options: object;
  }): Promise<void> {
    const record: RunRecord = {
      consoleId: this.deps.consoleId,
      runId: run.runId,
      startedAt: run.startedAt,
      trigger: run.trigger,
      options: run.options,
      status: 'running',
      pagingComplete: false,
      updatedAt: this.deps.now().toISOString(),
    };
    try {
      await this.deps.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.deps.tables.runs,
                Item: {
                  pk: this.#pk,
                  sk: runSk(run.runId),
                  runsPk: keyPart(this.deps.consoleId),
                  runsSk: `${run.startedAt}#${run.runId}`,
                  ...record,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.deps.tables.runs,
                ...consoleRegistration(this.deps.consoleId, record.startedAt),
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        throw new SyncError('store.runExists', `run ${run.runId} already exists`, { runId: run.runId });
      }
      throw new SyncError(
        'store.runFailed',
        `could not create run ${run.runId}`,
        { runId: run.runId },
        error,
      );
    }
  }

  /** Sets the given attributes of a run (undefined values are skipped); `store.runNotFound` for an unknown run. */
  async updateRun(runId: string, patch: Partial<RunRecord>): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    Object.entries({ updatedAt: this.deps.now().toISOString(), ...patch }).forEach(([name, value], i) => {
      if (value === undefined || PROTECTED_RUN_ATTRIBUTES.has(name)) return;
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      sets.push(`#a${i} = :v${i}`);
    });
    try {
      await this.deps.client.send(
        new UpdateCommand({
          TableName: this.deps.tables.runs,
          Key: { pk: this.#pk, sk: runSk(runId) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new SyncError('store.runNotFound', `no run ${runId} to update`, { runId });
      throw new SyncError('store.runFailed', `could not update run ${runId}`, { runId }, error);
    }
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const { Item } = await this.deps.client.send(
      new GetCommand({
        TableName: this.deps.tables.runs,
        Key: { pk: this.#pk, sk: runSk(runId) },
        ConsistentRead: true,
      }),
    );
    return Item ? toRunRecord(Item) : undefined;
  }

  /**
   * Records the image keys the run saw on one page AND saves the checkpoint, in one transaction:
   * a crash leaves both or neither. Committing the same page again rewrites the same items
   * (idempotent). A checkpoint of another run, or of a later page, is never overwritten
   * (`store.checkpointConflict`). Returns the number of items written.
   */
  async commitPage(input: PageCommit): Promise<number> {
    if (input.checkpoint.runId !== input.runId) {
      throw new SyncError(
        'store.invalidInput',
        `checkpoint of run ${input.checkpoint.runId} committed for run ${input.runId}`,
        {
          runId: input.runId,
        },
      );
    }
    const transactItems = [...this.seenKeyPuts(input), this.checkpointPut(input)];
    if (transactItems.length > 100) {
      throw new SyncError(
        'store.invalidInput',
        `page ${input.pageIndex} has too many seen keys for one transaction`,
        {
          pageIndex: input.pageIndex,
          keys: input.seenKeys.length,
        },
      );
    }
    try {
      await this.deps.client.send(new TransactWriteCommand({ TransactItems: transactItems }));
    } catch (error) {
      throw commitFailure(error, input);
    }
    return transactItems.length;
  }

  /** The items recording the page's seen keys (several when they exceed one item), expiring after a while. */
  private seenKeyPuts(input: PageCommit) {
    const ttl = Math.ceil(this.deps.now().getTime() / 1000) + SEEN_KEYS_TTL_SECONDS;
    return seenKeyParts(input.seenKeys).map((keys, part) => ({
      Put: {
        TableName: this.deps.tables.runs,
        Item: {
          pk: runSeenPk(this.deps.consoleId, input.runId),
          sk: seenSk(input.pageIndex, part),
          runId: input.runId,
          pageIndex: input.pageIndex,
          keys,
          ttl,
        },
      },
    }));
  }

  /**
   * The checkpoint's put, on condition that it replaces none of another run or of a later page.
   *
   * @throws SyncError `store.checkpointTooLarge` when it would not fit one item.
   */
  private checkpointPut(input: PageCommit) {
    const { checkpoint } = input;
    const put = {
      Put: {
        TableName: this.deps.tables.runs,
        Item: {
          pk: this.#pk,
          sk: CHECKPOINT_SK,
          consoleId: this.deps.consoleId,
          runId: checkpoint.runId,
          pageIndex: checkpoint.pageIndex,
          // JSON text: the pager's state stays opaque and exact (no marshalling surprises).
          pagerStateJson: checkpoint.pagerState === undefined ? null : JSON.stringify(checkpoint.pagerState),
          figures: checkpoint.figures,
          startedAt: checkpoint.startedAt,
          updatedAt: checkpoint.updatedAt,
          ...(checkpoint.options ? { options: checkpoint.options } : {}),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR (runId = :runId AND pageIndex <= :pageIndex)',
        ExpressionAttributeValues: { ':runId': input.runId, ':pageIndex': checkpoint.pageIndex },
      },
    };
    if (itemSize(put.Put.Item) > ITEM_BUDGET_BYTES) {
      throw new SyncError(
        'store.checkpointTooLarge',
        `checkpoint of page ${input.pageIndex} exceeds one item`,
        {
          runId: input.runId,
          pageIndex: input.pageIndex,
        },
      );
    }
    return put;
  }

  /** The console's unfinished run's checkpoint, if any. */
  async loadCheckpoint(): Promise<Checkpoint | undefined> {
    const { Item } = await this.deps.client.send(
      new GetCommand({
        TableName: this.deps.tables.runs,
        Key: { pk: this.#pk, sk: CHECKPOINT_SK },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    let pagerState: unknown;
    try {
      pagerState = typeof Item.pagerStateJson === 'string' ? JSON.parse(Item.pagerStateJson) : undefined;
    } catch (cause) {
      throw new SyncError(
        'store.checkpointCorrupt',
        `checkpoint of run ${String(Item.runId)} holds invalid pager state`,
        {
          runId: Item.runId,
        },
        cause,
      );
    }
    return {
      runId: String(Item.runId),
      pageIndex: Number(Item.pageIndex),
      pagerState,
      // `counters`: the attribute's name in checkpoints written before it was renamed `figures`.
      figures: ((Item.figures ?? Item.counters) as Record<string, number> | undefined) ?? {},
      startedAt: String(Item.startedAt),
      updatedAt: String(Item.updatedAt),
      ...(Item.options ? { options: Item.options as object } : {}),
    };
  }

  /** Deletes the checkpoint if it belongs to `runId` (another run's checkpoint is left alone). */
  async clearCheckpoint(runId: string): Promise<void> {
    try {
      await this.deps.client.send(
        new DeleteCommand({
          TableName: this.deps.tables.runs,
          Key: { pk: this.#pk, sk: CHECKPOINT_SK },
          ConditionExpression: 'attribute_not_exists(pk) OR runId = :runId',
          ExpressionAttributeValues: { ':runId': runId },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        this.deps.logger?.warn('checkpoint not cleared: it belongs to another run', { runId });
        return;
      }
      throw new SyncError(
        'store.commitFailed',
        `could not clear the checkpoint of run ${runId}`,
        { runId },
        error,
      );
    }
  }
}

/** A stored run item without its key attributes. */
export function toRunRecord(item: Record<string, unknown>): RunRecord {
  const { pk: _pk, sk: _sk, runsPk: _runsPk, runsSk: _runsSk, ...record } = item;
  return record as RunRecord;
}

/** One page's commit: the keys it saw and the checkpoint after it. */
interface PageCommit {
  runId: string;
  pageIndex: number;
  seenKeys: string[];
  checkpoint: Checkpoint;
}

/** The error of a failed page commit: a conflicting checkpoint, or DynamoDB's failure. */
function commitFailure(error: unknown, input: PageCommit): SyncError {
  const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
  if (reasons.some((reason) => reason.Code === 'ConditionalCheckFailed')) {
    return new SyncError(
      'store.checkpointConflict',
      `the saved checkpoint belongs to another run or a later page; page ${input.pageIndex} of run ${input.runId} not committed`,
      { runId: input.runId, pageIndex: input.pageIndex },
    );
  }
  return new SyncError(
    'store.commitFailed',
    `could not commit page ${input.pageIndex} of run ${input.runId}`,
    {
      runId: input.runId,
      pageIndex: input.pageIndex,
    },
    error,
  );
}
