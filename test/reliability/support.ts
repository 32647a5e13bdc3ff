/**
 * Helpers of the reliability suite: a table set on DynamoDB Local, a fast console client, one sync
 * run, and the verification of the stored state against the simulator's ground truth.
 *
 * Verification reads the tables with a Scan: fine in a test's checker, never in product code.
 */
import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import type { Logger } from '../../lambda/common/logger.js';
import { normalizeReport } from '../../lambda/normalize/index.js';
import { type Clock, systemClock } from '../../lambda/prisma/clock.js';
import { ConsoleClient, type ConsoleClientOptions } from '../../lambda/prisma/index.js';
import { createStores, type Stores, tableNames } from '../../lambda/store/index.js';
import { imagePk, runSeenPk } from '../../lambda/store/keys.js';
import { runSync, type SyncOptions, type SyncResult } from '../../lambda/sync/engine.js';
import type { RunningSimulator } from '../../simulator/index.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** An engine/client logger that keeps every line (assertions on secrets and warnings). */
export function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: LogLine['level']) => (message: string, data?: Record<string, unknown>) => {
    lines.push({ level, message, ...(data === undefined ? {} : { data }) });
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Stores of one console with millisecond DynamoDB backoffs. */
export function storesOf(doc: DynamoDBDocumentClient, prefix: string, consoleId: string): Stores {
  return createStores({
    client: doc,
    tablePrefix: prefix,
    consoleId,
    retry: { baseDelayMs: 2, maxDelayMs: 20 },
    imageConcurrency: 16,
    maxConcurrentBatches: 16,
  });
}

/** A client for `sim`: no self-pacing (the simulators here are unthrottled) and millisecond backoffs. */
export function fastClient(
  sim: RunningSimulator,
  overrides: Partial<ConsoleClientOptions> = {},
): ConsoleClient {
  return new ConsoleClient({
    baseUrl: sim.url,
    credentials: { username: 'demo', password: 'demo' },
    rateLimit: { requests: 10_000, windowMs: 1000 },
    retry: { maxAttempts: 6, baseDelayMs: 2, maxDelayMs: 20 },
    logger: capturingLogger(),
    clock: warpClock(),
    ...overrides,
  });
}

export type Outcome = { result: SyncResult; error?: undefined } | { result?: undefined; error: unknown };

/** One run of the engine; a thrown error is returned as data so a test can assert on it. */
export async function syncOnce(
  sim: RunningSimulator,
  stores: Stores,
  consoleId: string,
  options: { client?: Partial<ConsoleClientOptions>; sync?: Partial<SyncOptions> } = {},
): Promise<Outcome> {
  const client = fastClient(sim, options.client);
  try {
    const result = await runSync(
      { client, stores, consoleId, logger: capturingLogger() },
      { trigger: 'test', leaseTtlMs: 60_000, ...options.sync },
    );
    return { result };
  } catch (error) {
    return { error };
  } finally {
    await client.close();
  }
}

/** Every item of a table (test-only Scan), in a canonical order. */
export async function scanAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...((page.Items ?? []) as Array<Record<string, unknown>>));
    startKey = page.LastEvaluatedKey as Record<string, unknown> | undefined;
  } while (startKey);
  return items.sort((a, b) =>
    `${String(a.pk)}\u0000${String(a.sk)}` < `${String(b.pk)}\u0000${String(b.sk)}` ? -1 : 1,
  );
}

/** What the images table holds for one console: current images and their open finding keys. */
export interface StoredConsole {
  /** image key → image item attributes of interest. */
  images: Map<string, { removed: boolean; contentHash: string; scanTime: unknown }>;
  /** image key → open finding keys. */
  openFindings: Map<string, Set<string>>;
}

/** `registry/repo:tag` (the simulator's image key) back to its parts. */
export function parseImageKey(key: string): { registry: string; repo: string; tag: string } {
  const slash = key.indexOf('/');
  const colon = key.lastIndexOf(':');
  return { registry: key.slice(0, slash), repo: key.slice(slash + 1, colon), tag: key.slice(colon + 1) };
}

/**
 * The stored state of one console for the current images plus `keys`, read with Queries (the
 * current-images index and one Query per image partition), so its cost follows the console, not
 * the shared table.
 */
