/**
 * The pager against a scripted console: a small HTTP server over a list the test controls, so
 * each drift case is exact. Beyond "nothing missed, nothing twice" (pager.test.ts and the drift
 * property), these pin what the pager promises in detail: which offsets it requests to find its
 * place (the cost of a drift), the checkpoint it hands out (`behind` = the items read last, up to
 * the position; `ahead` = emitted items lying after it), positions and rejected slots, the
 * Total-Count it keeps, its logs, and the prefetch it cancels when the consumer stops.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConsoleClient,
  type PagerState,
  type RegistryPage,
  RegistryPager,
  type RegistryPagerOptions,
  reportFingerprint,
} from '../../lambda/prisma/index.js';
import type { RawReport } from '../../lambda/prisma/schema.js';
import { capturingLogger, closeClientAndServer, type LogLine } from './support.js';

/** A report named by a short id; an `invalid` one has a numeric `_id`, which fails the schema. */
function report(id: string, invalid = false): unknown {
  return {
    _id: invalid ? 7 : `sha256:${id}`,
    repoTag: { registry: 'r.example', repo: `team/${id}`, tag: '1' },
  };
}

const fp = (id: string): string => reportFingerprint(report(id) as RawReport);
const fps = (ids: string): string[] => ids.split('').map(fp);

interface Scripted {
  /** The console's list, in console order (one-letter ids); change it from `before`. */
  list: string[];
  /** Ids served as schema-invalid reports. */
  invalid: Set<string>;
  /** Total-Count header: the list length (`true`), none (`false`) or this text. */
  totalCount: boolean | string;
  /** Runs before the n-th /registry request (1-based) is answered. */
  before?: (n: number) => void;
  /** Milliseconds to hold the answer to the n-th request. */
  holdMs?: (n: number) => number;
  /** Offsets requested, in order. */
  offsets: number[];
  /** Per request: whether the client closed the connection before the answer was sent. */
  abandoned: boolean[];
  /** Per request: settles when its connection closed (answered or abandoned). */
  closed: Array<Promise<void>>;
}

let server: Server | undefined;
let client: ConsoleClient | undefined;

async function closeConsole(): Promise<void> {
  await closeClientAndServer(client, server);
  server = undefined;
  client = undefined;
}

afterEach(closeConsole);

async function scripted(
  list: string,
  settings: Partial<Pick<Scripted, 'totalCount' | 'before' | 'holdMs'>> & { invalid?: string } = {},
): Promise<{ console_: Scripted; log: LogLine[] }> {
  const console_: Scripted = {
    list: list.split(''),
    invalid: new Set((settings.invalid ?? '').split('')),
    totalCount: settings.totalCount ?? true,
    ...(settings.before === undefined ? {} : { before: settings.before }),
    ...(settings.holdMs === undefined ? {} : { holdMs: settings.holdMs }),
    offsets: [],
    abandoned: [],
    closed: [],
  };
  const answer = (res: ServerResponse, offset: number, limit: number) => {
    const ids = console_.list.slice(offset, offset + limit);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (console_.totalCount === true) headers['total-count'] = String(console_.list.length);
    else if (typeof console_.totalCount === 'string') headers['total-count'] = console_.totalCount;
    res.writeHead(200, headers).end(JSON.stringify(ids.map((id) => report(id, console_.invalid.has(id)))));
  };
  server = createServer((req, res) => {
    if (req.url?.includes('/authenticate')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't' }));
      return;
    }
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const offset = Number(query.get('offset'));
    const n = console_.offsets.push(offset);
    console_.abandoned.push(false);
    console_.closed.push(
      new Promise((resolve) =>
        res.on('close', () => {
          console_.abandoned[n - 1] = !res.writableEnded;
          resolve();
        }),
      ),
    );
    console_.before?.(n);
    const hold = console_.holdMs?.(n) ?? 0;
    if (hold === 0) answer(res, offset, Number(query.get('limit')));
    else setTimeout(() => res.destroyed || answer(res, offset, Number(query.get('limit'))), hold);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const logger = capturingLogger();
  client = new ConsoleClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { username: 'u', password: 'p' },
    rateLimit: { requests: 10_000, windowMs: 1000 },
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    logger,
  });
  return { console_, log: logger.lines };
}

