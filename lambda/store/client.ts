/**
 * The DynamoDB clients of the store. Queries and run bookkeeping use the document client (plain
 * JavaScript values); the write path sends low-level commands with AttributeValue maps it builds
 * itself (model/attribute-value.ts), over the same client.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** What the write path needs of a client: `send` of the low-level commands. */
export type LowLevelClient = Pick<DynamoDBClient, 'send'>;

/**
 * The low-level view of a document client. A `DynamoDBDocumentClient` is a client over the very
 * config and middleware stack of the `DynamoDBClient` it was made from (lib-dynamodb adds its
 * marshalling per command, not to the stack), so a low-level command sent through it is exactly a
 * command sent through the base client: same endpoint, credentials, retries and middleware.
 */
export function lowLevel(client: DynamoDBDocumentClient): LowLevelClient {
  return client as unknown as LowLevelClient;
}

/**
 * Attempts per request of the store's client: the SDK's standard retry is the one layer that
 * retries errors (throttling, 500s, dropped connections) for every store call; the batch layer
 * (batch.ts) retries only what DynamoDB answered as done-in-part, within its own budget.
 */
export const STORE_SDK_MAX_ATTEMPTS = 5;

/**
 * A DynamoDB client configured for the store, and the document client over it.
 *
 * The SDK's logger middleware runs a schema-driven filter over every request and response to hide
 * sensitive members before handing them to the configured logger, even to the default no-op one
 * (its share of the store's CPU: bench/results.md "Figures behind code comments").
 * The store logs its own figures and never logs items, so that middleware is left out here: on
 * this client only, nothing process-wide.
 *
 * @example
 * const { documentClient } = createStoreClient({ region: 'eu-west-1' });
 * const stores = createStores({ client: documentClient, tablePrefix: 'prisma-registry', consoleId });
 */
export function createStoreClient(config: DynamoDBClientConfig): {
  client: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
} {
  const client = new DynamoDBClient({ maxAttempts: STORE_SDK_MAX_ATTEMPTS, ...config });
  client.middlewareStack.remove('loggerMiddleware');
  const documentClient = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { client, documentClient };
}
