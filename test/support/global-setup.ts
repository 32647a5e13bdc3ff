import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

/**
 * One DynamoDB Local per test run; each test file isolates itself with its own table prefix.
 * `TEST_DYNAMODB_ENDPOINT` points the run at one already listening instead (repeated targeted runs
 * skip the JVM start). The start may take long on a loaded machine: a Java start of a minute is
 * slow, not broken.
 */
export default async function setup(project: TestProject) {
  const existing = process.env.TEST_DYNAMODB_ENDPOINT;
  if (existing) {
    project.provide('dynamoEndpoint', existing);
    return async () => {};
  }
  const ddb = await startDynamoDbLocal({ timeoutMs: 120_000 });
  project.provide('dynamoEndpoint', ddb.endpoint);
  return async () => {
    await ddb.stop();
  };
}