const idOf = (r: RawReport): string => r.repoTag!.repo!.slice('team/'.length);

async function readAll(
  options: RegistryPagerOptions = {},
): Promise<{ pages: RegistryPage[]; pager: RegistryPager }> {
  const pager = new RegistryPager(client!, { pageSize: 4, prefetch: false, ...options });
  const pages: RegistryPage[] = [];
  for await (const page of pager) pages.push(page);
  return { pages, pager };
}

const emittedIds = (pages: RegistryPage[]): string =>
  pages
    .flatMap((p) => [...p.reports.map(idOf), ...p.rejected.map((r) => r.readable.repo!.slice(5))])
    .join('');

describe('RegistryPager on a stable scripted console', () => {
  it('overlaps each request by one item and hands out the checkpoint the README describes', async () => {
    const { console_ } = await scripted('abcdefghij');
    const { pages, pager } = await readAll();
    expect(console_.offsets).toEqual([0, 3, 6, 9]);
    expect(pages.map((p) => p.reports.map(idOf).join(''))).toEqual(['abcd', 'efg', 'hij', '']);
    expect(pages.map((p) => p.positions)).toEqual([[0, 1, 2, 3], [1, 2, 3], [1, 2, 3], []]);
    expect(pages.map((p) => p.state)).toEqual([
      {
        v: 1,
        nextOffset: 4,
        pageIndex: 1,
        boundary: fp('d'),
        behind: fps('abcd'),
        ahead: [],
        emitted: 4,
        done: false,
        totalCount: 10,
      },
      {
        v: 1,
        nextOffset: 7,
        pageIndex: 2,
        boundary: fp('g'),
        behind: fps('abcdefg'),
        ahead: [],
        emitted: 7,
        done: false,
        totalCount: 10,
      },
      // At most 2 × pageSize remembered: the 8 read last.
      {
        v: 1,
        nextOffset: 10,
        pageIndex: 3,
        boundary: fp('j'),
        behind: fps('cdefghij'),
        ahead: [],
        emitted: 10,
        done: false,
        totalCount: 10,
      },
      {
        v: 1,
        nextOffset: 10,
        pageIndex: 4,
        boundary: fp('j'),
        behind: fps('cdefghij'),
        ahead: [],
        emitted: 10,
        done: true,
        totalCount: 10,
      },
    ]);
    expect(pager.counters).toEqual({ pages: 4, registryRequests: 4, driftRecoveries: 0, extraRequests: 0 });
  });

  it('keeps no totalCount in the checkpoint when the console sends none', async () => {
    await scripted('abcde', { totalCount: false });
    const { pages } = await readAll();
    for (const page of pages) {
      expect(page.totalCount).toBeUndefined();
      expect(Object.hasOwn(page.state, 'totalCount')).toBe(false);
    }
  });

  it('gives a schema-invalid report its slot: rejected with its index, counted as emitted, never re-read', async () => {
    const { console_ } = await scripted('abcdefg', { invalid: 'cf' });
    const { pages } = await readAll();
    expect(console_.offsets).toEqual([0, 3, 6]);
    expect(
      pages.map((p) => [p.reports.map(idOf).join(''), p.positions, p.rejected.map((r) => r.index)]),
    ).toEqual([
      ['abd', [0, 1, 3], [2]],
      ['eg', [1, 3], [2]],
      ['', [], []],
    ]);
    expect(pages.map((p) => p.state.emitted)).toEqual([4, 7, 7]);
  });

  it('resumes with everything the checkpoint remembered, and ends on the same pages', async () => {
    await scripted('abcdefghij');
    const first = await readAll();
    const resumed = await readAll({ resume: first.pages[0]!.state });
    expect(resumed.pages.map((p) => p.state)).toEqual(first.pages.slice(1).map((p) => p.state));
  });
});