export async function storedConsole(
  doc: DynamoDBDocumentClient,
  prefix: string,
  consoleId: string,
  keys: Iterable<string> = [],
): Promise<StoredConsole> {
  const stores = storesOf(doc, prefix, consoleId);
  const wanted = new Set(keys);
  for (const image of await stores.queries.images({})) {
    wanted.add(`${image.registry}/${image.repo}:${image.tag}`);
  }
  const images: StoredConsole['images'] = new Map();
  const openFindings: StoredConsole['openFindings'] = new Map();
  const table = tableNames(prefix).images;
  const queue = [...wanted];
  const worker = async () => {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      const pk = imagePk(consoleId, parseImageKey(key));
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          if (item.sk === 'IMAGE') {
            images.set(key, {
              removed: item.removed === true,
              contentHash: String(item.contentHash),
              scanTime: item.scanTime,
            });
          } else if (String(item.sk).startsWith('F#') && item.resolvedAt === undefined) {
            const set = openFindings.get(key) ?? new Set<string>();
            set.add(String(item.findingKey));
            openFindings.set(key, set);
          }
        }
        startKey = page.LastEvaluatedKey as Record<string, unknown> | undefined;
      } while (startKey);
    }
  };
  await Promise.all(Array.from({ length: 12 }, worker));
  return { images, openFindings };
}

/** The finding keys and content hash the normalizer derives from the console's current report. */
export function expectedOf(sim: RunningSimulator, key: string, consoleId: string) {
  const normalized = normalizeReport(sim.truth.report(key), { consoleId });
  return {
    contentHash: normalized.image.contentHash,
    findings: new Set(normalized.findings.map((f) => f.key)),
  };
}

/**
 * The invariants of a completed run against the ground truth (SPEC §4.1, §4.2):
 * every image present for the whole paging is stored, current, with its full findings
 * (checked for `contentKeys`, the images whose report did not change during the run);
 * no current image that was never on the console since `mark`; no lease or checkpoint left.
 */
export async function expectMatchesTruth(input: {
  doc: DynamoDBDocumentClient;
  prefix: string;
  consoleId: string;
  stores: Stores;
  sim: RunningSimulator;
  mark: number;
  /** Keys whose findings to compare with the current report (default: every persistent key). */
  contentKeys?: string[];
}): Promise<{ images: number; findings: number }> {
  const { sim, mark, consoleId } = input;
  const persistent = sim.truth.persistentSince(mark);
  const ever = new Set(sim.truth.everPresentSince(mark));
  const stored = await storedConsole(input.doc, input.prefix, consoleId, persistent);
  const current = [...stored.images].filter(([, image]) => !image.removed).map(([key]) => key);
  const missing = persistent.filter((key) => stored.images.get(key)?.removed !== false);
  expect(missing, 'persistent images missing or marked removed').toEqual([]);
  const phantoms = current.filter((key) => !ever.has(key));
  expect(phantoms, 'current images never present on the console').toEqual([]);
  let findings = 0;
  for (const key of input.contentKeys ?? persistent) {
    const expected = expectedOf(sim, key, consoleId);
    expect(stored.images.get(key)?.contentHash, `content hash of ${key}`).toBe(expected.contentHash);
    const open = stored.openFindings.get(key) ?? new Set<string>();
    const lost = [...expected.findings].filter((f) => !open.has(f));
    const extra = [...open].filter((f) => !expected.findings.has(f));
    expect({ key, lost, extra }).toEqual({ key, lost: [], extra: [] });
    findings += expected.findings.size;
  }
  expect(await input.stores.runs.loadCheckpoint(), 'checkpoint after a completed run').toBeUndefined();
  expect(await input.stores.runs.currentLease(), 'lease after a run').toBeUndefined();
  return { images: persistent.length, findings };
}

/** The error code of a failed outcome (or undefined when the run returned). */
export function errorCode(outcome: Outcome): string | undefined {
  if (outcome.error === undefined) return undefined;
  return isSyncError(outcome.error) ? outcome.error.code : `non-sync: ${String(outcome.error)}`;
}

/**
 * The real clock warped forward over every sleep: a wait is really at most `capMs`, and `now()`
 * then reads as if the whole wait had passed. Retry-After of seconds cost milliseconds.
 */
export function warpClock(capMs = 5): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  let warp = 0;
  return {
    sleeps,
    now: () => Date.now() + warp,
    sleep: (ms, signal) => {
      sleeps.push(ms);
      const real = Math.min(Math.max(0, ms), capMs);
      warp += Math.max(0, ms) - real;
      return systemClock.sleep(real, signal);
    },
  };
}

/** Every image key a run recorded as seen, in page order, duplicates kept (a duplicate is a bug). */
export async function seenKeysOf(
  doc: DynamoDBDocumentClient,
  prefix: string,
  consoleId: string,
  runId: string,
): Promise<string[]> {
  const keys: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: tableNames(prefix).runs,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': runSeenPk(consoleId, runId) },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) keys.push(...((item.keys as string[] | undefined) ?? []));
    startKey = page.LastEvaluatedKey as Record<string, unknown> | undefined;
  } while (startKey);
  return keys;
}

/** GETs of one full pass over `images` images: 50, then 49 new per request (one-item overlap). */
export function pagesFor(images: number): number {
  return images <= 50 ? 1 : 1 + Math.ceil((images - 50) / 49);
}
