import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { InvokeCommand, type InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { isSyncError } from './common/errors.js';
import type { LogData, Logger as SyncLogger } from './common/logger.js';
import { nameSettings, parseConfig } from './config.js';
import { MAX_CONTINUATIONS, SAFETY_MARGIN_MS } from './handler-limits.js';
import type { ConsoleClient } from './prisma/index.js';
import type { Stores } from './store/index.js';
import {
  type InvocationFigures,
  type RunStatus,
  runSync,
  type SyncResult,
  tuneProcessForSync,
} from './sync/engine.js';
import { consoleClientFor, createDocumentClient, requireConsoleId, storesFor } from './wiring.js';

/** What the schedule (or a continuation) sends. Everything else comes from the environment. */
export interface SyncEvent {
  trigger?: string;
  /** How many times this run already continued itself; bounded so a bug cannot loop forever. */
  continuation?: number;
  fresh?: boolean;
}

export type HandlerResult = SyncResult | { status: 'skipped'; reason: string };

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'prisma-registry-sync' });
const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PrismaRegistrySync',
  serviceName: 'prisma-registry-sync',
});
let lambdaClient: LambdaClient | undefined;
// The handler owns its process (one per Lambda container): it, not the engine, tunes V8 for syncs.
tuneProcessForSync();

/** The engine's log lines, with the settings lower layers name turned into the variables an operator sets. */
function engineLogger(): SyncLogger {
  const named = (data: LogData | undefined) =>
    Object.fromEntries(
      Object.entries(data ?? {}).map(([key, value]) => [
        key,
        typeof value === 'string' ? nameSettings(value) : value,
      ]),
    );
  return {
    debug: (message, data) => logger.debug(nameSettings(message), named(data)),
    info: (message, data) => logger.info(nameSettings(message), named(data)),
    warn: (message, data) => logger.warn(nameSettings(message), named(data)),
    error: (message, data) => logger.error(nameSettings(message), named(data)),
  };
}

/**
 * RunCompleted/RunPartial/RunFailed, 0 or 1 each, from every invocation that ran (the alarms read their
 * maxima), and RunSkipped when the engine skipped the run (a console scan under `skip`).
 */
function addOutcome(status: RunStatus): void {
  metrics.addMetric('RunCompleted', MetricUnit.Count, status === 'completed' ? 1 : 0);
  metrics.addMetric('RunPartial', MetricUnit.Count, status === 'partial' ? 1 : 0);
  metrics.addMetric('RunFailed', MetricUnit.Count, status === 'failed' ? 1 : 0);
  if (status === 'skipped') metrics.addMetric('RunSkipped', MetricUnit.Count, 1);
}

/**
 * What this invocation did (`result.invocation`), never the run's totals: those are cumulative across
 * the invocations of a run (restored from the checkpoint) and stay on the run record.
 */
function addResultMetrics(result: SyncResult, now: number): void {
  const figures: InvocationFigures = result.invocation;
  const count = MetricUnit.Count;
  metrics.addMetric('Images', count, figures.images);
  metrics.addMetric('Pages', count, figures.pages);
  metrics.addMetric('Requests', count, figures.requests);
  metrics.addMetric('Throttled', count, figures.throttled);
  metrics.addMetric('Retries', count, figures.retries);
  metrics.addMetric('ItemsWritten', count, figures.written);
  metrics.addMetric('Unchanged', count, figures.unchanged);
  metrics.addMetric('Removed', count, figures.removed);
  // Reports skipped by quarantine in this invocation (SPEC §4.7); the run record lists them.
  metrics.addMetric('Quarantined', count, figures.quarantined);
  metrics.addMetric('DurationMs', MetricUnit.Milliseconds, figures.durationMs);
  addOutcome(result.status);
  if (result.oldestScanTime) {
    metrics.addMetric(
      'OldestScanAgeSeconds',
      MetricUnit.Seconds,
      Math.round((now - Date.parse(result.oldestScanTime)) / 1000),
    );
  }
}

/**
 * The continuation's request: the same ARN this invocation was invoked by, so a run started through
 * an alias or a version continues with the same code. The function's role may invoke the unqualified
 * ARN and its qualified forms (infra/console-sync.ts, `ContinueRun`).
 *
 * @example continuationRequest('arn:aws:lambda:eu-west-1:123456789012:function:f:live', 1).FunctionName // '...:f:live'
 */