describe('RegistryPager Total-Count header', () => {
  it('warns about an unusable header, quoting at most 40 characters of it, and pages on', async () => {
    for (const [header, quoted] of [
      ['9'.repeat(41), `${'9'.repeat(40)}…`],
      ['x'.repeat(40), 'x'.repeat(40)],
    ] as const) {
      const { log } = await scripted('ab', { totalCount: header });
      const { pages } = await readAll();
      expect(pages.map((p) => [p.reports.length, p.totalCount])).toEqual([[2, undefined]]);
      expect(log.filter((l) => l.level === 'warn')).toEqual([
        {
          level: 'warn',
          message: 'ignoring an unusable Total-Count header (not a safe whole number)',
          data: { where: 'page offset=0', totalCount: quoted },
        },
      ]);
      await closeConsole();
    }
  });

  it('says nothing about a blank header, a missing one or a usable one', async () => {
    for (const totalCount of [' ', false, true]) {
      const { log } = await scripted('ab', { totalCount });
      await readAll();
      expect(
        log.filter((l) => l.level === 'warn'),
        String(totalCount),
      ).toEqual([]);
      await closeConsole();
    }
  });
});

/** Reads page by page, each page by a new pager resumed from the previous page's state (a crash after every page). */
async function readResumingEveryPage(
  options: RegistryPagerOptions = {},
): Promise<{ pages: RegistryPage[]; states: PagerState[] }> {
  const pages: RegistryPage[] = [];
  let state: PagerState | undefined;
  for (;;) {
    const pager = new RegistryPager(client!, {
      pageSize: 4,
      prefetch: false,
      ...options,
      ...(state === undefined ? {} : { resume: state }),
    });
    let page: RegistryPage | undefined;
    for await (const p of pager) {
      page = p;
      break;
    }
    if (page === undefined) break;
    pages.push(page);
    state = page.state;
    if (page.done) break;
  }
  return { pages, states: pages.map((p) => p.state) };
}

