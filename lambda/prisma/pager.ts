/**
 * `RegistryPager`: all of `/registry`, page by page, validated, each report once, even when the
 * result set changes while paging. The algorithm, its guarantee and its cost are in README.md
 * ("Drift-safe paging"); in short:
 *
 * - Every request after the first starts one item early (`offset = nextOffset - 1`): its first
 *   item must be the boundary, the last item of the previous response. Then nothing moved before
 *   the boundary, and the rest of the window is new.
 * - Otherwise the list shifted. The pager resumes after the rightmost item of the window that it
 *   remembers (inserts before the boundary push the boundary right, into the window). If the
 *   window holds none, it searches contiguous windows backwards (removals pulled the boundary
 *   left) and forwards (a page or more of inserts), alternating, until one does.
 * - From the resume point on, everything not emitted before is emitted. Items now before it
 *   were inserted after the pager passed there: they were not present for the whole paging.
 * - If nothing remembered is left anywhere, it re-reads from offset 0, still skipping what it
 *   emitted: nothing is lost.
 *
 * `page.state` holds the next offset, the boundary and the remembered fingerprints (the last
 * 2 × pageSize items read, and emitted items known to lie ahead): enough to resume after a crash.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SyncError } from '../common/errors.js';
import type { ConsoleClient } from './client.js';
import { type InvalidReport, type PageItem, parseRegistryPage, type RawReport } from './schema.js';

/** The console's page cap. */
export const MAX_PAGE_SIZE = 50;

/**
 * Default of `prefetchMaxBytes`: a page of ordinary reports (about 1 MB of JSON for 50) is
 * prefetched, a page of heavy ones (up to 20 MB) is not.
 */
export const DEFAULT_PREFETCH_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Where paging stands: JSON-serializable, small (about 2.5 KB), enough to continue after a crash
 * or a Lambda timeout with the same guarantees.
 */
export interface PagerState {
  v: 1;
  /** The position just after the last window read (its offset + its length). */
  nextOffset: number;
  /** Index of the next page to yield. */
  pageIndex: number;
  /** Fingerprint of the last item of the last window: the next request must start with it. */
  boundary: string | null;
  /** Fingerprints of the items read last, up to the position, in console order (at most 2 × pageSize). */
  behind: string[];
  /**
   * Fingerprints of emitted items that lie after the position, in console order: after a
   * re-alignment to an earlier item (inserts before the boundary), until paging passes them again.
   */
  ahead: string[];
  /** Reports emitted so far in the run (valid and rejected). */
  emitted: number;
  /** True once the last page was read. */
  done: boolean;
  /** `Total-Count` of the last response, when sent: a jump of a page or more hints at inserts before the boundary. */
  totalCount?: number;
}

const pagerStateSchema = z.object({
  v: z.literal(1),
  nextOffset: z.number().int().nonnegative(),
  pageIndex: z.number().int().nonnegative(),
  boundary: z.string().nullable(),
  behind: z.array(z.string()),
  ahead: z.array(z.string()),
  emitted: z.number().int().nonnegative(),
  done: z.boolean(),
  totalCount: z.number().int().nonnegative().optional(),
});

export interface RegistryPage {
  /** 0-based page number in this run (continues across a resume). */
  index: number;
  /** The offset the reports were read at. */
  offset: number;
  /** Validated reports, in console order; each report appears once across the run. */
  reports: RawReport[];
  /** `positions[i]`: where `reports[i]` was in the response read at `offset` (offset + position = its place in the console's list). */
  positions: number[];
  /**
   * Reports that fail the schema, in console order, with their `index` in the response read at
   * `offset`: to be quarantined. Each takes its slot like any report (paging, page-full, each
   * once across the run), so one bad report never costs the page nor moves the paging.
   */
  rejected: InvalidReport[];
  /** `Total-Count` of the response, when the console (or its proxy) sent it. */
  totalCount: number | undefined;
  /** Decoded size of the response body the reports were read from, in bytes. */
  bytes: number;
  /** Pass as `resume` to continue after this page. */
  state: PagerState;
  /** True on the last page. */
  done: boolean;
}

