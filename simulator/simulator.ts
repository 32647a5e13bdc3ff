/**
 * The console simulator: a Prisma Cloud Compute console over real HTTP (node:http), serving
 * `/api/<v>/authenticate`, `/api/<v>/registry` and `/api/<v>/registry/progress` for any
 * `v<major>.<minor>` and the legacy `/api/v1`, under an optional path prefix.
 *
 * Processing order of every request: log sequence number → (for /registry GETs) the GET count and
 * the `onRegistryRequest` hooks → scripted/random fault → rate limit → auth → the endpoint.
 * A fault takes precedence over the rate limiter but still occupies a window slot when one is free.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SyncError } from '../lambda/common/errors.js';
import { AsciiWriter } from './ascii-writer.js';
import { Catalog, type CatalogEntry, compareKeys, type HistoryStep } from './catalog.js';
import { gzipWithMatches } from './deflate.js';
import { type Fault, FaultInjector, type FaultPlan, faultLabel } from './faults.js';
import {
  generateReport,
  type HistoryClock,
  projectFields,
  type RawReport,
  stepDateMs,
  writeCompactReport,
} from './generator.js';
import { isoTime } from './iso-time.js';
import { LruCache } from './lru-cache.js';
import { rngFor } from './prng.js';
import { ScanProgress, type ScanProgressInput } from './progress.js';
import { SlidingWindowLimiter } from './rate-limit.js';

export interface SimulatorOptions {
  /** 0 / undefined = a free port on 127.0.0.1. */
  port?: number;
  /** Initial image count. Default 200. */
  images?: number;
  /** Same seed => byte-identical response bodies. Default 1. */
  seed?: number | string;
  /** Default 'demo'. */
  username?: string;
  /** Default 'demo'. */
  password?: string;
  /** E.g. '/us-1-111111111': the console then serves /us-1-111111111/api/<v>/... */
  pathPrefix?: string;
  /** Default 30 requests per 30,000 ms over all API requests; false = unthrottled. */
  rateLimit?: { requests: number; windowMs: number } | false;
  /** Retry-After on 429: seconds until a slot frees (rounded up), an HTTP date, or absent. Default 'seconds'. */
  retryAfter?: 'seconds' | 'date' | false;
  /** Send `Total-Count` on /registry. Default true. */
  totalCountHeader?: boolean;
  /** Bearer token lifetime. Default 30 minutes. */
  tokenTtlMs?: number;
  /** Share of reports over 1 MB. Default 0.01. */
  heavyFraction?: number;
  faults?: FaultPlan;
  /** Delay before every response. */
  latencyMs?: number;
  /** gzip bodies for clients that accept it, as real consoles do. Default true; false = always identity. */
  gzip?: boolean;
  /**
   * Play back `days` of registry scans in `steps` steps ending at `end` (ISO 8601 or epoch ms;
   * default now, floored to the hour): the console starts at the first step, `sim.history.advance()`
   * moves it to the next.
   */
  history?: { days: number; steps: number; end?: string | number };
}

/** A console playing back history (see {@link SimulatorOptions.history}). */
export interface SimulatorHistory {
  /** The current step, 0 to `steps - 1`. */
  readonly step: number;
  readonly steps: number;
  /** The current step's date (ISO 8601). */
  readonly at: string;
  /** Moves to the next step; throws `sim.historyEnded` at the last one. */
  advance(): HistoryStep;
}

export interface RequestLogEntry {
  seq: number;
  /** ms since the simulator started (monotonic). */
  at: number;
  method: string;
  /** Path without the path prefix, e.g. `/api/v34.04/registry`. */
  path: string;
  query: Record<string, string | string[]>;
  status: number;
  fault?: string;
  auth: 'bearer' | 'basic' | 'none';
}

export interface SimulatorTruth {
  /** A logical time (a counter advanced by every mark and every mutation). */
  mark(): number;
  /** Image keys present now, in console order. */
  present(): string[];
  /** Keys present continuously from `mark` until now: a completed sync must hold them. */
  persistentSince(mark: number): string[];
  /** Keys present at any time since `mark`: a sync may hold these and no others. */
  everPresentSince(mark: number): string[];
  /** The current raw (full) report of a present image. */
  report(key: string): unknown;
}