describe('RegistryPager finding its place after a drift', () => {
  it('re-aligns inside the window when the boundary went and one image sorts in before it', async () => {
    const { console_, log } = await scripted('abcdefghij', {
      // Before the 2nd request (offset 3): the boundary d is removed, z sorts in first.
      before: (n) => {
        if (n === 2) console_.list = ['z', ...console_.list.filter((id) => id !== 'd')];
      },
    });
    const { pages, pager } = await readAll();
    // The window at 3 is c,e,f,g: c is remembered, so paging resumes after it with no extra request.
    expect(console_.offsets).toEqual([0, 3, 6, 9]);
    expect(emittedIds(pages)).toBe('abcdefghij');
    expect(pager.counters).toEqual({ pages: 4, registryRequests: 4, driftRecoveries: 1, extraRequests: 0 });
    expect(log.filter((l) => l.level === 'info')).toEqual([
      {
        level: 'info',
        message: 'registry result set changed while paging; re-aligned',
        data: { expectedOffset: 3, alignedOffset: 3 },
      },
    ]);
  });

  it('steps back, one window overlapping the last by one item, after removals before the boundary', async () => {
    const { console_, log } = await scripted('abcdefghijklmnop', {
      // Before the 3rd request (offset 6, boundary g): a..f are removed, the list shifts left by 6.
      before: (n) => {
        if (n === 3) console_.list = console_.list.slice(6);
      },
    });
    const { pages, pager } = await readAll();
    // 6 holds m..p (none read); back to 3: j..m, none read; forward to 9: p, the end; back to 0:
    // g..j, where g (the boundary) is the rightmost item read.
    expect(console_.offsets).toEqual([0, 3, 6, 3, 9, 0, 3, 6, 9]);
    expect(emittedIds(pages)).toBe('abcdefghijklmnop');
    expect(pager.counters).toEqual({ pages: 6, registryRequests: 9, driftRecoveries: 1, extraRequests: 3 });
    expect(log.filter((l) => l.level === 'info').map((l) => l.data)).toEqual([
      { expectedOffset: 6, alignedOffset: 0 },
    ]);
    expect(log.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('jumps to the tail of a list that shrank below the next offset when Total-Count says where it is', async () => {
    const { console_ } = await scripted('abcdefghijklmnopqrst', {
      // Before the 6th request (offset 15): all but the last 5 are gone.
      before: (n) => {
        if (n === 6) console_.list = console_.list.slice(15);
      },
    });
    const { pages } = await readAll();
    // 15 is past the end of p..t (5 items): Total-Count 5 → the tail window at 5 - 4 = 1 (q..t,
    // none read), then 0 (p..s: p was read), and on from there.
    expect(console_.offsets).toEqual([0, 3, 6, 9, 12, 15, 1, 0, 3]);
    expect(emittedIds(pages)).toBe('abcdefghijklmnopqrst');
  });

  it('steps back twice as far each time past the end of a shrunk list without Total-Count', async () => {
    const { console_ } = await scripted('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH', {
      totalCount: false,
      before: (n) => {
        if (n === 14) console_.list = console_.list.slice(38);
      },
    });
    const { pages } = await readAll();
    // At 39 (boundary C) the list is C..H (6): empty windows at 39, 36, 30 (steps 3, 3, 6), then 18 (12), 0 (max 0).
    expect(console_.offsets.slice(13)).toEqual([39, 36, 30, 18, 0, 3]);
    expect(emittedIds(pages)).toBe('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH');
  });
});

describe('RegistryPager after a page or more of inserts before the boundary', () => {
  const ids = 'abcdefghijklmnopqrst';

  it('searches forwards first when Total-Count grew by a page or more (also after a resume), else backwards first', async () => {
    // Growth of Total-Count: 5 (A..E), 4 (A..D), 3 (A..D in, the unread t out): pageSize - 1 = 3 is enough.
    for (const [totalCount, resumeAfterSecondPage, expected, inserts, removeLast] of [
      [true, false, [0, 3, 6, 9], 'ABCDE', false],
      [true, true, [0, 3, 6, 9], 'ABCDE', false],
      [false, false, [0, 3, 6, 3], 'ABCDE', false],
      [true, false, [0, 3, 6, 9], 'ABCD', false],
      [true, false, [0, 3, 6, 9], 'ABCD', true],
    ] as const) {
      const { console_ } = await scripted(ids, {
        totalCount,
        // Before the 3rd request (offset 6, boundary g): the inserts sort in just before g.
        before: (n) => {
          if (n !== 3) return;
          console_.list.splice(6, 0, ...inserts);
          if (removeLast) console_.list.pop();
        },
      });
      let pages: RegistryPage[];
      if (resumeAfterSecondPage) {
        const head: RegistryPage[] = [];
        for await (const page of new RegistryPager(client!, { pageSize: 4, prefetch: false })) {
          head.push(page);
          if (head.length === 2) break;
        }
        pages = [...head, ...(await readAll({ resume: head[1]!.state })).pages];
      } else {
        pages = (await readAll()).pages;
      }
      // 6 holds A..D, nothing read. Forwards, 9 holds D,E,g,h: g is found at once; backwards,
      // 3 holds d,e,f,A: f. Either way every image present throughout is read once.
      const label = `totalCount ${totalCount}, resumed ${resumeAfterSecondPage}, ${inserts}, t removed ${removeLast}`;
      expect(console_.offsets.slice(0, 4), label).toEqual(expected);
      expect(emittedIds(pages).replace(/[A-Z]/g, ''), label).toBe(removeLast ? ids.slice(0, -1) : ids);
      await closeConsole();
    }
  });
});

describe('RegistryPager checkpoints', () => {
  it('remembers emitted images that lie ahead after re-aligning to an earlier one, so a resume after any page repeats none', async () => {
    const ids = 'abcdefghijklmnopqrst';
    const { console_ } = await scripted(ids, {
      // Before the 3rd request (offset 6, boundary g): A..E sort in first, pushing g to 11.
      before: (n) => {
        if (n === 3) console_.list = [...'ABCDE', ...console_.list];
      },
    });
    const { pages, states } = await readResumingEveryPage();
    // 6 holds b..e: e is the rightmost image read, so the position is after e, and f, g (read,
    // emitted) lie ahead of it until paging passes them again.
    expect(console_.offsets.slice(0, 4)).toEqual([0, 3, 6, 9]);
    expect(states[2]).toMatchObject({ nextOffset: 10, behind: fps('abcde'), ahead: fps('fg'), emitted: 7 });
    expect(states[3]).toMatchObject({ behind: fps('abcdefgh'), ahead: [] });
    expect(emittedIds(pages)).toBe(ids);
  });

  it('resumes after an image that lay ahead when the boundary goes too, and forgets what it passes', async () => {
    const ids = 'abcdefghijklmnopqrst';
    const { console_ } = await scripted(ids, {
      before: (n) => {
        // As above, then before the 4th request (offset 9, boundary e) e itself is removed.
        if (n === 3) console_.list = [...'ABCDE', ...console_.list];
        if (n === 4) console_.list = console_.list.filter((id) => id !== 'e');
      },
    });
    const { pages, states } = await readResumingEveryPage();
    expect(states[2]).toMatchObject({ behind: fps('abcde'), ahead: fps('fg') });
    // 9 holds f,g,h,i: g (ahead) is the rightmost remembered image; f and g join behind, in order.
    expect(console_.offsets.slice(0, 5)).toEqual([0, 3, 6, 9, 12]);
    expect(states[3]).toMatchObject({ nextOffset: 13, behind: fps('bcdefghi'), ahead: [] });
    expect(emittedIds(pages)).toBe(ids);
  });

  it('keeps an image read twice (the console moved it past the position) once in the checkpoint, at its new place', async () => {
    const { console_ } = await scripted('abcdefghij', {
      // Before the 2nd request (offset 3, boundary d): a and f swap places.
      before: (n) => {
        if (n === 2) console_.list = [...'fbcdeaghij'];
      },
    });
    const { pages } = await readAll();
    expect(pages[1]!.state.behind).toEqual(fps('bcdeag'));
    expect(emittedIds(pages)).toBe('abcdeghij');
  });

  it('re-reads from offset 0 with a warning when every remembered image is gone, still skipping what it emitted', async () => {
    const { console_, log } = await scripted('abcdefghijkl');
    const head: RegistryPage[] = [];
    for await (const page of new RegistryPager(client!, { pageSize: 4, prefetch: false })) {
      head.push(page);
      if (head.length === 2) break;
    }
    console_.list = console_.list.slice(7);
    const rest = await readAll({ resume: head[1]!.state });
    // 6 is past the end of h..l; the tail at 1 and then 0 hold nothing remembered either.
    expect(console_.offsets).toEqual([0, 3, 6, 1, 0, 3]);
    expect(log.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'registry paging lost its position (every frontier item is gone); re-reading from offset 0',
        data: { nextOffset: 7 },
      },
    ]);
    expect(emittedIds(rest.pages)).toBe('hijkl');
    // Re-read from 0: everything remembered may lie ahead.
    expect(rest.pages[0]!.state).toMatchObject({ behind: fps('hijk'), ahead: fps('abcdefg') });
    expect(rest.pager.counters).toEqual({
      pages: 2,
      registryRequests: 4,
      driftRecoveries: 1,
      extraRequests: 2,
    });
  });
});

describe('RegistryPager prefetch', () => {
  it('cancels the request for the next page when the consumer stops early', async () => {
    const { console_ } = await scripted('abcdefghij', { holdMs: (n) => (n === 2 ? 5_000 : 0) });
    for await (const _page of new RegistryPager(client!, { pageSize: 4 })) {
      // Stop once the prefetch of the next page reached the console.
      while (console_.offsets.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      break;
    }
    expect(console_.offsets).toEqual([0, 3]);
    await console_.closed[1];
    expect(console_.abandoned).toEqual([false, true]);
  });
});
