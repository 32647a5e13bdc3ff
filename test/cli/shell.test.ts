/**
 * The CLI as the shell of its process, run in-process: what it changes process-wide (and the engine
 * does not), and its default bounds.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Output, quarantineLines } from '../../lambda/cli/output.js';
import { main } from '../../lambda/cli.js';
import { type QuarantineEntry, SYNC_V8_FLAGS } from '../../lambda/sync/engine.js';
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

  it('stops a sync without --max-duration at the default ceiling: partial, exit 3', async () => {
    const slow = await startTestSimulator({
      images: 200,
      seed: 'cli-shell-ceiling',
      rateLimit: { requests: 3, windowMs: 30_000 },
    });
    try {
      const out = capture();
      const code = await main(
        ['sync', '--json'],
        out,
        { ...env, PRISMA_CONSOLE_URL: slow.url, PRISMA_CONSOLE_ID: 'ceiling' },
        {
          setV8Flags: () => {},
          defaultMaxDuration: '4s',
        },
      );
      expect(code, out.text().stderr).toBe(3);
      expect(JSON.parse(out.text().stdout)).toMatchObject({ status: 'partial' });
    } finally {
      await slow.close();
    }
  });
});

describe('quarantineLines', () => {
  const entry: QuarantineEntry = {
    key: 'r.example/team/app:1.0',
    identity: { registry: 'r.example', repo: 'team/app', tag: '1.0' },
    offset: 49,
    index: 3,
    code: 'normalize.invalid',
    reason: 'image name is longer than 768 bytes',
    sha256: 'ab'.repeat(32),
    at: '2026-12-03T00:00:00.000Z',
  };

  it('prints nothing without quarantined reports', () => {
    expect(quarantineLines([], 0)).toBe('');
  });

  it('names each report, where it was, why and its digest, and how many more were not listed', () => {
    const nameless = { ...entry, key: null, identity: null, sha256: null, reason: 'bell \u0007 here' };
    expect(quarantineLines([entry, nameless], 5)).toBe(
      [
        '5 quarantined report(s):',
        `  r.example/team/app:1.0 at offset 49 #3: normalize.invalid: image name is longer than 768 bytes (sha256:${'ab'.repeat(32)})`,
        '  (no image name) at offset 49 #3: normalize.invalid: bell \\u0007 here (no digest)',
        '  ... and 3 more (not listed)',
        '',
      ].join('\n'),
    );
  });
});