export interface SimulatorMutations {
  /** Adds images; `sortEarly` names them so each sorts before every image already present. */
  add(count: number, opts?: { sortEarly?: boolean }): string[];
  /** Removes the given keys, or that many images chosen by the seeded rng. */
  remove(keys: string[] | number): string[];
  /** New scanTime for the given keys (or that many seeded picks); optionally changed vulnerabilities. */
  rescan(keys: string[] | number, opts?: { changeFindings?: boolean }): string[];
}

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
  /** Drives /registry/progress (the regular scan and on-demand scans). */
  setScanProgress(progress: ScanProgressInput): void;
  /** Set when started with the `history` option. */
  history: SimulatorHistory | undefined;
}

/** The console's page cap. */
export const MAX_PAGE_SIZE = 50;

const ROUTE = /^\/api\/(v\d+(?:\.\d+)?)\/(authenticate|registry\/progress|registry)\/?$/;
const GZIP_MIN_BYTES = 1024;
const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const REPORT_CACHE_BYTES = 128 * 1024 * 1024;
const PAGE_CACHE_BYTES = 64 * 1024 * 1024;

const HTML_429 =
  '<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function htmlError(status: number): string {
  const reason: Record<number, string> = {
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Temporarily Unavailable',
    504: 'Gateway Time-out',
  };
  const title = `${status} ${reason[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

const HTML_200 =
  '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Prisma Cloud | Login</title></head>\n<body><div id="root">Please sign in to continue.</div><script src="/static/app.js"></script></body></html>\n';

/** Where pages are assembled: reused, since a page is built synchronously from start to end. */
const PAGE_WRITER_RETAINED_BYTES = 4 * 1024 * 1024;
const pageWriter = new AsciiWriter(256 * 1024);

/** Serialized full reports (JSON text; a page joins them), shared by every simulator in the process. */
const reportCache = new LruCache<string>(REPORT_CACHE_BYTES, (json) => json.length);

/** A served /registry page, in the forms asked for so far (at least one is set). */
interface CachedPage {
  /** The JSON body; decompressed from `gzip` when an identity client first asks. */
  body: Buffer | undefined;
  /** The gzip body (never for bodies under GZIP_MIN_BYTES, which are always sent as they are). */
  gzip: Buffer | undefined;
  /** The JSON body's length in bytes. */
  size: number;
  totalCount: number;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  /** Whether gzip may be applied (JSON bodies of normal responses). */
  compressible: boolean;
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
    compressible: true,
  };
}

/**
 * zlib settings for pages other than compact ones (those use gzipWithMatches: about half the
 * cost, about half the ratio). The console's own level is unknown; level 1 is zlib's cheapest and
 * still compresses pages 6-7x. Synchronous: on the thread pool a page cost more CPU (stream setup,
 * a thread hop) and, measured, no less time per page.
 */
const GZIP_OPTIONS = { level: 1 } as const;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // One pass over the parameters (not a getAll per name): this runs for every request logged.
  for (const [name, value] of params) {
    const before = Object.hasOwn(out, name) ? out[name] : undefined;
    if (before === undefined) out[name] = value;
    else if (typeof before === 'string') out[name] = [before, value];
    else before.push(value);
  }
  return out;
}

/** A request target whose path and query `new URL` would leave as they are (checked per request). */
const PLAIN_PATH = /^\/(?!\/)[\w.\-/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
const PLAIN_QUERY = /^[\x21-\x22\x24-\x7e]*$/;

/**
 * The path and query of a request target, as `new URL(target, base)` gives them. A plain target
 * (the paging requests a client sends) is split without building a URL, a measurable share of a
 * cached page's cost; anything else (dot segments, escapes, a fragment, ...) goes through URL.
 */
function parseTarget(target: string): { pathname: string; searchParams: URLSearchParams } {
  const mark = target.indexOf('?');
  const pathname = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? '' : target.slice(mark + 1);
  if (PLAIN_PATH.test(pathname) && !DOT_SEGMENT.test(pathname) && PLAIN_QUERY.test(query)) {
    return { pathname, searchParams: new URLSearchParams(query) };
  }
  return new URL(target, 'http://simulator.local');
}

/** Repeated and comma-separated values of an array query parameter. */
function listParam(params: URLSearchParams, name: string): string[] {
  // Most requests carry none of the list parameters: skip building four arrays for each.
  if (!params.has(name)) return [];
  return params
    .getAll(name)
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  return `/${prefix.replace(/^\/+|\/+$/g, '')}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The sort keys `/registry?sort=` supports (cheap, from naming facts); others keep the default order. */
const SORT_KEYS: Record<string, (entry: CatalogEntry, scanTime: (e: CatalogEntry) => string) => string> = {
  'repoTag.registry': (e) => e.slot.registry,
  'repoTag.repo': (e) => e.slot.repo,
  'repoTag.tag': (e) => e.slot.tag,
  _id: (e) => e.slot.reportId,
  id: (e) => e.slot.imageId,
  scanTime: (e, scanTime) => scanTime(e),
};

