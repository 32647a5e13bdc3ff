import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SAFETY_MARGIN_MS } from '../../lambda/handler-limits.js';
import type { RunningSimulator } from '../../simulator/index.js';
import { createTestTables, localDynamoClient, localDynamoEnv, uniqueTablePrefix } from '../support/dynamo.js';
import { SIM_PASSWORD, SIM_USERNAME, startTestSimulator } from '../support/e2e.js';
import { allowStatements, asArray, synthesize } from './synth.js';

/**
 * The Lambda API has no local counterpart: the continuation's InvokeCommand is captured here instead
 * of sent. Everything else is real: the simulator over HTTP, DynamoDB Local, Powertools' EMF output.
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

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const FUNCTION_NAME = 'prisma-registry-sync-prod';
const ALIAS_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION_NAME}:live`;

function fakeContext(remainingMs: number, requestId: string, invokedFunctionArn = ALIAS_ARN): Context {
  const deadline = Date.now() + remainingMs;
  return {
    awsRequestId: requestId,
    functionName: FUNCTION_NAME,
    functionVersion: '7',
    invokedFunctionArn,
    memoryLimitInMB: '1024',
    logGroupName: 'PrismaRegistrySync-ConsoleProdLogGroup',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

interface Emf {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> };
  [key: string]: unknown;
}

/** What the handler printed (stdout and stderr, where Powertools writes warnings and errors), parsed. */
async function captureOutput<T>(
  run: () => Promise<T>,
): Promise<{ value: T | undefined; error: unknown; lines: Array<Record<string, unknown>> }> {
  const chunks: string[] = [];
  const record = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(record);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(record);
  let value: T | undefined;
  let error: unknown;
  try {
    value = await run();
  } catch (thrown) {
    error = thrown;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const lines = chunks
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { value, error, lines };
}

const emfOf = (lines: Array<Record<string, unknown>>): Emf[] =>
  lines.filter((line): line is Emf => typeof line._aws === 'object');

/** IAM's matching of a Resource pattern (`*` any run of characters, `?` one) against an ARN. */
function iamMatches(pattern: string, arn: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(arn);
}

/** A synthesized Resource (`Fn::Join` of pseudo parameters) as IAM sees it in this account and region. */
function resolveArn(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
  };
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`cannot resolve ${JSON.stringify(resource)}`);
  return join[1]
    .map((part) => (typeof part === 'string' ? part : (pseudo[(part as { Ref: string }).Ref] ?? '?')))
    .join(join[0]);
}

// Minutes on a loaded CI box (a simulator with 3 s per request; two invocations), hence the timeouts.
describe('the Lambda handler in AWS terms', () => {
  let sim: RunningSimulator;
  const prefix = uniqueTablePrefix('infra-handler');
  let firstPages = 0;

  beforeAll(async () => {
    // 3 s per request, 18 pages of 50: a full run needs over 54 s whatever the machine, more than the
    // first invocation's 35 s budget, which leaves time for a page even on a loaded machine.
    sim = await startTestSimulator({ images: 900, seed: 'infra-handler', latencyMs: 3_000 });
    await createTestTables(localDynamoClient(), prefix);
    for (const [name, value] of Object.entries({
      ...localDynamoEnv(prefix),
      PRISMA_CONSOLE_URL: sim.url,
      PRISMA_CONSOLE_ID: 'prod',
      PRISMA_USERNAME: SIM_USERNAME,
      PRISMA_PASSWORD: SIM_PASSWORD,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'false',
      POWERTOOLS_DEV: 'false',
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

  it('continues a run started through an alias through that alias, which the role may invoke', async () => {
    const { handler } = await import('../../lambda/handler.js');
    const { value } = await captureOutput(() =>
      handler({ trigger: 'schedule' }, fakeContext(SAFETY_MARGIN_MS + 35_000, 'req-alias')),
    );
    expect(value).toMatchObject({ status: 'partial' });
    firstPages = (value as { pages: number }).pages;
    expect(firstPages).toBeGreaterThan(0);
    expect(invocations).toHaveLength(1);
    const target = String(invocations[0]?.FunctionName);
    expect(target).toBe(ALIAS_ARN);

    const { resources } = synthesize({ consoles: [{ id: 'prod', url: 'https://console.corp.test' }] });
    const [, continueRun] = allowStatements(resources).find(([, s]) => s.Sid === 'ContinueRun') ?? [];
    const patterns = asArray(continueRun?.Resource).map(resolveArn);
    expect(patterns.some((pattern) => iamMatches(pattern, target))).toBe(true);
    // The unqualified ARN, which the schedule uses, and a version are covered too; another function is not.
    const unqualified = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION_NAME}`;
    expect(patterns.some((pattern) => iamMatches(pattern, unqualified))).toBe(true);
    expect(patterns.some((pattern) => iamMatches(pattern, `${unqualified}:7`))).toBe(true);
    expect(patterns.some((pattern) => iamMatches(pattern, `${unqualified}-other`))).toBe(false);
    expect(patterns.some((pattern) => iamMatches(pattern, `${unqualified}-other:live`))).toBe(false);
  }, 480_000);

  it("publishes each invocation's own figures, not the resumed run's totals", async () => {
    const { handler } = await import('../../lambda/handler.js');
    const { value: result, lines } = await captureOutput(() =>
      handler({ trigger: 'continuation', continuation: 1 }, fakeContext(900_000, 'req-rest')),
    );
    expect(result).toMatchObject({ status: 'completed', resumed: true, images: 900 });
    const run = result as { pages: number; images: number; invocation: { pages: number; images: number } };
    // The first invocation did `firstPages` pages; this one did the rest.
    expect(run.invocation.pages).toBe(run.pages - firstPages);
    expect(run.invocation.images).toBeLessThan(run.images);

    const [emf, ...more] = emfOf(lines);
    expect(more).toEqual([]);
    expect(emf?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'ConsoleId']]);
    expect(emf).toMatchObject({
      ConsoleId: 'prod',
      Pages: run.invocation.pages,
      Images: run.invocation.images,
      RunCompleted: 1,
      RunPartial: 0,
      RunFailed: 0,
    });
    expect(invocations).toHaveLength(0);
  }, 480_000);

  it('counts a configuration failure as a failed run of its console, logs it in one line, and rethrows', async () => {
    vi.stubEnv('PRISMA_CONSOLE_URL', 'not a url');
    const { handler } = await import('../../lambda/handler.js');
    const { error, lines } = await captureOutput(() =>
      handler({ trigger: 'schedule' }, fakeContext(900_000, 'req-config')),
    );
    vi.stubEnv('PRISMA_CONSOLE_URL', sim.url);
    expect((error as { code?: string }).code).toBe('config.invalid');
    const [emf] = emfOf(lines);
    expect(emf).toMatchObject({ ConsoleId: 'prod', RunCompleted: 0, RunPartial: 0, RunFailed: 1 });
    const failures = lines.filter((line) => line.level === 'ERROR');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ message: 'sync invocation failed', code: 'config.invalid' });
    expect(JSON.stringify(lines)).not.toContain(SIM_PASSWORD);
  });
});
