/**
 * The wiring the shells share (lambda/wiring.ts, lambda/credentials.ts) is shell code: its errors
 * name the environment variable an operator sets, and the CLI prints them as one line, exit 2.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../lambda/cli.js';
import { isSyncError } from '../lambda/common/errors.js';
import { parseConfig } from '../lambda/config.js';
import { consoleClientFor, requireConsoleId } from '../lambda/wiring.js';

function capture(): { out: { stdout: Writable; stderr: Writable }; stderr(): string } {
  const chunks: string[] = [];
  const sink = (keep: boolean) =>
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        if (keep) chunks.push(String(chunk));
        done();
      },
    });
  return { out: { stdout: sink(false), stderr: sink(true) }, stderr: () => chunks.join('') };
}

describe('the shared wiring names the variables', () => {
  it('query without a console id or URL: exit 2, one line naming PRISMA_CONSOLE_ID, before any request', async () => {
    const { out, stderr } = capture();
    const code = await main(['query', 'images'], out, { AWS_REGION: 'us-east-1' });
    expect(code).toBe(2);
    expect(stderr()).toBe(
      'error: PRISMA_CONSOLE_ID: required here (or PRISMA_CONSOLE_URL to derive it, or --console)\n',
    );
  });

  it('requireConsoleId takes an explicit id, else the configured one', () => {
    const config = parseConfig({ PRISMA_CONSOLE_ID: 'configured' }, { needConsole: false });
    expect(requireConsoleId(config, 'explicit')).toBe('explicit');
    expect(requireConsoleId(config)).toBe('configured');
  });

  it('consoleClientFor a configuration without its console part: config.invalid naming PRISMA_CONSOLE_URL', async () => {
    const config = parseConfig({}, { needConsole: false });
    const error = await consoleClientFor(config, {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: () => {},
    }).catch((e: unknown) => e);
    expect(isSyncError(error, 'config.invalid')).toBe(true);
    expect((error as Error).message).toBe('PRISMA_CONSOLE_URL: required');
  });
});
