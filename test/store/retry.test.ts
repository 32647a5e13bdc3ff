import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { finding, type Harness, harness, input, report } from './support.js';

type Requests = Record<string, unknown[]>;

/**
 * DynamoDB Local never answers with UnprocessedItems or throttling, so this middleware does: for the
 * first `times` BatchWriteItem calls it sends only half of each table's requests and hands the other
 * half back as UnprocessedItems (as DynamoDB does under load).
 */
function injectUnprocessed(h: Harness, times: number): { injected: () => number } {
  let injected = 0;
  h.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'BatchWriteItemCommand' || injected >= times) return next(args);
      injected += 1;
      const { RequestItems } = args.input as { RequestItems: Requests };
      const sent: Requests = {};
      const held: Requests = {};
      for (const [table, requests] of Object.entries(RequestItems)) {
        const half = Math.ceil(requests.length / 2);
        sent[table] = requests.slice(0, half);
        if (requests.length > half) held[table] = requests.slice(half);
      }
      const result = await next({ ...args, input: { ...(args.input as object), RequestItems: sent } });
      (result.output as { UnprocessedItems?: Requests }).UnprocessedItems = held;
      return result;
    },
    { step: 'initialize', name: 'injectUnprocessed' },
  );
  return { injected: () => injected };
}

/**
 * Throttles the first `times` requests of the named commands. In the deserialize step, inside the
 * SDK's retry loop, where DynamoDB's own throttling arrives: the SDK's retry strategy sees it.
 */
function injectThrottling(h: Harness, commandNames: string[], times: number): { thrown: () => number } {
  let thrown = 0;
  h.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (commandNames.includes(String(context.commandName)) && thrown < times) {
        thrown += 1;
        throw new ProvisionedThroughputExceededException({
          message: 'slow down',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next(args);
    },
    { step: 'deserialize', name: `throttle${commandNames.join('')}`, priority: 'high' },
  );
  return { thrown: () => thrown };
}

const many = (n: number) => Array.from({ length: n }, (_, i) => finding(`CVE-R-${i}`));
const seen = { runId: 'r', seenAt: '2024-06-01T00:00:00.000Z' };

describe('batched writes under pressure', () => {
  it('retries UnprocessedItems until every item is written', async () => {
    const h = await harness('unproc');
    const fault = injectUnprocessed(h, 6);
    const r = report({ repo: 'retry/unprocessed', findings: many(60) });
    const result = await h.stores.images.writeReports([input(r)], seen);
    expect(fault.injected()).toBe(6);
    expect(result.images[0]?.outcome).toBe('new');
    expect(
      (
        await h.stores.queries.image({
          registry: 'registry.example.com',
          repo: 'retry/unprocessed',
          tag: 'latest',
        })
      )?.findings,
    ).toHaveLength(60);
    expect(await h.stores.queries.changes('2024-01-01T00:00:00Z')).toHaveLength(60);
  });

  it('retries throttled batch and transactional writes and batch reads (the SDK, within its maxAttempts)', async () => {
    const h = await harness('throttle');
    // The harness client keeps the SDK's default attempts (3 or more): 2 throttled requests in a row at most.
    const writes = injectThrottling(h, ['BatchWriteItemCommand', 'TransactWriteItemsCommand'], 2);
    const reads = injectThrottling(h, ['BatchGetItemCommand'], 2);
    const result = await h.stores.images.writeReports(
      [input(report({ repo: 'retry/throttled', findings: many(30) }))],
      seen,
    );
    expect([writes.thrown(), reads.thrown()]).toEqual([2, 2]);
    expect(result.images[0]?.outcome).toBe('new');
    expect(
      (
        await h.stores.queries.image({
          registry: 'registry.example.com',
          repo: 'retry/throttled',
          tag: 'latest',
        })
      )?.findings,
    ).toHaveLength(30);
  });

  it('sends a throttled request only as often as the SDK allows: no retry of the store around it', async () => {
    const h = await harness('nested', { retry: { maxAttempts: 10, baseDelayMs: 1, maxDelayMs: 2 } });
    const throttled = injectThrottling(h, ['TransactWriteItemsCommand'], Number.POSITIVE_INFINITY);
    const failure = await h.stores.images
      .writeReports([input(report({ repo: 'retry/nested', findings: many(2) }))], seen)
      .catch((error: unknown) => error);
    expect(isSyncError(failure, 'store.writeFailed')).toBe(true);
    expect((failure as Error).cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    // The SDK's attempts (the harness client's default), not that many times the store's 10.
    const sdkAttempts = await h.client.config.maxAttempts();
    expect(sdkAttempts).toBeLessThan(10);
    expect(throttled.thrown()).toBe(sdkAttempts);
  });

  it('gives up with store.unprocessed after its bounded retries, leaving the image item unwritten', async () => {
    const h = await harness('giveup', { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    injectUnprocessed(h, Number.POSITIVE_INFINITY);
    // 60 findings: more writes than one transaction takes, so they go through BatchWriteItem.
    await expect(
      h.stores.images.writeReports([input(report({ repo: 'retry/never', findings: many(60) }))], seen),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.unprocessed'));
    expect(
      await h.stores.queries.image({ registry: 'registry.example.com', repo: 'retry/never', tag: 'latest' }),
    ).toBeUndefined();
  });
});