export function continuationRequest(invokedFunctionArn: string, continuation: number): InvokeCommandInput {
  return {
    FunctionName: invokedFunctionArn,
    InvocationType: 'Event',
    Payload: new TextEncoder().encode(
      JSON.stringify({ trigger: 'continuation', continuation } satisfies SyncEvent),
    ),
  };
}

async function continueRun(result: SyncResult, continuation: number, context: Context, region: string) {
  if (continuation >= MAX_CONTINUATIONS) {
    logger.error(
      'run is still partial after the maximum number of continuations; waiting for the next schedule',
      {
        runId: result.runId,
        continuation,
      },
    );
    return;
  }
  lambdaClient ??= new LambdaClient({ region });
  await lambdaClient.send(
    new InvokeCommand(continuationRequest(context.invokedFunctionArn, continuation + 1)),
  );
  logger.info('continuing the run in a new invocation', {
    runId: result.runId,
    continuation: continuation + 1,
  });
}

interface Invocation {
  consoleId: string;
  region: string;
  client: ConsoleClient;
  stores: Stores;
  deadline: number;
  whenScanOngoing: ReturnType<typeof parseConfig>['whenScanOngoing'];
}

/** Configuration, credentials and clients. A failure here is a failed run like any other. */
async function prepare(context: Context, onClient: (client: ConsoleClient) => void): Promise<Invocation> {
  const config = parseConfig(process.env, { needConsole: true });
  const consoleId = requireConsoleId(config);
  logger.appendKeys({ consoleId });
  const deadline = Date.now() + context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS;
  const client = await consoleClientFor(config, engineLogger(), { deadline: () => deadline });
  onClient(client);
  const stores = storesFor(config, consoleId, createDocumentClient(config));
  return {
    consoleId,
    region: config.aws.region,
    client,
    stores,
    deadline,
    whenScanOngoing: config.whenScanOngoing,
  };
}

/** One line naming what failed; never the error object, whose causes may carry request details. */
function describeFailure(error: unknown): { code: string; message: string } {
  if (isSyncError(error)) return { code: error.code, message: nameSettings(error.message) };
  if (error instanceof Error) return { code: error.name, message: error.message };
  return { code: 'unknown', message: String(error) };
}

/**
 * The scheduled entry point: one sync invocation within Lambda's time limit. A run cut by the
 * budget continues itself asynchronously, so 100,000 images finish in one pass of several invocations.
 */
export async function handler(event: SyncEvent | undefined, context: Context): Promise<HandlerResult> {
  // The stack always sets PRISMA_CONSOLE_ID: a failure before the configuration is parsed still
  // lands on this console's metrics (and its dead-man's switch).
  let consoleId = process.env.PRISMA_CONSOLE_ID || 'unknown';
  let client: ConsoleClient | undefined;
  try {
    const invocation = await prepare(context, (created) => {
      client = created;
    });
    consoleId = invocation.consoleId;
    metrics.addDimension('ConsoleId', consoleId);
    const continuation = event?.continuation ?? 0;
    const result = await runSync(
      { client: invocation.client, stores: invocation.stores, consoleId, logger: engineLogger() },
      {
        trigger: event?.trigger ?? 'schedule',
        fresh: event?.fresh === true,
        whenScanOngoing: invocation.whenScanOngoing,
        deadline: invocation.deadline,
        owner: context.awsRequestId,
      },
    );
    logger.info('sync invocation finished', { ...result });
    addResultMetrics(result, Date.now());
    if (result.status === 'partial') await continueRun(result, continuation, context, invocation.region);
    return result;
  } catch (error) {
    if (isSyncError(error, 'sync.leaseHeld')) {
      logger.info('another invocation holds the lease; nothing to do', { reason: error.message });
      metrics.addDimension('ConsoleId', consoleId);
      metrics.addMetric('RunSkipped', MetricUnit.Count, 1);
      return { status: 'skipped', reason: error.message };
    }
    logger.error('sync invocation failed', describeFailure(error));
    metrics.addDimension('ConsoleId', consoleId);
    addOutcome('failed');
    // Rethrown: Lambda counts the error, retries the event twice and then dead-letters it.
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    await (client as ConsoleClient | undefined)?.close();
  }
}
