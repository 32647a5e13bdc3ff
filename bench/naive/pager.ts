/**
 * The naive pager, as most scripts against the Prisma Cloud Compute API are written: authenticate
 * once, then GET /registry sequentially with `offset += 50`, a fixed 1 s sleep between pages, a
 * retry only on 429 after a fixed wait, any other error fatal, and no check that the result set
 * moved under it. It exists only as the baseline of bench/run.ts scenario 5; never use it.
 *
 * @example
 * const outcome = await naivePage({ baseUrl: sim.url, username: 'demo', password: 'demo' });
 * outcome.keys.length; // images read, duplicates included
 */
import { SyncError } from '../../lambda/common/errors.js';

export interface NaivePagerOptions {
  /** Console URL without `/api/...`. */
  baseUrl: string;
  username: string;
  password: string;
  apiVersion?: string;
  /** Sleep between pages. Default 1,000 ms. */
  pageSleepMs?: number;
  /** Wait after a 429 before the same request again. Default 10,000 ms. */
  throttleWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface NaiveOutcome {
  /** `${registry}/${repo}:${tag}` of every report read, in order, duplicates included. */
  keys: string[];
  /** HTTP requests sent, authentication included. */
  requests: number;
  /** 429 answers received. */
  throttled: number;
  /** Set when the script died: the error code and the offset it died at. */
  aborted?: { code: string; offset: number };
}

interface NaiveReport {
  repoTag?: { registry?: string; repo?: string; tag?: string };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Pages the whole registry the naive way; a non-429 error ends it with `aborted`, as a crash would. */
export async function naivePage(options: NaivePagerOptions): Promise<NaiveOutcome> {
  const sleep = options.sleep ?? delay;
  const api = `${options.baseUrl.replace(/\/$/, '')}/api/${options.apiVersion ?? 'v34.04'}`;
  const outcome: NaiveOutcome = { keys: [], requests: 0, throttled: 0 };
  let offset = 0;
  try {
    outcome.requests += 1;
    const auth = await fetch(`${api}/authenticate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: options.username, password: options.password }),
    });
    if (!auth.ok) throw new SyncError('naive.auth', `authenticate: HTTP ${auth.status}`);
    const { token } = (await auth.json()) as { token: string };
    for (;;) {
      outcome.requests += 1;
      const response = await fetch(`${api}/registry?limit=50&offset=${offset}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (response.status === 429) {
        outcome.throttled += 1;
        await response.arrayBuffer();
        await sleep(options.throttleWaitMs ?? 10_000);
        continue;
      }
      if (!response.ok) throw new SyncError('naive.http', `page offset=${offset}: HTTP ${response.status}`);
      const page = (await response.json()) as NaiveReport[] | null;
      if (!page || page.length === 0) break;
      for (const report of page) {
        const tag = report.repoTag;
        outcome.keys.push(`${tag?.registry ?? ''}/${tag?.repo ?? ''}:${tag?.tag ?? ''}`);
      }
      if (page.length < 50) break;
      offset += 50;
      await sleep(options.pageSleepMs ?? 1_000);
    }
  } catch (error) {
    const code = error instanceof SyncError ? error.code : 'naive.network';
    outcome.aborted = { code, offset };
  }
  return outcome;
}