export interface RegistryPagerOptions {
  /** Items per request: 2..50, default 50 (the console's cap). */
  pageSize?: number;
  /** A state from `page.state` to continue after that page. */
  resume?: PagerState;
  /** Extra /registry filters (`compact`, `registry`, `repository`, ...). Not offset/limit/sort/reverse: paging relies on the default order. */
  query?: Record<string, string>;
  /** Request page n+1 while the consumer handles page n. Default true. */
  prefetch?: boolean;
  /**
   * Prefetch only after a page of at most this many decoded bytes (default
   * {@link DEFAULT_PREFETCH_MAX_BYTES}). A prefetched page is a second decoded page in memory
   * while the consumer still holds the current one; after a large page the consumer takes long
   * anyway (its writes), so requesting the next page only then costs one request's latency and
   * keeps one large page in memory instead of two.
   */
  prefetchMaxBytes?: number;
}

export interface PagerCounters {
  /** Pages read and handed out (a prefetched page counts once it is read). */
  pages: number;
  /** Every /registry GET the pager made (retries of one GET are counted by the client). */
  registryRequests: number;
  /** Times the boundary check failed and the pager re-aligned. */
  driftRecoveries: number;
  /** Requests made only to re-align (stepping back). */
  extraRequests: number;
}

interface Window {
  offset: number;
  /** Every slot of the response, valid or not: paging counts slots, never only valid reports. */
  reports: PageItem[];
  fingerprints: string[];
  totalCount: number | undefined;
  bytes: number;
}

const RESERVED_QUERY = ['offset', 'limit', 'sort', 'reverse'];

/**
 * The identity of a report within a run: `_id` plus `repoTag` registry/repo/tag, hashed to 22
 * characters (128 bits) so the checkpoint stays small.
 *
 * @example
 * reportFingerprint({ _id: 'sha256:ab', repoTag: { registry: '', repo: 'library/alpine', tag: '3' } }); // 'q3…' (22 chars)
 */
export function reportFingerprint(report: RawReport): string {
  const tag = report.repoTag;
  const identity = [report._id, tag?.registry ?? '', tag?.repo ?? '', tag?.tag ?? ''].join('\u0000');
  return createHash('sha256').update(identity).digest('base64url').slice(0, 22);
}

/**
 * The fingerprint of a report that fails the schema: the same as `reportFingerprint` over what of
 * its identity is text, so it is as stable as a valid report's. When nothing of it is text, its
 * raw digest stands in (stable while the console serves it unchanged); when it has none either
 * (it cannot be serialized), its place in the response does.
 */
export function invalidFingerprint(invalid: InvalidReport, offset: number): string {
  const { id, registry, repo, tag } = invalid.readable;
  if (id === null && registry === null && repo === null && tag === null) {
    const stand = invalid.sha256 ?? `unserializable@${offset + invalid.index}`;
    return createHash('sha256').update(`invalid\u0000${stand}`).digest('base64url').slice(0, 22);
  }
  const identity = [id ?? '', registry ?? '', repo ?? '', tag ?? ''].join('\u0000');
  return createHash('sha256').update(identity).digest('base64url').slice(0, 22);
}

function itemFingerprint(item: PageItem, offset: number): string {
  return item.kind === 'report' ? reportFingerprint(item.report) : invalidFingerprint(item.invalid, offset);
}

/**
 * Pages through `/registry`.
 *
 * @example
 * const pager = new RegistryPager(client, { resume: checkpoint?.pagerState });
 * for await (const page of pager) {
 *   await store(page.reports);
 *   await saveCheckpoint(page.state);
 * }
 * pager.counters; // { pages, registryRequests, driftRecoveries, extraRequests }
 */
export class RegistryPager implements AsyncIterable<RegistryPage> {
  readonly counters: PagerCounters = { pages: 0, registryRequests: 0, driftRecoveries: 0, extraRequests: 0 };
  private readonly client: ConsoleClient;
  private readonly pageSize: number;
  private readonly query: Record<string, string>;
  private readonly prefetch: boolean;
  private readonly prefetchMaxBytes: number;
  private state: PagerState;
  /** Every fingerprint emitted by this pager, plus the resumed frontier. */
  private readonly seen: Set<string>;
  private iterated = false;

