import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { isSyncError } from './common/errors.js';
import { parseConfig } from './config.js';
import { type EngineLogger, runSync, type SyncResult, tuneProcessForSync } from './sync/engine.js';
import { consoleClientFor, createDocumentClient, requireConsoleId, storesFor } from './sync/wiring.js';

/** What the schedule (or a continuation) sends. Everything else comes from the environment. */
export interface SyncEvent {
  trigger?: string;
  /** How many times this run already continued itself; bounded so a bug cannot loop forever. */
  continuation?: number;
  fresh?: boolean;
}

/** Stop this long before Lambda's hard timeout: the last page must commit and the run record close. */
const SAFETY_MARGIN_MS = 60_000;
const MAX_CONTINUATIONS = 48;

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'prisma-registry-sync' });
const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PrismaRegistrySync',
  serviceName: 'prisma-registry-sync',
});
let lambdaClient: LambdaClient | undefined;
// The handler owns its process (one per Lambda container): it, not the engine, tunes V8 for syncs.
tuneProcessForSync();

function engineLogger(): EngineLogger {
  return {
    debug: (message, data) => logger.debug(message, data ?? {}),
    info: (message, data) => logger.info(message, data ?? {}),
    warn: (message, data) => logger.warn(message, data ?? {}),
    error: (message, data) => logger.error(message, data ?? {}),
  };
}

function publishMetrics(consoleId: string, result: SyncResult, now: number): void {
  metrics.addDimension('ConsoleId', consoleId);
  const count = MetricUnit.Count;
  metrics.addMetric('Images', count, result.images);
  metrics.addMetric('Pages', count, result.pages);
  metrics.addMetric('Requests', count, result.requests);
  metrics.addMetric('Throttled', count, result.throttled);
  metrics.addMetric('Retries', count, result.retries);
  metrics.addMetric('ItemsWritten', count, result.written);
  metrics.addMetric('Unchanged', count, result.unchanged);
  metrics.addMetric('Removed', count, result.removed);
  // Reports skipped by quarantine in this invocation (SPEC §4.7); the run record lists them.
  metrics.addMetric('Quarantined', count, result.invocation.quarantined);
  metrics.addMetric('DurationMs', MetricUnit.Milliseconds, result.durationMs);
  metrics.addMetric('RunCompleted', count, result.status === 'completed' ? 1 : 0);
  metrics.addMetric('RunPartial', count, result.status === 'partial' ? 1 : 0);
  metrics.addMetric('RunFailed', count, result.status === 'failed' ? 1 : 0);
  if (result.oldestScanTime) {
    metrics.addMetric(
      'OldestScanAgeSeconds',
      MetricUnit.Seconds,
      Math.round((now - Date.parse(result.oldestScanTime)) / 1000),
    );
  }
}

/**
 * The scheduled entry point: one sync invocation within Lambda's time limit. A run cut by the
 * budget continues itself asynchronously, so 100,000 images finish in one pass of several invocations.
 */
export async function handler(
  event: SyncEvent | undefined,
  context: Context,
): Promise<SyncResult | { status: 'skipped'; reason: string }> {
  const config = parseConfig(process.env, { needConsole: true });
  const consoleId = requireConsoleId(config);
  logger.appendKeys({ consoleId });
  const log = engineLogger();
  const deadline = Date.now() + context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS;
  const client = await consoleClientFor(config, log, { deadline: () => deadline });
  const stores = storesFor(config, consoleId, createDocumentClient(config));
  const continuation = event?.continuation ?? 0;
  try {
    const result = await runSync(
      { client, stores, consoleId, logger: log },
      {
        trigger: event?.trigger ?? 'schedule',
        fresh: event?.fresh === true,
        whenScanOngoing: config.whenScanOngoing,
        deadline,
        owner: context.awsRequestId,
      },
    );
    logger.info('sync invocation finished', { ...result });
    publishMetrics(consoleId, result, Date.now());
    if (result.status === 'partial') {
      if (continuation >= MAX_CONTINUATIONS) {
        logger.error(
          'run is still partial after the maximum number of continuations; waiting for the next schedule',
          {
            runId: result.runId,
            continuation,
          },
        );
      } else {
        lambdaClient ??= new LambdaClient({ region: config.aws.region });
        await lambdaClient.send(
          new InvokeCommand({
            FunctionName: context.invokedFunctionArn,
            InvocationType: 'Event',
            Payload: new TextEncoder().encode(
              JSON.stringify({ trigger: 'continuation', continuation: continuation + 1 } satisfies SyncEvent),
            ),
          }),
        );
        logger.info('continuing the run in a new invocation', {
          runId: result.runId,
          continuation: continuation + 1,
        });
      }
    }
    return result;
  } catch (error) {
    if (isSyncError(error, 'sync.leaseHeld')) {
      logger.info('another invocation holds the lease; nothing to do', { reason: error.message });
      return { status: 'skipped', reason: error.message };
    }
    metrics.addDimension('ConsoleId', consoleId);
    metrics.addMetric('RunFailed', MetricUnit.Count, 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    await client.close();
  }
}
