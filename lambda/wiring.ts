import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigError } from './common/errors.js';
import type { Logger } from './common/logger.js';
import type { AppConfig } from './config.js';
import { resolveCredentials } from './credentials.js';
import { ConsoleClient } from './prisma/index.js';
import { createStoreClient, createStores, type Stores } from './store/index.js';

/** One DynamoDB client per process: the SDK pools connections per client. */
export function createDocumentClient(config: AppConfig): DynamoDBDocumentClient {
  return createStoreClient({
    region: config.aws.region,
    ...(config.aws.endpoint ? { endpoint: config.aws.endpoint } : {}),
  }).documentClient;
}

export function requireConsoleId(config: AppConfig, explicit?: string): string {
  const consoleId = explicit ?? config.consoleId;
  if (!consoleId) {
    throw new ConfigError(
      'PRISMA_CONSOLE_ID: required here (or PRISMA_CONSOLE_URL to derive it, or --console)',
      {
        variable: 'PRISMA_CONSOLE_ID',
      },
    );
  }
  return consoleId;
}

export function storesFor(
  config: AppConfig,
  consoleId: string,
  documentClient = createDocumentClient(config),
): Stores {
  return createStores({ client: documentClient, tablePrefix: config.tablePrefix, consoleId });
}

/** The console client for a configuration whose console part is present. */
export async function consoleClientFor(
  config: AppConfig,
  logger: Logger,
  overrides: { rateLimit?: { requests: number; windowMs: number }; deadline?: () => number | undefined } = {},
): Promise<ConsoleClient> {
  const consoleConfig = config.console;
  if (!consoleConfig)
    throw new ConfigError('PRISMA_CONSOLE_URL: required', { variable: 'PRISMA_CONSOLE_URL' });
  const credentials = await resolveCredentials(consoleConfig, { region: config.aws.region });
  return new ConsoleClient({
    baseUrl: consoleConfig.url,
    apiVersion: consoleConfig.apiVersion,
    credentials,
    tls: { caBundle: consoleConfig.caBundle, insecure: consoleConfig.insecureTls },
    ...(consoleConfig.allowHttp === undefined ? {} : { allowHttp: consoleConfig.allowHttp }),
    ...(consoleConfig.limits === undefined
      ? {}
      : {
          maxBodyBytes: consoleConfig.limits.maxPageBytes,
          maxRetryAfterMs: consoleConfig.limits.maxRetryAfterMs,
          timeouts: { totalMs: consoleConfig.limits.requestTimeoutMs },
        }),
    logger,
    ...(overrides.rateLimit ? { rateLimit: overrides.rateLimit } : {}),
    ...(overrides.deadline ? { deadline: overrides.deadline } : {}),
  });
}
