/**
 * The client against a hostile console (issue #20): a node:http server per test answers
 * /authenticate with a token and /registry with the hostile behaviour. Each case asserts the time
 * bound, that the failure is typed as the engine needs it (deadline → partial, body too large →
 * not retried), and that no secret reaches an error or a log line.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import { nameSettings } from '../../lambda/config.js';
import { ConsoleClient, type ConsoleClientOptions, RegistryPager } from '../../lambda/prisma/index.js';
import { parseTotalCount } from '../../lambda/prisma/pager.js';
import { capturingLogger, closeClientAndServer, type LogLine } from './support.js';

const PASSWORD = 'Hostile-Pw-91d2!';
const TOKEN = 'tok-3f9a7c21-secret';
const BASIC = Buffer.from(`u:${PASSWORD}`).toString('base64');

let server: Server | undefined;
let client: ConsoleClient | undefined;

afterEach(async () => {
  await closeClientAndServer(client, server);
  server = undefined;
  client = undefined;
});

type Registry = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** A console whose /registry answers with `registry` (n = how many /registry requests so far). */
async function hostile(registry: Registry): Promise<{ url: string; registryRequests: () => number }> {
  let n = 0;
  server = createServer((req, res) => {
    if (req.url?.includes('/authenticate')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN }));
      return;
    }
    n++;
    registry(req, res, n);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, registryRequests: () => n };
}

function clientOf(
  url: string,
  overrides: Partial<ConsoleClientOptions> = {},
): ConsoleClient & { log: LogLine[] } {
  const logger = capturingLogger();
  client = new ConsoleClient({
    baseUrl: url,
    credentials: { username: 'u', password: PASSWORD },
    rateLimit: { requests: 10_000, windowMs: 1000 },
    retry: { maxAttempts: 3, baseDelayMs: 2, maxDelayMs: 10 },
    logger,
    ...overrides,
  });
  return Object.assign(client, { log: logger.lines });
}

async function failureOf(promise: Promise<unknown>): Promise<{ error: SyncError; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSyncError(error)) throw new Error(`expected a SyncError, got ${String(error)}`);
  return { error, ms: Date.now() - started };
}

/** Every text an error carries (message, details, causes) and every log line, for secret checks. */
function everything(error: unknown, log: LogLine[]): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let i = 0; i < 6 && current instanceof Error; i++) {
    parts.push(current.message, String(current.stack), JSON.stringify((current as SyncError).details ?? {}));
    current = current.cause;
  }
  for (const line of log) parts.push(line.message, JSON.stringify(line.data ?? {}));
  return parts.join('\n');
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(BASIC);
}

const page = (what = 'page offset=0') => ({ what, offset: 0 });

describe('deadlines: every wait ends by the run deadline or the per-request limit', () => {
  it('cuts a body trickled one byte at a time by the total per-request limit, then by the deadline', async () => {
    const console_ = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    });
    const deadline = Date.now() + 2_500;
    const c = clientOf(console_.url, { timeouts: { totalMs: 600, bodyMs: 5_000 }, deadline: () => deadline });
    const { error, ms } = await failureOf(c.getJson('/registry', {}, page()));
    // Each attempt is cut at 600 ms (retryable); the run's deadline ends the last one: partial.
    expect(error.code).toMatch(/^client\.(deadline|pageFailed)/);
    expect(ms).toBeLessThan(3_500);
    expect(console_.registryRequests()).toBeGreaterThanOrEqual(2);
    expectNoSecret(everything(error, c.log));
  });

  it('ends a stream of 103 Early Hints at the per-request limit', async () => {
    const console_ = await hostile((_req, res) => {
      const timer = setInterval(() => res.writeEarlyHints({ link: '</x.css>; rel=preload' }), 50);
      res.on('close', () => clearInterval(timer));
    });
    const c = clientOf(console_.url, {
      timeouts: { totalMs: 400, headersMs: 60_000 },
      retry: { maxAttempts: 2 },
    });
    const { error, ms } = await failureOf(c.getJson('/registry', {}, page()));
    expect(error.code).toBe('client.pageFailed');
    expect(error.message).toContain('no complete response within 400 ms');
    expect(ms).toBeLessThan(2_500);
  });

  it("ends a request whose headers never come at the run's deadline, as client.deadline", async () => {
    await hostile(() => {
      // never answers
    });
    const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
    const deadline = Date.now() + 700;
    const c = clientOf(url, { deadline: () => deadline });
    const { error, ms } = await failureOf(c.getJson('/registry', {}, page()));
    expect(error.code).toBe('client.deadline');
    expect(ms).toBeLessThan(1_700);
  });
});

