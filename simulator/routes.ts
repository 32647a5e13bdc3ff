/** The console's endpoints, one handler each; the server (simulator.ts) adds faults, rate limit, auth, gzip, the log. */
import type { IncomingMessage } from 'node:http';
import { type Catalog, type CatalogEntry, compareKeys } from './catalog.js';
import { generateReport, projectFields } from './generator.js';
import { LruCache } from './lru-cache.js';
import type { ScanProgress } from './progress.js';

export const MAX_PAGE_SIZE = 50;

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** gzip may be applied. */
  compressible: boolean;
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  const contentType = { 'Content-Type': 'application/json; charset=utf-8' };
  return { status, headers: { ...contentType, ...headers }, body: JSON.stringify(value), compressible: true };
}

/** An nginx-style error page, as a proxy in front of the console answers. */
export function htmlPage(status: number, reason: string): Reply {
  const title = `${status} ${reason}`;
  const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  return { status, headers: { 'Content-Type': 'text/html' }, body, compressible: false };
}

/** 429 with `Retry-After` in the console's style: seconds (rounded up), an HTTP date, or none. */
export function tooManyRequests(style: 'seconds' | 'date' | false, waitMs: number): Reply {
  const reply = htmlPage(429, 'Too Many Requests');
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  if (style === 'seconds') reply.headers['Retry-After'] = String(seconds);
  // An HTTP date has whole seconds: round up so waiting until that date always frees a slot.
  else if (style === 'date') {
    reply.headers['Retry-After'] = new Date((Math.floor(Date.now() / 1000) + seconds) * 1000).toUTCString();
  }
  return reply;
}

export interface ConsoleState {
  catalog: Catalog;
  progress: ScanProgress;
  totalCountHeader: boolean;
  credentials: { match(username: string, password: string): boolean; issue(): string };
}

export async function authenticate(req: IncomingMessage, state: ConsoleState): Promise<Reply> {
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
  const { username, password } = (body ?? {}) as { username?: unknown; password?: unknown };
  const valid = typeof username === 'string' && typeof password === 'string';
  if (!valid || !state.credentials.match(username, password))
    return json(401, { err: 'invalid credentials' });
  return json(200, { token: state.credentials.issue() });
}

/** Serialized reports (JSON text; a page joins them), shared by every simulator in the process. */
const reportCache = new LruCache<string>(128 * 1024 * 1024, (text) => text.length);

/** Reports are pure functions of the key's parts: simulators with the same seed share the cache. */
function reportJson(catalog: Catalog, entry: CatalogEntry, compact: boolean): string {
  const { seed, heavyFraction, history } = catalog.options;
  const clock = history === undefined ? '' : `${history.startMs}:${history.spanMs}:${history.steps}`;
  const life = entry.history === undefined ? '' : Object.values(entry.history).join(':');
  const key = `${seed}|${heavyFraction}|${clock}|${entry.slot.key}|${entry.slot.index}|${entry.scanGeneration}:${entry.findingsVersion}|${life}|${compact}`;
  let text = reportCache.get(key);
  if (text === undefined) {
    text = JSON.stringify(generateReport(catalog.options, entry.slot, entry, compact));
    reportCache.set(key, text);
  }
  return text;
}

/** Repeated and comma-separated values of an array query parameter. */
function listParam(params: URLSearchParams, name: string, keepEmpty = false): string[] {
  const values = params.getAll(name).flatMap((value) => value.split(',').map((v) => v.trim()));
  return keepEmpty ? values : values.filter((value) => value !== '');
}

/** `/registry?sort=` keys; any other value keeps the default order. */
const SORT_KEYS: Record<string, (entry: CatalogEntry, catalog: Catalog) => string> = {
  'repoTag.registry': (e) => e.slot.registry,
  'repoTag.repo': (e) => e.slot.repo,
  'repoTag.tag': (e) => e.slot.tag,
  _id: (e) => e.slot.reportId,
  id: (e) => e.slot.imageId,
  scanTime: (e, catalog) => catalog.scanTime(e),
};

function selectedEntries(params: URLSearchParams, catalog: Catalog): readonly CatalogEntry[] {
  const names = new Set(listParam(params, 'name').map((n) => n.replace(/^https?:\/\//, '')));
  const imageIds = listParam(params, 'imageID');
  const ids = listParam(params, 'id');
  // `registry=` (empty) selects Docker Hub images, whose registry is ''.
  const registries = listParam(params, 'registry', true);
  const repositories = listParam(params, 'repository');
  const matches = ({ slot }: CatalogEntry) => {
    const pullName =
      slot.registry === '' ? `${slot.repo}:${slot.tag}` : `${slot.registry}/${slot.repo}:${slot.tag}`;
    return (
      (names.size === 0 || names.has(pullName) || names.has(slot.key)) &&
      (imageIds.length === 0 || imageIds.includes(slot.imageId)) &&
      (ids.length === 0 || ids.includes(slot.reportId)) &&
      (registries.length === 0 || registries.includes(slot.registry)) &&
      (repositories.length === 0 || repositories.includes(slot.repo))
    );
  };
  const filtered = names.size + imageIds.length + ids.length + registries.length + repositories.length > 0;
  let entries = filtered ? catalog.entries.filter(matches) : catalog.entries;
  const sortBy = SORT_KEYS[params.get('sort') ?? ''];
  if (sortBy !== undefined) {
    // Decorate first: a sort key (scanTime) is computed once per image, not per comparison.
    entries = entries
      .map((entry) => ({ entry, sortKey: sortBy(entry, catalog) }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey) || compareKeys(a.entry.slot.key, b.entry.slot.key))
      .map((decorated) => decorated.entry);
  }
  return entries;
}

/** Paging by offset over the current image set: a mutation between two pages shifts offsets, as on a real console. */
export function registry(params: URLSearchParams, state: ConsoleState): Reply {
  const offsetText = params.get('offset') ?? '';
  const limitText = params.get('limit') ?? '';
  const offset = offsetText === '' ? 0 : Number(offsetText);
  const requestedLimit = limitText === '' ? 0 : Number(limitText);
  if (!Number.isInteger(offset) || offset < 0) return json(400, { err: `invalid offset ${offsetText}` });
  if (!Number.isInteger(requestedLimit) || requestedLimit < 0)
    return json(400, { err: `invalid limit ${limitText}` });
  const limit = requestedLimit === 0 ? MAX_PAGE_SIZE : Math.min(requestedLimit, MAX_PAGE_SIZE);
  const { catalog } = state;
  const entries = selectedEntries(params, catalog);
  const reverse = params.get('reverse') === 'true';
  const compact = params.get('compact') === 'true';
  const fields = listParam(params, 'fields');
  const parts: string[] = [];
  for (let i = offset; i < Math.min(entries.length, offset + limit); i++) {
    const entry = entries[reverse ? entries.length - 1 - i : i]!;
    parts.push(
      fields.length > 0
        ? JSON.stringify(projectFields(generateReport(catalog.options, entry.slot, entry), fields))
        : reportJson(catalog, entry, compact),
    );
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
  if (state.totalCountHeader) headers['Total-Count'] = String(entries.length);
  return { status: 200, headers, body: `[${parts.join(',')}]`, compressible: true };
}
