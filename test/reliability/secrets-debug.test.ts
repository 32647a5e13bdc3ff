/**
 * Secrets at the most talkative settings: a token refresh (the console rejects a token mid-run, the
 * client logs that and authenticates again) through the CLI at `--verbose`, and the Lambda handler
 * with Powertools at DEBUG, each in a child process so everything it writes is scanned. A recording
 * proxy in front of the simulator collects every token the console issued; none of them, nor the
 * password or the Basic value, may appear in stdout or stderr.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { REPO_ROOT, runCli } from '../support/e2e.js';
import { leakedIn, type RecordingProxy, startRecordingProxy } from '../support/recording-proxy.js';

const USERNAME = 'debug-user';
const PASSWORD = 'Dbg-S3cr3t-41c!q7';
const prefix = uniqueTablePrefix('secrets-debug');
let sim: RunningSimulator;
let proxy: RecordingProxy;

beforeAll(async () => {
  const doc = localDocumentClient();
  await createTestTables(doc, prefix);
  doc.destroy();
  sim = await startSimulator({
    images: 120,
    seed: 'secrets-debug',
    rateLimit: false,
    heavyFraction: 0,
    username: USERNAME,
    password: PASSWORD,
  });
  proxy = await startRecordingProxy(sim.url);
});
afterAll(async () => {
  await proxy?.close();
  await sim?.close();
});

function secrets(): string[] {
  return [PASSWORD, Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64'), ...proxy.tokens];
}

/** The console rejects the token on the 2nd and 4th /registry GET from now: two refreshes mid-run (a second 401 on the very request a refresh resent is a credentials error by design). */
function expireTokensOnNextGets(): number {
  const gets = sim.requestLog.filter((e) => e.method === 'GET' && e.path.endsWith('/registry')).length;
  sim.setFaults({
    scripted: [
      { at: gets + 2, fault: { kind: 'token-expiry' } },
      { at: gets + 4, fault: { kind: 'token-expiry' } },
    ],
  });
  return sim.requestLog.filter((e) => e.fault === 'token-expiry').length;
}

function expectRefreshed(expiredBefore: number, tokensBefore: number): void {
  const expired = sim.requestLog.filter((e) => e.fault === 'token-expiry').length - expiredBefore;
  expect(expired, 'token-expiry faults fired').toBe(2);
  expect(proxy.tokens.length - tokensBefore, 'tokens issued: the first and one per refresh').toBe(3);
}

describe('secrets at debug level', { timeout: 180_000 }, () => {
  it('keeps every token out of a verbose CLI sync that refreshes its token twice', async () => {
    const tokensBefore = proxy.tokens.length;
    const expiredBefore = expireTokensOnNextGets();
    const result = await runCli(['--verbose', 'sync', '--json'], {
      ...localDynamoEnv(prefix),
      PRISMA_CONSOLE_URL: proxy.url,
      PRISMA_USERNAME: USERNAME,
      PRISMA_PASSWORD: PASSWORD,
      PRISMA_CONSOLE_ID: 'secrets-debug-cli',
    });
    sim.setFaults({});
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { status: string }).status).toBe('completed');
    expectRefreshed(expiredBefore, tokensBefore);
    // Verbose really is verbose: the run's info lines are there to be scanned.
    expect(result.stderr.split('\n').filter((l) => l.startsWith('info ')).length).toBeGreaterThan(0);
    expect(leakedIn(`${result.stdout}\n${result.stderr}`, secrets())).toEqual([]);
  });

  it('keeps every token out of the Lambda handler logs at DEBUG through two refreshes', async () => {
    const tokensBefore = proxy.tokens.length;
    const expiredBefore = expireTokensOnNextGets();
    const output = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'test', 'support', 'run-handler.ts'), '{"trigger":"test"}'],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '/tmp',
            ...localDynamoEnv(prefix),
            PRISMA_CONSOLE_URL: proxy.url,
            PRISMA_USERNAME: USERNAME,
            PRISMA_PASSWORD: PASSWORD,
            PRISMA_CONSOLE_ID: 'secrets-debug-lambda',
            POWERTOOLS_LOG_LEVEL: 'DEBUG',
          },
          timeout: 100_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    sim.setFaults({});
    expect(output.code, `${output.stdout.slice(-2000)}\n${output.stderr}`).toBe(0);
    const last = output.stdout.trim().split('\n').at(-1) ?? '';
    expect(last).toMatch(/^HANDLER-RESULT /);
    expect((JSON.parse(last.slice('HANDLER-RESULT '.length)) as { status: string }).status).toBe('completed');
    expectRefreshed(expiredBefore, tokensBefore);
    // DEBUG really is on: one debug line per console request at least.
    const debugLines = output.stdout.split('\n').filter((l) => /"level":"DEBUG"/.test(l));
    expect(debugLines.length).toBeGreaterThanOrEqual(3);
    expect(leakedIn(`${output.stdout}\n${output.stderr}`, secrets())).toEqual([]);
  });
});
