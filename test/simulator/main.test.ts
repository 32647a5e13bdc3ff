import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runSimulatorCommand } from '../../simulator/main.js';
import { API, basic } from './helpers.js';

async function firstLines(out: PassThrough, count: number): Promise<string[]> {
  let text = '';
  for await (const chunk of out) {
    text += String(chunk);
    if (text.split('\n').length > count) break;
  }
  return text.split('\n');
}

describe('runSimulatorCommand', () => {
  it('serves with the credentials from the environment, prints the URL but never the password, and stops on abort', async () => {
    const out = new PassThrough();
    const stop = new AbortController();
    const env = { PRISMA_USERNAME: 'ops', PRISMA_PASSWORD: 'hunter2-very-secret' };
    const running = runSimulatorCommand(
      { images: 7, seed: 3, unthrottled: true },
      { out, env, signal: stop.signal },
    );
    const lines = await firstLines(out, 3);
    const url = /listening on (\S+)/.exec(lines[0] ?? '')?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const page = await fetch(`${url}${API}/registry`, { headers: basic('ops', 'hunter2-very-secret') });
    expect(page.status).toBe(200);
    expect(await page.json()).toHaveLength(7);
    expect((await fetch(`${url}${API}/registry`, { headers: basic('demo', 'demo') })).status).toBe(401);

    stop.abort();
    await running;
    const printed = lines.join('\n') + String(out.read() ?? '');
    expect(printed).toContain("sign in as user 'ops'");
    expect(printed).not.toContain('hunter2');
    await expect(fetch(`${url}${API}/registry`)).rejects.toThrow();
  });

  it('defaults to demo/demo and the console rate limit', async () => {
    const out = new PassThrough();
    const stop = new AbortController();
    const running = runSimulatorCommand({ images: 1 }, { out, env: {}, signal: stop.signal });
    const lines = await firstLines(out, 3);
    const url = /listening on (\S+)/.exec(lines[0] ?? '')?.[1];
    expect(lines.join('\n')).toContain('rate limit 30 requests / 30 s');
    expect((await fetch(`${url}${API}/registry`, { headers: basic('demo', 'demo') })).status).toBe(200);
    stop.abort();
    await running;
  });
});
