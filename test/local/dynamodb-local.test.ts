/**
 * The embedded DynamoDB Local (demo, tests, benchmarks) is a Java process: whatever ends the Node
 * process that started it must end it too, or every Ctrl-C of `npm start` leaves a JVM behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 200_000 });

const REPO_ROOT = new URL('../..', import.meta.url).pathname;

/** Pids of the processes whose command line holds DynamoDB Local's `-port <port>`. */
function javaPidsOnPort(port: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.some((arg) => arg.includes('DynamoDBLocal')) && args.includes(String(port));
      } catch {
        return false; // the process ended while we looked
      }
    })
    .map(Number);
}

/** Runs a Node process that starts `count` DynamoDB Locals and waits; resolves once it prints their ports. */
async function startHolder(count = 1): Promise<{
  ports: number[];
  child: ReturnType<typeof spawn>;
  ended: Promise<NodeJS.Signals | null>;
}> {
  const script = `
    import { startDynamoDbLocal } from './local/dynamodb-local.ts';
    // Started side by side, with a wait sized for a JVM on a busy 2-core machine (30 s was not, at load 14).
    const started = await Promise.all(Array.from({ length: ${count} }, () => startDynamoDbLocal({ timeoutMs: 150_000 })));
    const ports = started.map((ddb) => ddb.port);
    console.log('ready ' + ports.join(','));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ended = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('close', (_code, signal) => resolve(signal)),
  );
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const match = /ready ([\d,]+)\n/.exec(out);
      if (match) resolve(match[1]!.split(',').map(Number));
    });
    void ended.then(() => reject(new Error(`the holder ended before DynamoDB Local was up: ${err}`)));
  });
  return { ports, child, ended };
}

async function gone(pids: number[], timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (pids.every((pid) => !existsSync(`/proc/${pid}`))) return true;
    await delay(100);
  }
  return false;
}

describe('startDynamoDbLocal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'takes DynamoDB Local down when the process that started it gets %s, which still ends that process',
    async (signal) => {
      const holder = await startHolder();
      const java = javaPidsOnPort(holder.ports[0]!);
      expect(java).toHaveLength(1);

      holder.child.kill(signal);

      // The holder dies of the same signal, as it would have without DynamoDB Local.
      expect(await holder.ended).toBe(signal);
      expect(await gone(java)).toBe(true);
    },
  );

  it('takes every DynamoDB Local it started down on SIGINT, two at once included', async () => {
    const holder = await startHolder(2);
    const java = holder.ports.flatMap(javaPidsOnPort);
    expect(java).toHaveLength(2);

    holder.child.kill('SIGINT');

    expect(await holder.ended).toBe('SIGINT');
    expect(await gone(java)).toBe(true);
  });
});
