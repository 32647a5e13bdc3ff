/**
 * CDK entry (`cdk.json` → `npx tsx infra/app.ts`). Synthesizes offline: the stack is
 * environment-agnostic (no account lookups) and the function bundles with the local esbuild.
 */
import { App } from 'aws-cdk-lib';
import { isSyncError } from '../lambda/common/errors.js';
import { buildSyncApp } from './stack.js';

const app = new App();
try {
  buildSyncApp(app);
} catch (error) {
  if (isSyncError(error, 'config')) {
    // One clear line naming the context key instead of a stack trace.
    process.stderr.write(`prisma-registry-sync: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
app.synth();
