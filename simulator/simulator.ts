/**
 * A Prisma Cloud Compute console over real HTTP. Every request: log entry → (/registry GETs) the
 * GET count and hooks → fault → rate limit → auth → endpoint. A fault takes precedence over the
 * rate limiter but still occupies a window slot when one is free.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { SyncError } from '../lambda/common/errors.js';
import { Catalog } from './catalog.js';
import {
  applyFault,
  type Fault,
  FaultInjector,
  type FaultOutcome,
  type FaultPlan,
  faultLabel,
} from './faults.js';
import type { HistoryClock } from './generator.js';
import { rngFor } from './prng.js';
import { ScanProgress, type ScanProgressInput } from './progress.js';
import { SlidingWindowLimiter } from './rate-limit.js';
import { authenticate, type ConsoleState, json, type Reply, registry, tooManyRequests } from './routes.js';

export { MAX_PAGE_SIZE } from './routes.js';

/** Options and their defaults: simulator/README.md. */
export interface SimulatorOptions {
  port?: number;
  images?: number;
  seed?: number | string;
  username?: string;
  password?: string;
  /** E.g. '/us-1-111111111': the console then serves /us-1-111111111/api/<v>/... */
  pathPrefix?: string;
  rateLimit?: { requests: number; windowMs: number } | false;
  retryAfter?: 'seconds' | 'date' | false;
  totalCountHeader?: boolean;
  tokenTtlMs?: number;
  /** Share of reports over 1 MB. */
  heavyFraction?: number;
  faults?: FaultPlan;
  latencyMs?: number;
  gzip?: boolean;
  /** `end`: ISO 8601 or epoch ms, default now floored to the hour. */
  history?: { days: number; steps: number; end?: string | number };
}

export type SimulatorHistory = Pick<Catalog, 'step' | 'steps' | 'at' | 'advance'>;

export interface RequestLogEntry {
  seq: number;
  /** ms since start (monotonic). */
  at: number;
  method: string;
  /** Path without the path prefix, e.g. `/api/v34.04/registry`. */
  path: string;
  query: Record<string, string | string[]>;
  status: number;
  fault?: string;
  auth: 'bearer' | 'basic' | 'none';
}

export type SimulatorTruth = Pick<
  Catalog,
  'mark' | 'present' | 'persistentSince' | 'everPresentSince' | 'report'
>;

export type SimulatorMutations = Pick<Catalog, 'add' | 'remove' | 'rescan'>;

export interface RunningSimulator {
  /** Base URL including the path prefix, no trailing slash: what PRISMA_CONSOLE_URL is set to. */
  url: string;
  port: number;
  close(): Promise<void>;
  requestLog: ReadonlyArray<RequestLogEntry>;
  setFaults(plan: FaultPlan): void;
  mutate: SimulatorMutations;
  /** Called before serving the n-th /registry GET (1-based); tests mutate mid-paging here. */
  onRegistryRequest(hook: (n: number, sim: RunningSimulator) => void): void;
  truth: SimulatorTruth;
  setScanProgress(progress: ScanProgressInput): void;
  history: SimulatorHistory | undefined;
}

const ROUTE = /^\/api\/(v\d+(?:\.\d+)?)\/(authenticate|registry\/progress|registry)\/?$/;
const GZIP_MIN_BYTES = 1024;
const HOUR_MS = 3_600_000;

function invalid(option: string, expected: string, value: unknown): never {
  const message = `simulator option ${option}: expected ${expected}, got ${String(value)}`;
  throw new SyncError('sim.invalidOptions', message, { option });
}

function historyClock(option: NonNullable<SimulatorOptions['history']>): HistoryClock {
  const { days, steps } = option;
  if (!(days > 0 && Number.isFinite(days))) invalid('history.days', 'a positive number of days', days);
  if (!Number.isInteger(steps) || steps < 2) invalid('history.steps', 'a whole number >= 2', steps);
  const given = typeof option.end === 'string' ? Date.parse(option.end) : option.end;
  const end = given ?? Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  if (!Number.isFinite(end)) invalid('history.end', 'an ISO 8601 date or epoch ms', option.end);
  const spanMs = Math.round(days * 24 * HOUR_MS);
  return { startMs: Math.floor(end) - spanMs, spanMs, steps };
}

