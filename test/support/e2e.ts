/**
 * Shared helpers of the end-to-end tests (engine in-process, CLI as a child process, Lambda handler):
 * a simulator sized for tests, stores over a fresh table prefix, a sync that builds its own client,
 * ground-truth comparisons and a child-process runner for the CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../lambda/common/logger.js';
import type { FindingRecord } from '../../lambda/common/records.js';
import { normalizeReport } from '../../lambda/normalize/index.js';
import { ConsoleClient } from '../../lambda/prisma/index.js';
import { createStores, type FindingView, type Stores } from '../../lambda/store/index.js';
import {
  runSync,
  type SyncDependencies,
  type SyncOptions,
  type SyncResult,
} from '../../lambda/sync/engine.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../simulator/index.js';
import { createTestTables, localDocumentClient, localDynamoClient, uniqueTablePrefix } from './dynamo.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_BIN = join(REPO_ROOT, 'bin', 'prisma-registry-sync.js');
export const SIM_USERNAME = 'e2e-user';
export const SIM_PASSWORD = 'e2e-Secret-Passw0rd';

/** A logger that keeps what it was told, so tests can assert on it and the output stays quiet. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const push = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

/**
 * A simulator for tests: no heavy (MB-sized) reports and no rate limit unless asked, so a few hundred
 * images sync in a second or two.
 */
export async function startTestSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  return await startSimulator({
    images: 150,
    heavyFraction: 0,
    rateLimit: false,
    username: SIM_USERNAME,
    password: SIM_PASSWORD,
    ...options,
  });
}

export interface EngineHarness {
  consoleId: string;
  prefix: string;
  stores: Stores;
  logger: ReturnType<typeof recordingLogger>;
  /** One `runSync` with a fresh console client (closed afterwards), as one invocation would. */
  sync(
    options?: Partial<SyncOptions>,
    deps?: Partial<Pick<SyncDependencies, 'now' | 'sleep'>>,
  ): Promise<SyncResult>;
}

/** Tables under a fresh prefix, the stores of one console and a sync against `sim`. */
export async function engineHarness(sim: RunningSimulator, label = 'eng'): Promise<EngineHarness> {
  const prefix = uniqueTablePrefix(label);
  await createTestTables(localDynamoClient(), prefix);
  const consoleId = 'e2e-console';
  const stores = createStores({ client: localDocumentClient(), tablePrefix: prefix, consoleId });
  const logger = recordingLogger();
  return {
    consoleId,
    prefix,
    stores,
    logger,
    async sync(options = {}, deps = {}) {
      const client = new ConsoleClient({
        baseUrl: sim.url,
        credentials: { username: SIM_USERNAME, password: SIM_PASSWORD },
        rateLimit: { requests: 10_000, windowMs: 1_000 },
        retry: { baseDelayMs: 10, maxDelayMs: 50 },
        logger,
      });
      try {
        return await runSync(
          { client, stores, consoleId, logger, ...deps },
          { trigger: 'test', scanWaitPollMs: 10, ...options },
        );
      } finally {
        await client.close();
      }
    },
  };
}

/** /registry GETs the simulator has received so far (scripted faults count their GETs from its start). */
export function registryGetCount(sim: RunningSimulator): number {
  return sim.requestLog.filter((e) => e.method === 'GET' && e.path.endsWith('/registry')).length;
}

/** Image keys (`registry/repo:tag`, the simulator's key) the store currently holds as not removed. */
export async function storedKeys(stores: Stores): Promise<string[]> {
  const images = await stores.queries.images({});
  return images.map((i) => `${i.registry}/${i.repo}:${i.tag}`).sort();
}

/** Splits a simulator image key back into its parts (the registry may be empty, the repo holds slashes). */
export function splitKey(key: string): { registry: string; repo: string; tag: string } {
  const slash = key.indexOf('/');
  const colon = key.lastIndexOf(':');
  return { registry: key.slice(0, slash), repo: key.slice(slash + 1, colon), tag: key.slice(colon + 1) };
}

/** The fields of a finding both the normalizer and `query image` carry, in one comparable order. */
export function comparableFindings(
  findings: ReadonlyArray<
    Pick<
      FindingRecord | FindingView,
      'id' | 'severity' | 'cvss' | 'packageName' | 'packageVersion' | 'status'
    >
  >,
): string[] {
  return findings
    .map((f) => JSON.stringify([f.id, f.packageName, f.packageVersion, f.severity, f.cvss, f.status]))
    .sort();
}

/** What `query image` must show for a raw report of the console: the normalizer's findings. */
export function expectedFindings(rawReport: unknown, consoleId: string): string[] {
  return comparableFindings(normalizeReport(rawReport, { consoleId }).findings);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI as a child process (`node bin/prisma-registry-sync.js ...`) with exactly `env` (plus PATH). */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Waits for a spawned CLI and collects its output. */
export function collectCli(child: ChildProcess, timeoutMs = 150_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the CLI to its end. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs?: number,
): Promise<CliResult> {
  return await collectCli(spawnCli(args, env), timeoutMs);
}

/** Parses stdout as exactly one JSON document (fails the test with the output otherwise). */
export function parseOneJson(result: CliResult): unknown {
  try {
    return JSON.parse(result.stdout);
  } catch (error) {
    throw new Error(
      `stdout is not one JSON document (${String(error)}):\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
}