/**
 * Starts a simulated console on 127.0.0.1.
 *
 * @example
 * const sim = await startSimulator({ images: 120, rateLimit: false });
 * const { token } = await (await fetch(`${sim.url}/api/v34.04/authenticate`, {
 *   method: 'POST', body: JSON.stringify({ username: 'demo', password: 'demo' }),
 * })).json();
 * const page = await fetch(`${sim.url}/api/v34.04/registry?limit=50&offset=0`, { headers: { Authorization: `Bearer ${token}` } });
 * page.headers.get('Total-Count'); // '120'
 * await sim.close();
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const seed = options.seed ?? 1;
  const username = options.username ?? 'demo';
  const password = options.password ?? 'demo';
  const prefix = normalizePrefix(options.pathPrefix);
  const tokenTtlMs = options.tokenTtlMs ?? 30 * 60_000;
  const retryAfterStyle = options.retryAfter ?? 'seconds';
  const totalCountHeader = options.totalCountHeader ?? true;
  const rateLimit = options.rateLimit ?? { requests: 30, windowMs: 30_000 };
  const latencyMs = options.latencyMs ?? 0;
  const gzipEnabled = options.gzip ?? true;
  const images = options.images ?? 200;
  const invalid = (option: string, expected: string, value: unknown): never => {
    throw new SyncError(
      'sim.invalidOptions',
      `simulator option ${option}: expected ${expected}, got ${String(value)}`,
      {
        option,
      },
    );
  };
  if (!Number.isInteger(images) || images < 0) invalid('images', 'a whole number', images);
  if (
    rateLimit !== false &&
    (!Number.isInteger(rateLimit.requests) || rateLimit.requests < 1 || !(rateLimit.windowMs > 0))
  ) {
    invalid('rateLimit', '{ requests >= 1, windowMs > 0 }', JSON.stringify(rateLimit));
  }
  const heavyFraction = options.heavyFraction ?? 0.01;
  if (!(heavyFraction >= 0 && heavyFraction <= 1))
    invalid('heavyFraction', 'a share in [0, 1]', heavyFraction);
  if (!(tokenTtlMs > 0)) invalid('tokenTtlMs', 'a positive number of ms', tokenTtlMs);
  if (!(latencyMs >= 0)) invalid('latencyMs', 'a non-negative number of ms', latencyMs);

  const history = options.history === undefined ? undefined : historyClock(options.history, invalid);
  const catalog = new Catalog({ seed, heavyFraction, history }, images);
  const limiter = rateLimit === false ? undefined : new SlidingWindowLimiter(rateLimit);
  const progress = new ScanProgress();
  let faults = new FaultInjector(options.faults);
  const hooks: Array<(n: number, sim: RunningSimulator) => void> = [];
  const requestLog: RequestLogEntry[] = [];
  const tokens = new Map<string, number>();
  let tokenCount = 0;
  let requestCount = 0;
  let registryGetCount = 0;
  const startedAt = performance.now();
  const userHash = sha256(username);
  const passwordHash = sha256(password);

  const pageCache = new LruCache<CachedPage>(
    PAGE_CACHE_BYTES,
    (p) => (p.body?.length ?? 0) + (p.gzip?.length ?? 0),
  );
  let closed = false;

  /** The value of the last Basic Authorization header accepted (kept in memory only). */
  let acceptedBasic: Buffer | undefined;
  const credentialsMatch = (user: string, pass: string): boolean =>
    // Both comparisons always run: no early exit that would time the username.
    Number(timingSafeEqual(sha256(user), userHash)) + Number(timingSafeEqual(sha256(pass), passwordHash)) ===
    2;

  function authOf(req: IncomingMessage): { kind: 'bearer' | 'basic' | 'none'; valid: boolean } {
    const header = req.headers.authorization;
    if (header === undefined) return { kind: 'none', valid: false };
    const [scheme, value = ''] = header.split(' ', 2);
    if (scheme?.toLowerCase() === 'bearer') {
      const expiresAt = tokens.get(value.trim());
      return { kind: 'bearer', valid: expiresAt !== undefined && performance.now() < expiresAt };
    }
    if (scheme?.toLowerCase() === 'basic') {
      // A client sends the same header on every request: the last one accepted is compared in
      // constant time instead of decoding and hashing both credentials again (a few % of a page).
      const presented = Buffer.from(value.trim(), 'utf8');
      if (
        acceptedBasic !== undefined &&
        presented.length === acceptedBasic.length &&
        timingSafeEqual(presented, acceptedBasic)
      ) {
        return { kind: 'basic', valid: true };
      }
      const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const valid = colon >= 0 && credentialsMatch(decoded.slice(0, colon), decoded.slice(colon + 1));
      if (valid) acceptedBasic = presented;
      return { kind: 'basic', valid };
    }
    return { kind: 'none', valid: false };
  }

  /** A full report's JSON, cached: it costs 100x a compact one (which is written, never cached). */
  function fullReportJson(entry: CatalogEntry): string {
    // Reports are pure functions of these: simulators with the same seed share the cache.
    const h = entry.history;
    const historyPart =
      h === undefined || history === undefined
        ? ''
        : `|${history.startMs}:${history.spanMs}:${history.steps}:${h.firstStep}:${h.scannedStep}:${h.pushes}:${h.pushedStep}`;
    const cacheKey = `${seed}|${catalog.options.heavyFraction}|${entry.slot.key}|${entry.slot.index}:${entry.scanGeneration}:${entry.findingsVersion}${historyPart}`;
    let json = reportCache.get(cacheKey);
    if (json === undefined) {
      json = JSON.stringify(generateReport(catalog.options, entry.slot, entry));
      reportCache.set(cacheKey, json);
    }
    return json;
  }

  function retryAfterHeader(style: 'seconds' | 'date' | false, waitMs: number): Record<string, string> {
    if (style === false) return {};
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    if (style === 'seconds') return { 'Retry-After': String(seconds) };
    // An HTTP date has whole seconds: round up so waiting until that date always frees a slot.
    return { 'Retry-After': new Date((Math.floor(Date.now() / 1000) + seconds) * 1000).toUTCString() };
  }

  function tooManyRequests(style: 'seconds' | 'date' | false, waitMs: number): Reply {
    return {
      status: 429,
      headers: { 'Content-Type': 'text/html', ...retryAfterHeader(style, waitMs) },
      body: HTML_429,
      compressible: false,
    };
  }

  function filteredEntries(params: URLSearchParams): readonly CatalogEntry[] {
    const names = listParam(params, 'name');
    const imageIds = listParam(params, 'imageID');
    const ids = listParam(params, 'id');
    const registries = params.has('registry')
      ? params
          .getAll('registry')
          .flatMap((v) => v.split(','))
          .map((v) => v.trim())
      : [];
    const repositories = listParam(params, 'repository');
    let entries: readonly CatalogEntry[] = catalog.entries;
    if (names.length + imageIds.length + ids.length + registries.length + repositories.length > 0) {
      const nameSet = new Set(names.map((n) => n.replace(/^https?:\/\//, '')));
      entries = entries.filter((entry) => {
        const { slot } = entry;
        if (nameSet.size > 0) {
          const full =
            slot.registry === '' ? `${slot.repo}:${slot.tag}` : `${slot.registry}/${slot.repo}:${slot.tag}`;
          if (!nameSet.has(full) && !nameSet.has(slot.key)) return false;
        }
        if (imageIds.length > 0 && !imageIds.includes(slot.imageId)) return false;
        if (ids.length > 0 && !ids.includes(slot.reportId)) return false;
        if (registries.length > 0 && !registries.includes(slot.registry)) return false;
        if (repositories.length > 0 && !repositories.includes(slot.repo)) return false;
        return true;
      });
    }
    const sortBy = SORT_KEYS[params.get('sort') ?? ''];
    if (sortBy !== undefined) {
      // Decorate first: a sort key (scanTime) may cost a hash, not to be paid per comparison.
      const scanTime = (e: CatalogEntry) => catalog.scanTime(e);
      entries = entries
        .map((entry) => ({ entry, sortKey: sortBy(entry, scanTime) }))
        .sort((a, b) => compareKeys(a.sortKey, b.sortKey) || compareKeys(a.entry.slot.key, b.entry.slot.key))
        .map((decorated) => decorated.entry);
    }
    return entries;
  }

  function registryPage(params: URLSearchParams, acceptsGzip: boolean): Reply {
    const offsetText = params.get('offset');
    const limitText = params.get('limit');
    const offset = offsetText === null || offsetText === '' ? 0 : Number(offsetText);
    const requestedLimit = limitText === null || limitText === '' ? 0 : Number(limitText);
    if (!Number.isInteger(offset) || offset < 0) return json(400, { err: `invalid offset ${offsetText}` });
    if (!Number.isInteger(requestedLimit) || requestedLimit < 0)
      return json(400, { err: `invalid limit ${limitText}` });
    // No limit (or 0) means a full page; a larger limit is capped.
    const limit = requestedLimit === 0 ? MAX_PAGE_SIZE : Math.min(requestedLimit, MAX_PAGE_SIZE);

    const cacheKey = pageKey(params);
    let page = pageCache.get(cacheKey) ?? buildPage(cacheKey, params, offset, limit, acceptsGzip);
    const gzipped = acceptsGzip && page.size >= GZIP_MIN_BYTES;
    if (gzipped && page.gzip === undefined && page.body !== undefined) {
      page = { ...page, gzip: gzipSync(page.body, GZIP_OPTIONS) };
      pageCache.set(cacheKey, page);
    } else if (!gzipped && page.body === undefined && page.gzip !== undefined) {
      page = { ...page, body: gunzipSync(page.gzip) };
      pageCache.set(cacheKey, page);
    }
    prefetchNextPage(params, offset, limit, page.totalCount, acceptsGzip);
    const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
    if (totalCountHeader) headers['Total-Count'] = String(page.totalCount);
    if (gzipped) headers['Content-Encoding'] = 'gzip';
    const body = gzipped ? page.gzip : page.body;
    if (body === undefined) throw new SyncError('sim.internal', 'a cached page lost its body');
    return { status: 200, headers, body, compressible: false };
  }

  /**
   * Builds a page, caches it and returns it: compressed straight from the writer when the client
   * takes gzip, and only in the form the client takes (the identity body of a gzip page is several
   * times its size, and churning it kept the GC busy).
   */
  function buildPage(
    cacheKey: string,
    params: URLSearchParams,
    offset: number,
    limit: number,
    acceptsGzip: boolean,
  ): CachedPage {
    const totalCount = writePage(params, offset, limit);
    const size = pageWriter.size;
    let page: CachedPage;
    if (!(acceptsGzip && size >= GZIP_MIN_BYTES)) {
      page = { body: pageWriter.toBuffer(), gzip: undefined, size, totalCount };
    } else if (pageWriter.notingRepeats) {
      const { triples, count } = pageWriter.notedRepeats();
      page = {
        body: undefined,
        gzip: gzipWithMatches(pageWriter.view(), size, triples, count),
        size,
        totalCount,
      };
    } else {
      page = { body: undefined, gzip: gzipSync(pageWriter.view(), GZIP_OPTIONS), size, totalCount };
    }
    pageCache.set(cacheKey, page);
    return page;
  }

  /** The page cache key: the catalog version and the query with its parameters in a stable order. */
  function pageKey(params: URLSearchParams): string {
    const sorted = new URLSearchParams(params);
    sorted.sort();
    return `${catalog.version}|${sorted.toString()}`;
  }

  /**
   * After a compact page, builds the next one, as a client paging through the console asks for it
   * next: once the current response is written (setImmediate), so while a client in another
   * process takes in one page, the next is prepared, and a sequential sync measures the client
   * rather than the simulator. Compact pages only (a few hundred µs each); a mutation in between
   * makes the prefetched page unreachable (the key holds the catalog version).
   */
  function prefetchNextPage(
    params: URLSearchParams,
    offset: number,
    limit: number,
    totalCount: number,
    acceptsGzip: boolean,
  ): void {
    if (closed || params.get('compact') !== 'true' || listParam(params, 'fields').length > 0) return;
    if (offset + limit >= totalCount) return;
    const next = new URLSearchParams(params);
    next.set('offset', String(offset + limit));
    const version = catalog.version;
    setImmediate(() => {
      if (closed || catalog.version !== version) return;
      const key = pageKey(next);
      if (pageCache.get(key) !== undefined) return;
      try {
        buildPage(key, next, offset + limit, limit, acceptsGzip);
      } catch {
        // Nothing is lost: the request for that page builds it again and answers the error (500).
      }
    });
  }

  /** Writes the JSON array of a /registry page into {@link pageWriter}; returns the Total-Count. */
  function writePage(params: URLSearchParams, offset: number, limit: number): number {
    const entries = filteredEntries(params);
    const reverse = params.get('reverse') === 'true';
    const compact = params.get('compact') === 'true';
    const fields = listParam(params, 'fields');
    // Compact reports are written straight into the page's bytes (no string per report: a
    // compact report costs a few µs, about what a cache lookup would, so none is cached).
    pageWriter.reset(PAGE_WRITER_RETAINED_BYTES);
    // Compact pages note their repeats, so gzip needs no match search (see deflate.ts).
    pageWriter.noteRepeats(compact && fields.length === 0);
    pageWriter.byte(OPEN_BRACKET);
    for (let i = offset; i < Math.min(entries.length, offset + limit); i++) {
      const entry = entries[reverse ? entries.length - 1 - i : i]!;
      if (i > offset) pageWriter.byte(COMMA);
      if (fields.length > 0) {
        pageWriter.utf8(
          JSON.stringify(projectFields(generateReport(catalog.options, entry.slot, entry), fields)),
        );
      } else if (compact) {
        writeCompactReport(pageWriter, catalog.options, entry.slot, entry);
      } else {
        pageWriter.utf8(fullReportJson(entry));
      }
    }
    pageWriter.byte(CLOSE_BRACKET);
    return entries.length;
  }

  async function authenticate(req: IncomingMessage): Promise<Reply> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1024 * 1024) return json(413, { err: 'request body too large' });
      chunks.push(chunk as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return json(400, { err: 'invalid JSON body' });
    }
    const { username: user, password: pass } = (body ?? {}) as { username?: unknown; password?: unknown };
    if (typeof user !== 'string' || typeof pass !== 'string' || !credentialsMatch(user, pass)) {
      return json(401, { err: 'invalid credentials' });
    }
    const token = `sim.${rngFor(seed, 'token', ++tokenCount).hex(48)}`;
    tokens.set(token, performance.now() + tokenTtlMs);
    return json(200, { token });
  }

  function applyFault(fault: Fault, reply: Reply): Reply | 'reset' | { truncateAt: number; reply: Reply } {
    switch (fault.kind) {
      case '429':
        return tooManyRequests(fault.retryAfter ?? retryAfterStyle, (fault.retryAfterSeconds ?? 1) * 1000);
      case '5xx-html': {
        const status = fault.status ?? 502;
        return {
          status,
          headers: { 'Content-Type': 'text/html' },
          body: htmlError(status),
          compressible: false,
        };
      }
      case 'reset':
        return 'reset';
      case 'empty-200':
        return {
          status: 200,
          headers: { 'Content-Type': 'application/json' },
          body: '',
          compressible: false,
        };
      case 'html-200':
        return {
          status: 200,
          headers: { 'Content-Type': 'text/html; charset=utf-8' },
          body: HTML_200,
          compressible: false,
        };
      case 'token-expiry':
        tokens.clear();
        return json(401, { err: 'token expired' });
      case 'malformed-json': {
        const text = plainBody(reply);
        // Valid up to the last character, then a dangling comma: a JSON parser must fail.
        return { ...json(200, null), headers: reply.headers, body: `${text.slice(0, -1)},${text.slice(-1)}` };
      }
      case 'schema-drift': {
        const value = JSON.parse(plainBody(reply)) as unknown;
        const target = Array.isArray(value) ? value[0] : value;
        const drifted = target !== null && typeof target === 'object' ? (target as RawReport) : undefined;
        const drift = fault.drift ?? 'vulnerabilities-string';
        if (drifted !== undefined) {
          if (drift === 'vulnerabilities-string') drifted.vulnerabilities = 'x';
          else if (drift === 'repoTag-number') drifted.repoTag = 5;
          else delete drifted._id;
        }
        const body =
          Array.isArray(value) && value.length === 0
            ? drift === 'missing-id'
              ? [{}]
              : [{ repoTag: 5 }]
            : value;
        return { ...json(200, body), headers: withoutEncoding(reply.headers) };
      }
      case 'truncate': {
        const plain = {
          ...reply,
          headers: withoutEncoding(reply.headers),
          body: plainBody(reply),
          compressible: false,
        };
        const length = Buffer.byteLength(plain.body);
        return {
          truncateAt: Math.floor(length * Math.min(Math.max(fault.fraction ?? 0.5, 0), 0.99)),
          reply: plain,
        };
      }
      case 'slow':
        return reply;
    }
  }

  function plainBody(reply: Reply): string {
    if (reply.headers['Content-Encoding'] === 'gzip' && Buffer.isBuffer(reply.body)) {
      // Faults that rewrite the body work on the identity form.
      throw new SyncError('sim.internal', 'cannot rewrite a gzip body');
    }
    return Buffer.isBuffer(reply.body) ? reply.body.toString('utf8') : reply.body;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seq = ++requestCount;
    const at = performance.now() - startedAt;
    const url = parseTarget(req.url ?? '/');
    const method = req.method ?? 'GET';
    const path =
      prefix !== '' && url.pathname.startsWith(`${prefix}/`)
        ? url.pathname.slice(prefix.length)
        : url.pathname;
    const auth = authOf(req);
    const entry: RequestLogEntry = {
      seq,
      at,
      method,
      path,
      query: queryRecord(url.searchParams),
      status: 0,
      auth: auth.kind,
    };
    requestLog.push(entry);

    const route = prefix !== '' && !url.pathname.startsWith(`${prefix}/`) ? null : ROUTE.exec(path);
    const endpoint = route?.[2];
    let registryGet: number | undefined;
    if (endpoint === 'registry' && method === 'GET') {
      registryGet = ++registryGetCount;
      for (const hook of hooks) hook(registryGet, sim);
    }
    const fault = endpoint === undefined ? undefined : faults.next({ request: seq, registryGet });
    if (fault !== undefined) entry.fault = faultLabel(fault);

    let reply: Reply;
    if (endpoint === undefined) {
      reply = json(404, { err: `no such endpoint ${path}` });
    } else {
      const decision = limiter?.admit(performance.now()) ?? { admitted: true };
      const acceptsGzip =
        gzipEnabled && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && fault === undefined;
      if (!decision.admitted && fault === undefined) {
        reply = tooManyRequests(retryAfterStyle, decision.retryAfterMs);
      } else if (endpoint === 'authenticate') {
        reply = method === 'POST' ? await authenticate(req) : json(405, { err: 'method not allowed' });
      } else if (method !== 'GET') {
        reply = json(405, { err: 'method not allowed' });
      } else if (fault?.kind === 'token-expiry' || !auth.valid) {
        reply = json(401, { err: auth.kind === 'none' ? 'missing credentials' : 'unauthorized' });
      } else if (endpoint === 'registry') {
        reply = registryPage(url.searchParams, acceptsGzip);
      } else {
        const answer = progress.respond(url.searchParams);
        reply = json(answer.status, answer.body);
      }
    }

    const outcome = fault === undefined ? reply : applyFault(fault, reply);
    const delay = latencyMs + (fault?.kind === 'slow' ? (fault.ms ?? 2000) : 0);
    if (delay > 0) await sleep(delay);
    if (outcome === 'reset') {
      entry.status = 0;
      req.socket.destroy();
      return;
    }
    if ('truncateAt' in outcome) {
      const body = Buffer.from(outcome.reply.body);
      entry.status = outcome.reply.status;
      res.writeHead(outcome.reply.status, {
        ...outcome.reply.headers,
        'Content-Length': String(body.length),
      });
      res.write(body.subarray(0, outcome.truncateAt), () => res.destroy());
      return;
    }
    entry.status = outcome.status;
    let body = outcome.body;
    const headers = { ...outcome.headers };
    if (
      outcome.compressible &&
      Buffer.byteLength(body) >= GZIP_MIN_BYTES &&
      gzipEnabled &&
      /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
    ) {
      body = gzipSync(body, GZIP_OPTIONS);
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(Buffer.byteLength(body));
    res.writeHead(outcome.status, headers);
    res.end(body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const last = requestLog[requestLog.length - 1];
      if (last !== undefined && last.status === 0) last.status = 500;
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ err: `simulator error: ${message}` }));
      } else {
        res.destroy();
      }
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
    url: `http://127.0.0.1:${port}${prefix}`,
    port,
    requestLog,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closed = true;
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
    setFaults(plan) {
      faults = new FaultInjector(plan);
    },
    mutate: {
      add: (count, opts) => catalog.add(count, opts),
      remove: (keys) => catalog.remove(keys),
      rescan: (keys, opts) => catalog.rescan(keys, opts),
    },
    onRegistryRequest(hook) {
      hooks.push(hook);
    },
    truth: {
      mark: () => catalog.mark(),
      present: () => catalog.present(),
      persistentSince: (mark) => catalog.persistentSince(mark),
      everPresentSince: (mark) => catalog.everPresentSince(mark),
      report: (key) => catalog.report(key),
    },
    setScanProgress(input) {
      progress.set(input);
    },
    history:
      history === undefined
        ? undefined
        : {
            get step() {
              return catalog.step;
            },
            steps: history.steps,
            get at() {
              return isoTime(stepDateMs(history, catalog.step));
            },
            advance: () => catalog.advance(),
          },
  };
  return sim;
}

const HOUR_MS = 3_600_000;

/** The history option as step dates; `invalid` throws. */
function historyClock(
  option: NonNullable<SimulatorOptions['history']>,
  invalid: (option: string, expected: string, value: unknown) => never,
): HistoryClock {
  const { days, steps } = option;
  if (!(days > 0 && Number.isFinite(days))) invalid('history.days', 'a positive number of days', days);
  if (!Number.isInteger(steps) || steps < 2) invalid('history.steps', 'a whole number >= 2', steps);
  const end =
    option.end === undefined
      ? Math.floor(Date.now() / HOUR_MS) * HOUR_MS
      : typeof option.end === 'number'
        ? option.end
        : Date.parse(option.end);
  if (!Number.isFinite(end)) invalid('history.end', 'an ISO 8601 date or epoch ms', option.end);
  const spanMs = Math.round(days * 24 * HOUR_MS);
  return { startMs: end - spanMs, spanMs, steps };
}

function withoutEncoding(headers: Record<string, string>): Record<string, string> {
  const { 'Content-Encoding': _encoding, ...rest } = headers;
  return rest;
}
