import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SAFETY_MARGIN_MS } from '../../lambda/handler-limits.js';
import { createStores } from '../../lambda/store/index.js';
import type { RunningSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { SIM_PASSWORD, SIM_USERNAME, startTestSimulator } from '../support/e2e.js';

/**
 * The Lambda API has no local counterpart: the continuation's InvokeCommand is captured here
 * instead of sent, and the test asserts its payload.
 */
const invocations = vi.hoisted(() => [] as Array<Record<string, unknown>>);
vi.mock('@aws-sdk/client-lambda', () => {
  class InvokeCommand {
    constructor(readonly input: Record<string, unknown>) {}
  }
  class LambdaClient {
    async send(command: InvokeCommand): Promise<{ StatusCode: number }> {
      invocations.push(command.input);
      return { StatusCode: 202 };
    }
  }
  return { InvokeCommand, LambdaClient };
});

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:prisma-registry-sync-test';

function fakeContext(remainingMs: number, requestId: string): Context {
  const deadline = Date.now() + remainingMs;
  return {
    awsRequestId: requestId,
    functionName: 'prisma-registry-sync-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: FUNCTION_ARN,
    memoryLimitInMB: '1024',
    logGroupName: '/aws/lambda/prisma-registry-sync-test',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

describe('the Lambda handler', () => {
  let sim: RunningSimulator;
  const prefix = uniqueTablePrefix('handler');
  const stores = createStores({
    client: localDocumentClient(),
    tablePrefix: prefix,
    consoleId: 'handler-console',
  });

  beforeAll(async () => {
    sim = await startTestSimulator({ images: 120, seed: 'handler' });
    await createTestTables(localDynamoClient(), prefix);
    for (const [name, value] of Object.entries({
      ...localDynamoEnv(prefix),
      PRISMA_CONSOLE_URL: sim.url,
      PRISMA_CONSOLE_ID: 'handler-console',
      PRISMA_USERNAME: SIM_USERNAME,
      PRISMA_PASSWORD: SIM_PASSWORD,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    })) {
      vi.stubEnv(name, value);
    }
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await sim.close();
  });
  beforeEach(() => {
    invocations.length = 0;
  });

  it('stops a short invocation with partial and continues the run asynchronously', async () => {
    const { handler } = await import('../../lambda/handler.js');
    // 4 s left after the handler's safety margin: the engine stops after its first page.
    const result = await handler(
      { trigger: 'schedule' },
      fakeContext(SAFETY_MARGIN_MS + 4_000, 'req-partial'),
    );
    expect(result).toMatchObject({ status: 'partial', pages: 1 });
    expect(invocations).toHaveLength(1);
    const invoke = invocations[0] ?? {};
    expect(invoke).toMatchObject({ FunctionName: FUNCTION_ARN, InvocationType: 'Event' });
    expect(JSON.parse(new TextDecoder().decode(invoke.Payload as Uint8Array))).toEqual({
      trigger: 'continuation',
      continuation: 1,
    });
    expect(await stores.runs.loadCheckpoint()).toMatchObject({ runId: (result as { runId: string }).runId });
  });

  it('completes the continued run with its figures and invokes nothing more', async () => {
    const { handler } = await import('../../lambda/handler.js');
    const result = await handler(
      { trigger: 'continuation', continuation: 1 },
      fakeContext(900_000, 'req-full'),
    );
    expect(result).toMatchObject({ status: 'completed', resumed: true, images: 120, new: 120, removed: 0 });
    for (const figure of [
      'pages',
      'requests',
      'throttled',
      'retries',
      'written',
      'unchanged',
      'durationMs',
    ]) {
      expect(result, figure).toHaveProperty(figure);
    }
    expect(invocations).toHaveLength(0);
    expect(await stores.runs.loadCheckpoint()).toBeUndefined();
    const [run] = await stores.queries.runs(1);
    expect(run).toMatchObject({ status: 'completed', images: 120, invocations: 2 });
  });
});