describe('Retry-After: honoured up to a maximum, never an overflowing timer', () => {
  for (const [name, header] of [
    ['86400 seconds', '86400'],
    ['past 2^31 ms', String(2 ** 31)],
    ['a 400-digit number', '9'.repeat(400)],
    ['a date in year 9999', 'Fri, 31 Dec 9999 23:59:59 GMT'],
  ] as const) {
    it(`stops with client.deadline.retryAfter, without sleeping, on ${name}`, async () => {
      const console_ = await hostile((_req, res) => {
        res
          .writeHead(429, { 'retry-after': header, 'content-type': 'application/json' })
          .end('{"err":"slow down"}');
      });
      const c = clientOf(console_.url, { maxRetryAfterMs: 5_000 });
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      const { error, ms } = await failureOf(c.getJson('/registry', {}, page()));
      process.off('warning', onWarning);
      expect(error.code).toBe('client.deadline.retryAfter');
      expect(isSyncError(error, 'client.deadline')).toBe(true);
      expect(error.message).toMatch(/longer than the 5 s maximum \(setting maxRetryAfter\)/);
      expect(nameSettings(error.message)).toMatch(/longer than the 5 s maximum \(PRISMA_MAX_RETRY_AFTER\)/);
      expect(ms).toBeLessThan(1_000);
      expect(console_.registryRequests()).toBe(1);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    });
  }

  it('waits for a Retry-After within the maximum', async () => {
    const console_ = await hostile((_req, res, n) => {
      if (n === 1) res.writeHead(503, { 'retry-after': '1' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    const c = clientOf(console_.url, { maxRetryAfterMs: 5_000 });
    const started = Date.now();
    await c.getJson('/registry', {}, page());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe('memory: the decoded-page limit holds as bytes arrive, and is not retried', () => {
  it('cuts a gzip bomb at the limit after one request', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const console_ = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb);
    });
    const c = clientOf(console_.url, { maxBodyBytes: 1024 * 1024 });
    const { error, ms } = await failureOf(c.getJson('/registry', {}, page()));
    expect(error.code).toBe('client.bodyTooLarge');
    expect(error.message).toMatch(/exceeds 1048576 bytes decoded/);
    expect(console_.registryRequests()).toBe(1);
    expect(ms).toBeLessThan(2_000);
  });

  it('cuts an endless chunked body at the limit after one request', async () => {
    const console_ = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          // until the socket pushes back
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('[');
      pump();
    });
    const c = clientOf(console_.url, { maxBodyBytes: 2 * 1024 * 1024 });
    const { error } = await failureOf(c.getJson('/registry', {}, page()));
    expect(error.code).toBe('client.bodyTooLarge');
    expect(console_.registryRequests()).toBe(1);
  });
});

describe('untrusted console text', () => {
  it('redacts the password, the token and the Basic value a console echoes in an error body', async () => {
    const console_ = await hostile((req, res) => {
      const echo = `bad request: ${req.headers.authorization} \u001b]0;pwned\u0007 password=${PASSWORD}`;
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ err: echo }));
    });
    for (const auth of ['token', 'basic'] as const) {
      const c = clientOf(console_.url, { auth });
      const { error } = await failureOf(c.getJson('/registry', {}, page()));
      expect(error.code).toBe('client.http');
      expect(error.message).toContain('[REDACTED]');
      expect(error.message).not.toContain('\u001b');
      expect(error.message).toContain('\\u001b]0;pwned\\u0007');
      expectNoSecret(everything(error, c.log));
      await c.close();
    }
  });

  it('redacts a password echoed by POST /authenticate and a token echoed in malformed JSON', async () => {
    let echoLogin = true;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        if (req.url?.includes('/authenticate')) {
          if (echoLogin) res.writeHead(401).end(JSON.stringify({ err: `invalid credentials ${body}` }));
          else res.writeHead(200).end(JSON.stringify({ token: TOKEN }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${req.headers.authorization} [oops`);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const login = await failureOf(clientOf(url).getJson('/registry', {}, page()));
    expect(login.error.code).toBe('client.auth');
    expectNoSecret(everything(login.error, []));
    await client?.close();
    echoLogin = false;
    const c = clientOf(url);
    const garbled = await failureOf(c.getJson('/registry', {}, page()));
    expect(garbled.error.code).toBe('client.pageFailed');
    expectNoSecret(everything(garbled.error, c.log));
  });

  it('reports invalid UTF-8 in a body with a warning naming the page', async () => {
    const console_ = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.concat([Buffer.from('["bad \u00e9 '), Buffer.from([0xff, 0xfe]), Buffer.from('"]')]));
    });
    const c = clientOf(console_.url);
    const { body } = await c.getJson('/registry', {}, page('page offset=0'));
    expect(body).toEqual(['bad \u00e9 \ufffd\ufffd']);
    const warning = c.log.find((l) => l.level === 'warn' && /invalid UTF-8/.test(l.message));
    expect(warning?.data?.request).toContain('page offset=0');
  });
});

describe('honest transport', () => {
  it('refuses credentials over plain http:// to a host that is not loopback, naming PRISMA_CONSOLE_URL', () => {
    expect(
      () =>
        new ConsoleClient({
          baseUrl: 'http://console.example.com',
          credentials: { username: 'u', password: PASSWORD },
        }),
    ).toThrow(/^consoleUrl: .*plain http:\/\/.*setting allowHttp/);
    const logger = capturingLogger();
    const allowed = new ConsoleClient({
      baseUrl: 'http://console.example.com',
      credentials: { username: 'u', password: PASSWORD },
      allowHttp: true,
      logger,
    });
    expect(logger.lines.some((l) => l.level === 'warn' && /PLAIN HTTP/.test(l.message))).toBe(true);
    void allowed.close();
  });

  it('ignores a Total-Count of 2^53 or more, 1e400 or 400 digits with a warning, and pages on', async () => {
    expect(parseTotalCount('9007199254740993')).toBeUndefined();
    expect(parseTotalCount('1e400')).toBeUndefined();
    expect(parseTotalCount('9'.repeat(400))).toBeUndefined();
    expect(parseTotalCount('9007199254740991')).toBe(9007199254740991);
    const console_ = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'total-count': '9'.repeat(400) });
      res.end(JSON.stringify([{ _id: 'sha256:a', repoTag: { registry: 'r', repo: 'a', tag: '1' } }]));
    });
    const c = clientOf(console_.url);
    const pages = [];
    for await (const p of new RegistryPager(c)) pages.push(p);
    expect(pages.map((p) => [p.reports.length, p.totalCount])).toEqual([[1, undefined]]);
    expect(c.log.some((l) => /unusable Total-Count/.test(l.message))).toBe(true);
  });
});
