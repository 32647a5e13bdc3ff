/**
 * The CLI as the shell of its process, run in-process: what it changes process-wide (and the engine
 * does not), and its default bounds.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Output } from '../../lambda/cli/output.js';
import { main } from '../../lambda/cli.js';
import { SYNC_V8_FLAGS } from '../../lambda/sync/engine.js';
import type { RunningSimulator } from '../../simulator/index.js';
import { createTestTables, localDynamoClient, localDynamoEnv, uniqueTablePrefix } from '../support/dynamo.js';
import { SIM_PASSWORD, SIM_USERNAME, startTestSimulator } from '../support/e2e.js';

vi.setConfig({ testTimeout: 180_000 });

function capture(): Output & { text(): { stdout: string; stderr: string } } {
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    return { stream, text: () => chunks.join('') };
  };
  const stdout = sink();
  const stderr = sink();
  return {
    stdout: stdout.stream,
    stderr: stderr.stream,
    text: () => ({ stdout: stdout.text(), stderr: stderr.text() }),
  };
}

describe('the CLI shell', () => {
  let sim: RunningSimulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    // In-process, the SDK reads its credentials from process.env (DynamoDB Local takes any).
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    sim = await startTestSimulator({ images: 30, seed: 'cli-shell' });
    const prefix = uniqueTablePrefix('shell');
    await createTestTables(localDynamoClient(), prefix);
    env = {
      ...localDynamoEnv(prefix),
      PRISMA_CONSOLE_URL: sim.url,
      PRISMA_USERNAME: SIM_USERNAME,
      PRISMA_PASSWORD: SIM_PASSWORD,
      PRISMA_CONSOLE_ID: 'shell-console',
    };
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await sim.close();
  });

  it('tunes V8 for the sync itself, once, and nothing else does', async () => {
    const flags: string[] = [];
    const out = capture();
    const code = await main(['sync', '--json'], out, env, { setV8Flags: (f) => flags.push(f) });
    expect(code, out.text().stderr).toBe(0);
    expect(JSON.parse(out.text().stdout)).toMatchObject({ status: 'completed', images: 30 });
    expect(flags).toEqual([SYNC_V8_FLAGS]);
  });

  it('leaves V8 alone for a query', async () => {
    const flags: string[] = [];
    const out = capture();
    const code = await main(['query', 'runs', '--json'], out, env, { setV8Flags: (f) => flags.push(f) });
    expect(code, out.text().stderr).toBe(0);
    expect(flags).toEqual([]);
  });
});
