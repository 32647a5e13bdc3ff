import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createTables } from '../../lambda/store/index.js';

/** Fixed fake credentials: DynamoDB Local accepts any, and the SDK must never look for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

/** The endpoint of the DynamoDB Local started by the global setup. */
export function dynamoEndpoint(): string {
  return inject('dynamoEndpoint');
}

/** A raw client against the shared DynamoDB Local. */
export function localDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: dynamoEndpoint(),
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
}

export function localDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(localDynamoClient(), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** A table prefix unique to the calling test file (or test), so files never see each other's data. */
export function uniqueTablePrefix(label = 't'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** Env for a child process (the CLI) pointed at the shared DynamoDB Local. */
export function localDynamoEnv(prefix: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint(),
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    SYNC_TABLE_PREFIX: prefix,
  };
}

/**
 * The product's tables under `prefix`, without the images stream: nothing reads it in tests, and
 * DynamoDB Local's emulated stream keeps every record and slows each later write of the whole run.
 */
export async function createTestTables(
  client: Parameters<typeof createTables>[0],
  prefix: string,
): Promise<{ created: string[]; existing: string[] }> {
  return await createTables(client, prefix, { streams: false });
}
