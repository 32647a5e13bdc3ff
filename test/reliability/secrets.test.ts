/**
 * Secrets never leave the process: every CLI command runs with a distinctive password (verbose, in
 * success and failure paths), and no stdout, stderr or log line may carry the password, a token the
 * console issued, or the Basic header value. A recording proxy in front of the simulator collects
 * every token the console hands out. TLS verification stays on unless PRISMA_INSECURE_TLS=1 /
 * --insecure-tls says otherwise (and then the CLI warns).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lambda/cli.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { localDynamoEnv, uniqueTablePrefix } from '../support/dynamo.js';
import { registryGetCount } from '../support/e2e.js';

const USERNAME = 'rel-user';
const PASSWORD = 'Pw-S3cr3t-7f1c!x9';
const prefix = uniqueTablePrefix('secrets');
const tokens = new Set<string>();
let sim: RunningSimulator;
let proxy: Server;
let proxyUrl: string;
let tlsServer: Server;
let tlsUrl: string;
let dir: string;

/** Forwards to the simulator, uncompressed, and remembers every token /authenticate returns. */
function recordingProxy(target: URL, handler = createHttpServer()): Server {
  handler.on('request', (req, res) => {
    const headers = { ...req.headers, 'accept-encoding': 'identity', host: target.host };
    const forward = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          if (req.url?.includes('/authenticate')) {
            try {
              const token = (JSON.parse(body.toString('utf8')) as { token?: unknown }).token;
              if (typeof token === 'string') tokens.add(token);
            } catch {
              // not a token answer (a 401): nothing to remember
            }
          }
          const { 'content-length': _length, 'transfer-encoding': _te, ...rest } = answer.headers;
          res.writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': body.length });
          res.end(body);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  return handler;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  sim = await startSimulator({
    images: 6,
    seed: 3,
    rateLimit: false,
    heavyFraction: 0,
    username: USERNAME,
    password: PASSWORD,
  });
  proxy = recordingProxy(new URL(sim.url));
  proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;
  // A self-signed certificate nobody trusts: the TLS failure path and the explicit opt-out.
  dir = mkdtempSync(join(tmpdir(), 'secrets-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  tlsServer = recordingProxy(
    new URL(sim.url),
    createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }),
  );
  tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}`;
}, 240_000);

afterAll(async () => {
  for (const server of [proxy, tlsServer]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(into: string[]): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      into.push(String(chunk));
      done();
    },
  });
}

/** Runs the CLI in-process with `env`, capturing its output and anything written to the process streams. */
async function cli(argv: string[], env: Record<string, string> = {}): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const stray: string[] = [];
  const original = { out: process.stdout.write, err: process.stderr.write };
  const spy = (chunk: unknown) => {
    stray.push(String(chunk));
    return true;
  };
  process.stdout.write = spy as typeof process.stdout.write;
  process.stderr.write = spy as typeof process.stderr.write;
  try {
    const code = await main(
      ['--verbose', ...argv],
      {
        stdout: sink(out) as unknown as NodeJS.WriteStream,
        stderr: sink(err) as unknown as NodeJS.WriteStream,
      },
      {
        ...localDynamoEnv(prefix),
        PRISMA_CONSOLE_URL: proxyUrl,
        PRISMA_USERNAME: USERNAME,
        PRISMA_PASSWORD: PASSWORD,
        PRISMA_CONSOLE_ID: 'secrets',
        ...env,
      },
    );
    return { code, stdout: out.join(''), stderr: err.join('') + stray.join('') };
  } finally {
    process.stdout.write = original.out;
    process.stderr.write = original.err;
  }
}

/** Every form a secret could leak in. */
function forbidden(): string[] {
  const basic = Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64');
  return [
    PASSWORD,
    encodeURIComponent(PASSWORD),
    JSON.stringify(PASSWORD).slice(1, -1),
    Buffer.from(PASSWORD).toString('base64'),
    basic,
    ...tokens,
  ];
}

function expectNoSecret(label: string, captured: Captured): void {
  for (const secret of forbidden()) {
    expect(captured.stdout.includes(secret), `${label}: stdout carries a secret`).toBe(false);
    expect(captured.stderr.includes(secret), `${label}: stderr carries a secret`).toBe(false);
  }
}

const ran: string[] = [];

describe('secrets in output', () => {
  it('never prints the password, a token or the Basic value in any command that succeeds', async () => {
    const commands: string[][] = [
      ['tables', 'create'],
      ['tables', 'create', '--json'],
      ['sync', '--json'],
      ['sync'],
      ['progress'],
      ['progress', '--json'],
      ['query', 'images', '--json'],
      ['query', 'images'],
      ['query', 'runs', '--json'],
      ['query', 'changes', '--since', '2000-01-01T00:00:00Z', '--json'],
    ];
    for (const argv of commands) {
      const captured = await cli(argv);
      expect(captured.code, `${argv.join(' ')}: ${captured.stderr}`).toBe(0);
      expectNoSecret(argv.join(' '), captured);
      ran.push(argv.join(' '));
    }
    const images = JSON.parse((await cli(['query', 'images', '--json'])).stdout) as Array<{
      registry: string;
      repo: string;
      tag: string;
    }>;
    const first = images[0]!;
    const where = ['--registry', first.registry, '--repo', first.repo, '--tag', first.tag];
    const image = await cli(['query', 'image', ...where, '--json']);
    expectNoSecret('query image', image);
    const cveId =
      (JSON.parse(image.stdout) as { findings: Array<{ id: string }> }).findings[0]?.id ?? 'CVE-0';
    for (const argv of [['query', 'history', ...where, '--json'], ['query', 'cve', cveId], ['--help']]) {
      const captured = await cli(argv);
      expect(captured.code).toBe(0);
      expectNoSecret(argv.join(' '), captured);
      ran.push(argv.join(' '));
    }
    expect(tokens.size).toBeGreaterThan(0);
  });

  it('never prints them on failure paths: wrong credentials, TLS, 5xx, a quarantined report, bad configuration', async () => {
    const failures: Array<{
      label: string;
      argv: string[];
      env?: Record<string, string>;
      before?: () => void;
      /** Not a failure of the run: the bad report is quarantined (SPEC §4.7) and listed in the output. */
      completes?: boolean;
    }> = [
      { label: 'wrong password', argv: ['sync', '--json'], env: { PRISMA_PASSWORD: `${PASSWORD}-wrong` } },
      { label: 'wrong user', argv: ['progress'], env: { PRISMA_USERNAME: 'nobody' } },
      { label: 'untrusted certificate', argv: ['sync', '--json'], env: { PRISMA_CONSOLE_URL: tlsUrl } },
      {
        label: '5xx until the time budget',
        argv: ['sync', '--fresh', '--max-duration', '2s'],
        before: () => sim.setFaults({ random: { probability: 1, seed: 1, faults: ['5xx-html'] } }),
      },
      {
        label: 'a schema-invalid report',
        argv: ['sync', '--fresh', '--json'],
        before: () =>
          sim.setFaults({ scripted: [{ at: registryGetCount(sim) + 1, fault: { kind: 'schema-drift' } }] }),
        completes: true,
      },
      {
        label: 'credentials in the URL',
        argv: ['sync'],
        env: { PRISMA_CONSOLE_URL: `http://${USERNAME}:${encodeURIComponent(PASSWORD)}@127.0.0.1:1` },
      },
      { label: 'password without a user', argv: ['sync'], env: { PRISMA_USERNAME: '' } },
      { label: 'bad flag', argv: ['sync', '--max-duration', 'soon'] },
    ];
    for (const failure of failures) {
      sim.setFaults({});
      failure.before?.();
      const captured = await cli(failure.argv, failure.env);
      if (failure.completes) {
        expect(captured.code, `${failure.label} completes: ${captured.stderr}`).toBe(0);
        expect(captured.stdout, `${failure.label} is listed`).toContain('client.schema');
      } else {
        expect(captured.code, `${failure.label} should not succeed: ${captured.stderr}`).not.toBe(0);
      }
      expect(captured.stderr.length, `${failure.label} explains itself`).toBeGreaterThan(0);
      expectNoSecret(failure.label, captured);
      ran.push(failure.label);
    }
    sim.setFaults({});
  });

  it('names the failure clearly without the secret: auth, TLS and configuration', async () => {
    const wrong = await cli(['sync'], { PRISMA_PASSWORD: `${PASSWORD}-wrong` });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/auth/i);
    const tls = await cli(['sync'], { PRISMA_CONSOLE_URL: tlsUrl });
    expect(tls.code).toBe(1);
    expect(tls.stderr).toContain('PRISMA_CA_BUNDLE');
    const url = await cli(['sync'], {
      PRISMA_CONSOLE_URL: `http://u:${encodeURIComponent(PASSWORD)}@127.0.0.1:1`,
    });
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('PRISMA_CONSOLE_URL');
  });

  it('keeps TLS verification on unless it is turned off explicitly, and warns when it is', async () => {
    // NODE_TLS_REJECT_UNAUTHORIZED=0 (a common "fix" pasted into shells) must not turn it off.
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const implicit = await cli(['progress'], { PRISMA_CONSOLE_URL: tlsUrl, PRISMA_INSECURE_TLS: '0' });
      expect(implicit.code).toBe(1);
      expect(implicit.stderr).toContain('client.tls');
    } finally {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    }
    const vague = await cli(['progress'], { PRISMA_CONSOLE_URL: tlsUrl, PRISMA_INSECURE_TLS: 'yes' });
    expect(vague.code).toBe(2);
    expect(vague.stderr).toContain('PRISMA_INSECURE_TLS');

    const explicitOptOuts: Array<{ argv: string[]; env: Record<string, string> }> = [
      { argv: ['progress'], env: { PRISMA_CONSOLE_URL: tlsUrl, PRISMA_INSECURE_TLS: '1' } },
      { argv: ['--insecure-tls', 'progress'], env: { PRISMA_CONSOLE_URL: tlsUrl } },
    ];
    for (const explicit of explicitOptOuts) {
      const captured = await cli(explicit.argv, explicit.env);
      expect(captured.code, captured.stderr).toBe(0);
      expect(captured.stderr).toMatch(/TLS certificate verification is OFF/);
      expectNoSecret('insecure', captured);
    }
  });

  it('keeps them out of a real child process too (bin, wrong and right password)', async () => {
    const bin = join(process.cwd(), 'bin', 'prisma-registry-sync.js');
    const run = (password: string) =>
      new Promise<Captured>((resolve) => {
        execFile(
          process.execPath,
          [bin, '--verbose', 'progress', '--json'],
          {
            env: {
              PATH: process.env.PATH ?? '',
              ...localDynamoEnv(prefix),
              PRISMA_CONSOLE_URL: proxyUrl,
              PRISMA_USERNAME: USERNAME,
              PRISMA_PASSWORD: password,
            },
            timeout: 60_000,
          },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const wrong = await run(`${PASSWORD}-wrong`);
    expect(wrong.code).toBe(1);
    expectNoSecret('child, wrong password', wrong);
    const right = await run(PASSWORD);
    expect(right.code, right.stderr).toBe(0);
    expectNoSecret('child, right password', right);
    console.info(`secrets: ${ran.length + 2} command runs checked, ${tokens.size} tokens watched`);
  });
});