function checkOptions(options: SimulatorOptions): void {
  const { images = 200, heavyFraction = 0.01, tokenTtlMs = 1, latencyMs = 0, rateLimit } = options;
  if (!Number.isInteger(images) || images < 0) invalid('images', 'a whole number', images);
  const { requests, windowMs } = rateLimit || { requests: 1, windowMs: 1 };
  if (!Number.isInteger(requests) || requests < 1 || !(windowMs > 0))
    invalid('rateLimit', '{ requests >= 1, windowMs > 0 }', JSON.stringify(rateLimit));
  if (!(heavyFraction >= 0 && heavyFraction <= 1))
    invalid('heavyFraction', 'a share in [0, 1]', heavyFraction);
  if (!(tokenTtlMs > 0)) invalid('tokenTtlMs', 'a positive number of ms', tokenTtlMs);
  if (!(latencyMs >= 0)) invalid('latencyMs', 'a non-negative number of ms', latencyMs);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Sign-in: the console's credentials (compared as hashes, in constant time) and its bearer tokens. */
class Credentials {
  private readonly hashes: [Buffer, Buffer];
  private readonly tokens = new Map<string, number>();
  private issued = 0;

  constructor(
    user: string,
    password: string,
    private readonly seed: number | string,
    private readonly ttlMs: number,
  ) {
    this.hashes = [sha256(user), sha256(password)];
  }

  match(user: string, password: string): boolean {
    // Both comparisons always run: no early exit that would time the username.
    const userOk = timingSafeEqual(sha256(user), this.hashes[0]);
    return Number(timingSafeEqual(sha256(password), this.hashes[1])) + Number(userOk) === 2;
  }

  issue(): string {
    const token = `sim.${rngFor(this.seed, 'token', ++this.issued).hex(48)}`;
    this.tokens.set(token, performance.now() + this.ttlMs);
    return token;
  }

  expireAll(): void {
    this.tokens.clear();
  }

  /** The scheme of an Authorization header and whether it is accepted. */
  check(header = ''): { kind: 'bearer' | 'basic' | 'none'; valid: boolean } {
    const [scheme = '', value = ''] = header.split(' ', 2);
    if (scheme.toLowerCase() === 'bearer') {
      const expiresAt = this.tokens.get(value.trim());
      return { kind: 'bearer', valid: expiresAt !== undefined && performance.now() < expiresAt };
    }
    if (scheme.toLowerCase() !== 'basic') return { kind: 'none', valid: false };
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const valid = colon >= 0 && this.match(decoded.slice(0, colon), decoded.slice(colon + 1));
    return { kind: 'basic', valid };
  }
}

interface Exchange {
  entry: RequestLogEntry;
  endpoint: string | undefined;
  params: URLSearchParams;
  fault: Fault | undefined;
}

/** The request pipeline of one simulated console: receive, answer, apply the fault, send. */
class ConsoleServer {
  readonly requestLog: RequestLogEntry[] = [];
  readonly hooks: Array<(n: number) => void> = [];
  faults: FaultInjector;
  private requests = 0;
  private registryGets = 0;
  private readonly startedAt = performance.now();
  readonly prefix: string;
  private readonly limiter: SlidingWindowLimiter | undefined;

  constructor(
    private readonly options: SimulatorOptions,
    private readonly state: ConsoleState,
    private readonly credentials: Credentials,
  ) {
    const prefix = options.pathPrefix?.replace(/^\/+|\/+$/g, '') ?? '';
    this.prefix = prefix === '' ? '' : `/${prefix}`;
    const rateLimit = options.rateLimit ?? { requests: 30, windowMs: 30_000 };
    this.limiter = rateLimit === false ? undefined : new SlidingWindowLimiter(rateLimit);
    this.faults = new FaultInjector(options.faults);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const exchange = this.receive(req);
    const { fault } = exchange;
    const reply = await this.answer(req, exchange);
    const settings = {
      retryAfter: this.options.retryAfter ?? 'seconds',
      expireTokens: () => this.credentials.expireAll(),
    };
    const outcome = fault === undefined ? reply : applyFault(fault, reply, settings);
    const delay = (this.options.latencyMs ?? 0) + (fault?.kind === 'slow' ? fault.ms! : 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.send(req, res, outcome, exchange);
  }

  /** Logs the request, counts /registry GETs (running the hooks) and draws its fault. */
  private receive(req: IncomingMessage): Exchange {
    const url = new URL(req.url ?? '/', 'http://simulator.local');
    const inPrefix = this.prefix === '' || url.pathname.startsWith(`${this.prefix}/`);
    const path = inPrefix ? url.pathname.slice(this.prefix.length) : url.pathname;
    const query = Object.fromEntries(
      [...new Set(url.searchParams.keys())].map((name) => {
        const values = url.searchParams.getAll(name);
        return [name, values.length === 1 ? values[0]! : values];
      }),
    );
    const method = req.method ?? 'GET';
    const seq = ++this.requests;
    const at = performance.now() - this.startedAt;
    const auth = this.credentials.check(req.headers.authorization).kind;
    const entry: RequestLogEntry = { seq, at, method, path, query, status: 0, auth };
    this.requestLog.push(entry);
    const endpoint = inPrefix ? ROUTE.exec(path)?.[2] : undefined;
    let registryGet: number | undefined;
    if (endpoint === 'registry' && method === 'GET') {
      registryGet = ++this.registryGets;
      for (const hook of this.hooks) hook(registryGet);
    }
    const fault = endpoint === undefined ? undefined : this.faults.next({ request: seq, registryGet });
    if (fault !== undefined) entry.fault = faultLabel(fault);
    return { entry, endpoint, params: url.searchParams, fault };
  }

  /** Rate limit (a fault goes first), method, auth, then the endpoint's handler. */
  private async answer(req: IncomingMessage, { entry, endpoint, params, fault }: Exchange): Promise<Reply> {
    if (endpoint === undefined) return json(404, { err: `no such endpoint ${entry.path}` });
    const decision = this.limiter?.admit(performance.now()) ?? { admitted: true };
    if (!decision.admitted && fault === undefined)
      return tooManyRequests(this.options.retryAfter ?? 'seconds', decision.retryAfterMs);
    if (endpoint === 'authenticate') {
      return req.method === 'POST' ? authenticate(req, this.state) : json(405, { err: 'method not allowed' });
    }
    if (req.method !== 'GET') return json(405, { err: 'method not allowed' });
    if (fault?.kind === 'token-expiry' || !this.credentials.check(req.headers.authorization).valid) {
      return json(401, { err: entry.auth === 'none' ? 'missing credentials' : 'unauthorized' });
    }
    return endpoint === 'registry' ? registry(params, this.state) : this.state.progress.respond(params);
  }

  private send(req: IncomingMessage, res: ServerResponse, outcome: FaultOutcome, exchange: Exchange): void {
    const { entry, fault } = exchange;
    if (outcome === 'reset') {
      req.socket.destroy();
      return;
    }
    if ('truncateAt' in outcome) {
      const body = Buffer.from(outcome.reply.body);
      entry.status = outcome.reply.status;
      res.writeHead(entry.status, { ...outcome.reply.headers, 'Content-Length': String(body.length) });
      res.write(body.subarray(0, outcome.truncateAt), () => res.destroy());
      return;
    }
    entry.status = outcome.status;
    let body: string | Buffer = outcome.body;
    const headers = { ...outcome.headers };
    const accepts =
      /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && this.options.gzip !== false;
    if (fault === undefined && outcome.compressible && accepts && body.length >= GZIP_MIN_BYTES) {
      // Level 1: zlib's cheapest, and pages still shrink 6-7x (the console's own level is unknown).
      body = gzipSync(body, { level: 1 });
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(Buffer.byteLength(body));
    res.writeHead(outcome.status, headers);
    res.end(body);
  }
}

/** Starts a simulated console on 127.0.0.1 (a free port unless `port`). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  checkOptions(options);
  const seed = options.seed ?? 1;
  const history = options.history === undefined ? undefined : historyClock(options.history);
  const catalog = new Catalog(
    { seed, heavyFraction: options.heavyFraction ?? 0.01, history },
    options.images ?? 200,
  );
  const { username = 'demo', password = 'demo', tokenTtlMs = 30 * 60_000 } = options;
  const credentials = new Credentials(username, password, seed, tokenTtlMs);
  const progress = new ScanProgress();
  const state: ConsoleState = {
    catalog,
    progress,
    totalCountHeader: options.totalCountHeader ?? true,
    credentials,
  };
  const console = new ConsoleServer(options, state, credentials);
  const server = createServer((req, res) => {
    console.handle(req, res).catch((error: unknown) => {
      const last = console.requestLog[console.requestLog.length - 1];
      if (last !== undefined && last.status === 0) last.status = 500;
      if (res.headersSent) return res.destroy();
      const err = `simulator error: ${error instanceof Error ? error.message : String(error)}`;
      res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ err }));
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const sim: RunningSimulator = {
    url: `http://127.0.0.1:${port}${console.prefix}`,
    port,
    requestLog: console.requestLog,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
    setFaults: (plan) => {
      console.faults = new FaultInjector(plan);
    },
    mutate: catalog,
    onRegistryRequest: (hook) => console.hooks.push((n) => hook(n, sim)),
    truth: catalog,
    setScanProgress: (input) => progress.set(input),
    history: history === undefined ? undefined : catalog,
  };
  return sim;
}