  constructor(client: ConsoleClient, options: RegistryPagerOptions = {}) {
    this.client = client;
    this.pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 2 || this.pageSize > MAX_PAGE_SIZE) {
      throw new SyncError(
        'client.options',
        `pageSize must be a whole number from 2 to ${MAX_PAGE_SIZE}, got ${this.pageSize}`,
      );
    }
    this.query = { ...options.query };
    const reserved = RESERVED_QUERY.filter((name) => Object.hasOwn(this.query, name));
    if (reserved.length > 0) {
      throw new SyncError(
        'client.options',
        `the pager sets ${reserved.join(', ')} itself; drift-safe paging needs the default order`,
        {
          reserved,
        },
      );
    }
    this.prefetch = options.prefetch ?? true;
    this.prefetchMaxBytes = options.prefetchMaxBytes ?? DEFAULT_PREFETCH_MAX_BYTES;
    if (!(this.prefetchMaxBytes >= 0)) {
      throw new SyncError(
        'client.options',
        `prefetchMaxBytes must be 0 or more, got ${this.prefetchMaxBytes}`,
      );
    }
    if (options.resume === undefined) {
      this.state = {
        v: 1,
        nextOffset: 0,
        pageIndex: 0,
        boundary: null,
        behind: [],
        ahead: [],
        emitted: 0,
        done: false,
      };
    } else {
      const parsed = pagerStateSchema.safeParse(options.resume);
      if (!parsed.success) {
        throw new SyncError('client.options', 'the pager resume state is not a state this pager wrote', {
          issues: parsed.error.issues.slice(0, 3).map((issue) => issue.path.join('.')),
        });
      }
      const { totalCount, ...rest } = parsed.data;
      this.state = {
        ...rest,
        behind: [...rest.behind],
        ahead: [...rest.ahead],
        ...(totalCount === undefined ? {} : { totalCount }),
      };
    }
    this.seen = new Set([...this.state.behind, ...this.state.ahead]);
  }

  [Symbol.asyncIterator](): AsyncIterator<RegistryPage> {
    if (this.iterated) throw new SyncError('client.options', 'a RegistryPager can be iterated once');
    this.iterated = true;
    return this.pages();
  }

  private async *pages(): AsyncGenerator<RegistryPage> {
    if (this.state.done) return;
    const abort = new AbortController();
    let pending: Promise<RegistryPage> | undefined = this.nextPage(abort.signal);
    try {
      while (pending !== undefined) {
        const page: RegistryPage = await pending;
        pending = undefined;
        if (!page.done && this.prefetch && page.bytes <= this.prefetchMaxBytes) {
          // The next request is in flight (within the limiter) while the consumer stores this page.
          pending = this.nextPage(abort.signal);
          pending.catch(() => undefined);
        }
        yield page;
        if (page.done) return;
        pending ??= this.nextPage(abort.signal);
      }
    } finally {
      // The consumer stopped early (time budget) or failed: cancel the prefetch, wait for it to settle.
      abort.abort(new SyncError('client.aborted', 'paging stopped by the consumer'));
      await pending?.catch(() => undefined);
    }
  }

  private async nextPage(signal: AbortSignal): Promise<RegistryPage> {
    const { boundary, nextOffset } = this.state;
    if (boundary === null) return this.commit(await this.fetchWindow(0, signal, false), 0);

    const window = await this.fetchWindow(Math.max(0, nextOffset - 1), signal, false);
    if (window.fingerprints[0] === boundary) return this.commit(window, 1);

    // The boundary is not where it was: the result set changed before it.
    this.counters.driftRecoveries++;
    const position = this.rightmostKnown(window);
    if (position >= 0) {
      // Inserts before the boundary pushed it right, inside this window.
      this.logRealigned(nextOffset, window, position);
      return this.commit(window, position + 1);
    }
    const found = await this.search(window, signal);
    if (found.position < 0) {
      this.client.logger.warn(
        'registry paging lost its position (every frontier item is gone); re-reading from offset 0',
        {
          nextOffset,
        },
      );
    } else {
      this.logRealigned(nextOffset, found.window, found.position);
    }
    return this.commit(found.window, found.position + 1);
  }

  /**
   * Looks for an emitted item around a window that holds none: backwards (deletions pulled the
   * boundary before it) and forwards (a page or more of inserts pushed it past it), one
   * contiguous window at a time in each direction, alternating, backwards first unless
   * Total-Count grew by a page or more. Gives the window at offset 0 and position -1 when
   * neither direction finds one.
   */
  private async search(start: Window, signal: AbortSignal): Promise<{ window: Window; position: number }> {
    let back = start;
    let forward = start;
    let backDone = start.offset === 0;
    let forwardDone = start.reports.length < this.pageSize;
    const previousTotal = this.state.totalCount;
    let backwards = !(
      previousTotal !== undefined &&
      start.totalCount !== undefined &&
      start.totalCount - previousTotal >= this.pageSize - 1
    );
    let emptySteps = 0;
    while (!(backDone && forwardDone)) {
      if ((backwards && !backDone) || forwardDone) {
        emptySteps = back.reports.length === 0 ? emptySteps + 1 : 0;
        back = await this.fetchWindow(this.stepBack(back, emptySteps), signal, true);
        const position = this.rightmostKnown(back);
        if (position >= 0) return { window: back, position };
        backDone = back.offset === 0;
      } else {
        forward = await this.fetchWindow(forward.offset + forward.reports.length - 1, signal, true);
        const position = this.rightmostKnown(forward);
        if (position >= 0) return { window: forward, position };
        forwardDone = forward.reports.length < this.pageSize;
      }
      backwards = !backwards;
    }
    // Nothing emitted is left anywhere: re-read from the start, skipping what this pager emitted.
    return { window: back.offset === 0 ? back : await this.fetchWindow(0, signal, true), position: -1 };
  }

  private logRealigned(nextOffset: number, window: Window, position: number): void {
    this.client.logger.info('registry result set changed while paging; re-aligned', {
      expectedOffset: nextOffset - 1,
      alignedOffset: window.offset + position,
    });
  }

  /** The offset of the window before `window`, overlapping it by one item. */
  private stepBack(window: Window, emptySteps: number): number {
    const step = this.pageSize - 1;
    if (window.reports.length > 0) return Math.max(0, window.offset - step);
    // Past the end of a list that shrank: jump to its tail when Total-Count says where that is,
    // else step back twice as far each time (empty windows hold nothing to miss).
    if (window.totalCount !== undefined) {
      return Math.max(0, Math.min(window.offset - step, window.totalCount - this.pageSize));
    }
    return Math.max(0, window.offset - step * 2 ** Math.max(0, emptySteps - 1));
  }

  /** `Total-Count` read safely; a header that is there but unusable is ignored with a warning. */
  private totalCountOf(header: string | undefined, where: string): number | undefined {
    const count = parseTotalCount(header);
    if (count === undefined && header !== undefined && header.trim() !== '') {
      this.client.logger.warn('ignoring an unusable Total-Count header (not a safe whole number)', {
        where,
        totalCount: header.length > 40 ? `${header.slice(0, 40)}…` : header,
      });
    }
    return count;
  }

  /**
   * The rightmost item of `window` the state remembers (behind or ahead of the position). Only
   * remembered items are resume points, never older ones this process merely emitted: the
   * checkpoint must know every emitted item that can lie after the position, and it only knows
   * these. Resuming after any emitted item is safe (nothing before it is owed); this one is safe
   * across a restart too.
   */
  private rightmostKnown(window: Window): number {
    const known = new Set([...this.state.behind, ...this.state.ahead]);
    for (let i = window.fingerprints.length - 1; i >= 0; i--) {
      if (known.has(window.fingerprints[i]!)) return i;
    }
    return -1;
  }

  private async fetchWindow(offset: number, signal: AbortSignal, extra: boolean): Promise<Window> {
    this.counters.registryRequests++;
    if (extra) this.counters.extraRequests++;
    const where = `page offset=${offset}`;
    const response = await this.client.getJson(
      '/registry',
      { ...this.query, offset, limit: this.pageSize },
      { what: where, offset, signal },
    );
    const reports = parseRegistryPage(response.body, where);
    return {
      offset,
      reports,
      fingerprints: reports.map((item) => itemFingerprint(item, offset)),
      totalCount: this.totalCountOf(response.headers['total-count'], where),
      bytes: response.bytes,
    };
  }

  /** Emits `window` from `start` on (skipping what was emitted before) and moves the state past it. */
  private commit(window: Window, start: number): RegistryPage {
    const reports: RawReport[] = [];
    const positions: number[] = [];
    const rejected: InvalidReport[] = [];
    for (let i = start; i < window.reports.length; i++) {
      const fingerprint = window.fingerprints[i]!;
      if (this.seen.has(fingerprint)) continue;
      this.seen.add(fingerprint);
      const item = window.reports[i]!;
      if (item.kind === 'invalid') rejected.push(item.invalid);
      else {
        reports.push(item.report);
        positions.push(i);
      }
    }
    const { behind, ahead } = this.advance(window, start);
    const nextOffset = window.offset + window.reports.length;
    // Only a short page ends the paging. A full page that reaches Total-Count is not trusted as
    // the last: a console that counts separately from the page query can undercount by a
    // concurrent insert, and the image it pushed past the page would be lost.
    const done = window.reports.length < this.pageSize;
    const index = this.state.pageIndex;
    this.state = {
      v: 1,
      nextOffset,
      pageIndex: index + 1,
      boundary: window.fingerprints[window.fingerprints.length - 1] ?? this.state.boundary,
      behind,
      ahead,
      emitted: this.state.emitted + reports.length + rejected.length,
      done,
      ...(window.totalCount === undefined ? {} : { totalCount: window.totalCount }),
    };
    this.counters.pages++;
    return {
      index,
      offset: window.offset,
      reports,
      positions,
      rejected,
      totalCount: window.totalCount,
      bytes: window.bytes,
      state: { ...this.state, behind: [...behind], ahead: [...ahead] },
      done,
    };
  }

  /**
   * The remembered fingerprints after reading `window` from `start` on. The item at `start - 1`
   * is the resume point: remembered items after it in console order become `ahead` (a
   * re-alignment to an earlier item puts emitted items ahead again); the window's items from the
   * resume point on are appended to `behind`, passing any `ahead` item they meet (`ahead` items
   * skipped over were removed from the console).
   */
  private advance(window: Window, start: number): { behind: string[]; ahead: string[] } {
    let behind = [...this.state.behind];
    let ahead = [...this.state.ahead];
    const resume = start > 0 ? window.fingerprints[start - 1] : undefined;
    const inBehind = resume === undefined ? -1 : behind.indexOf(resume);
    const inAhead = resume === undefined ? -1 : ahead.indexOf(resume);
    if (inBehind >= 0) {
      ahead = [...behind.slice(inBehind + 1), ...ahead];
      behind = behind.slice(0, inBehind + 1);
    } else if (inAhead >= 0) {
      behind = [...behind, ...ahead.slice(0, inAhead + 1)];
      ahead = ahead.slice(inAhead + 1);
    } else {
      // Re-read from offset 0: everything remembered may lie ahead.
      ahead = [...behind, ...ahead];
      behind = resume === undefined ? [] : [resume];
    }
    for (let i = start; i < window.fingerprints.length; i++) {
      const fingerprint = window.fingerprints[i]!;
      const passed = ahead.indexOf(fingerprint);
      if (passed >= 0) ahead = ahead.slice(passed + 1);
      // Re-read after a re-alignment: the item moves to its place at the position, once.
      const earlier = behind.indexOf(fingerprint);
      if (earlier >= 0) behind.splice(earlier, 1);
      behind.push(fingerprint);
    }
    const keep = 2 * this.pageSize;
    return { behind: behind.slice(-keep), ahead: ahead.slice(0, 2 * keep) };
  }
}

/**
 * `Total-Count` as a safe whole number, or undefined when absent, not a whole number, or too large
 * to be one exactly (`9007199254740993`, `1e400`, 400 digits): the pager uses it as a hint only,
 * and an unsafe number would fail the run record's write.
 *
 * @example
 * parseTotalCount('120'); // 120
 * parseTotalCount('1e400'); // undefined
 */
export function parseTotalCount(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,16}\s*$/.test(value)) return undefined;
  const count = Number(value);
  return Number.isSafeInteger(count) ? count : undefined;
}
