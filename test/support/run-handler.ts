/**
 * Runs the Lambda handler once in this process, as the Lambda runtime would, for tests that must see
 * everything the function writes (Powertools logs go to the process's stdout). Usage:
 * `node --import tsx test/support/run-handler.ts '<event JSON>'`, configured by the environment.
 * Prints `HANDLER-RESULT <json>` or `HANDLER-ERROR <code>` as its last line.
 */
import type { Context } from 'aws-lambda';
import { handler, type SyncEvent } from '../../lambda/handler.js';

const remainingMs = Number(process.env.TEST_REMAINING_MS ?? 900_000);
const deadline = Date.now() + remainingMs;
const context: Context = {
  awsRequestId: `req-${process.pid}`,
  functionName: 'prisma-registry-sync-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:prisma-registry-sync-test',
  memoryLimitInMB: '1024',
  logGroupName: '/aws/lambda/prisma-registry-sync-test',
  logStreamName: 'test',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => deadline - Date.now(),
  done: () => {},
  fail: () => {},
  succeed: () => {},
};

try {
  const result = await handler(JSON.parse(process.argv[2] ?? '{}') as SyncEvent, context);
  process.stdout.write(`\nHANDLER-RESULT ${JSON.stringify(result)}\n`);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  process.stdout.write(`\nHANDLER-ERROR ${typeof code === 'string' ? code : 'unexpected'}\n`);
  process.exitCode = 1;
}
