/**
 * The "token rejected" log line of a token refresh, checked on its own structure and not only by
 * the redactor: a line that carried the Authorization header would still pass a leak scan, since
 * the client's redactor turns every token it issued into `[REDACTED]`. So the line must hold the
 * request it is about and nothing else, no line of the refresh may hold a header or a redaction
 * placeholder, and against a console whose tokens are too short for the redactor to register
 * (under MIN_SECRET_LENGTH) no token may appear at all. Real HTTP: the simulator behind a proxy
 * that records issued tokens, and a minimal console this test serves itself.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, REDACTED } from '../../lambda/common/redact.js';
import { ConsoleClient, RegistryPager } from '../../lambda/prisma/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { capturingLogger, type LogLine } from '../prisma/support.js';
import { leakedIn, type RecordingProxy, startRecordingProxy } from '../support/recording-proxy.js';

const MESSAGE = 'token rejected; authenticating again';
const USERNAME = 'refresh-user';
const PASSWORD = 'R3fresh-S3cret-9q!';

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

function clientAt(baseUrl: string, logger = capturingLogger()): ConsoleClient & { log: LogLine[] } {
  const client = new ConsoleClient({
    baseUrl,
    credentials: { username: USERNAME, password: PASSWORD },
    rateLimit: { requests: 10_000, windowMs: 1000 },
    retry: { maxAttempts: 3, baseDelayMs: 2, maxDelayMs: 20 },
    logger,
  });
  closers.push(() => client.close());
  return Object.assign(client, { log: logger.lines });
}

/** Every string in a log line: its message, its data's keys and values, however deep. */
function stringsOf(line: LogLine): string[] {
  const out = [line.message];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === 'object')
      for (const [key, item] of Object.entries(value)) {
        out.push(key);
        walk(item);
      }
  };
  walk(line.data);
  return out;
}

/** The one "token rejected" line: info level, and its data names the request and nothing else. */
function expectTokenRejectedLine(log: LogLine[], request: RegExp): void {
  const lines = log.filter((line) => line.message.includes('token rejected'));
  expect(lines, 'one "token rejected" line per refresh').toHaveLength(1);
  const [line] = lines as [LogLine];
  expect(line.level).toBe('info');
  expect(line.message).toBe(MESSAGE);
  expect(Object.keys(line.data ?? {}), 'fields of the "token rejected" line').toEqual(['request']);
  expect(line.data?.request).toMatch(request);
}

/** No line of the run holds an auth header (even redacted), a scheme name or a placeholder. */
function expectNoHeaderInAnyLine(log: LogLine[]): void {
  for (const line of log) {
    for (const text of stringsOf(line)) {
      expect(text, `log line "${line.message}"`).not.toMatch(/\b(bearer|basic)\b|authorization/i);
      expect(text, `log line "${line.message}"`).not.toContain(REDACTED);
    }
  }
}

describe('the "token rejected" log line of a token refresh', () => {
  it('names only the request, against the simulator expiring the token mid-run', async () => {
    const sim: RunningSimulator = await startSimulator({
      images: 120,
      seed: 'token-refresh-line',
      rateLimit: false,
      heavyFraction: 0,
      username: USERNAME,
      password: PASSWORD,
    });
    closers.push(() => sim.close());
    const proxy: RecordingProxy = await startRecordingProxy(sim.url);
    closers.push(() => proxy.close());
    sim.setFaults({ scripted: [{ at: 2, fault: { kind: 'token-expiry' } }] });
    const client = clientAt(proxy.url, capturingLogger());

    let images = 0;
    for await (const page of new RegistryPager(client, { query: { compact: 'true' } }))
      images += page.reports.length;

    expect(images).toBe(120);
    expect(
      sim.requestLog.filter((e) => e.fault === 'token-expiry'),
      'token-expiry fired',
    ).toHaveLength(1);
    expect(proxy.tokens, 'tokens issued: the first and the refresh').toHaveLength(2);
    expect(client.counters.authentications).toBe(2);
    expectTokenRejectedLine(client.log, /^GET \/registry \(.+\)$/);
    expectNoHeaderInAnyLine(client.log);
    const everything = JSON.stringify(client.log);
    expect(leakedIn(everything, [PASSWORD, ...proxy.tokens])).toEqual([]);
  });

  it('holds no token even when the redactor cannot know it (tokens under MIN_SECRET_LENGTH)', async () => {
    // A console that issues tokens too short to redact: t1, t2, ... The first is refused on its
    // first use (an expired token), the second accepted. Nothing but the line's own structure
    // keeps a token out of the log here.
    const issued: string[] = [];
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url?.endsWith('/authenticate')) {
          const token = `t${issued.length + 1}`;
          issued.push(token);
          reply(200, { token });
          return;
        }
        const auth = req.headers.authorization ?? '';
        seen.push(auth);
        if (auth === `Bearer ${issued[0]}`) reply(401, { err: 'token expired' });
        else if (auth === `Bearer ${issued[1]}`) reply(200, []);
        else reply(401, { err: 'unknown token' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    const client = clientAt(`http://127.0.0.1:${port}`, capturingLogger());

    const { body, status } = await client.getJson('/registry', { limit: 50 }, { what: 'page offset=0' });

    expect(status).toBe(200);
    expect(body).toEqual([]);
    expect(issued).toEqual(['t1', 't2']);
    expect(issued.every((token) => token.length < MIN_SECRET_LENGTH)).toBe(true);
    expect(seen).toEqual(['Bearer t1', 'Bearer t2']);
    expect(client.redact('Bearer t1 t2')).toBe('Bearer t1 t2');
    expectTokenRejectedLine(client.log, /^GET \/registry \(page offset=0\)$/);
    expectNoHeaderInAnyLine(client.log);
    for (const line of client.log)
      for (const text of stringsOf(line)) expect(text, `log line "${line.message}"`).not.toMatch(/\bt[12]\b/);
  });
});
