import { afterEach, describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import { type ConsoleClient, type ConsoleClientOptions, RegistryPager } from '../../lambda/prisma/index.js';
import { type Fault, type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { clientFor, keyOf, recordingClock, registryGets } from './support.js';

let sim: RunningSimulator | undefined;
let client: ConsoleClient | undefined;

afterEach(async () => {
  await client?.close();
  await sim?.close();
  client = undefined;
  sim = undefined;
});

/** Pages 120 images (3 pages) with `fault` on the 2nd /registry GET; returns the keys read. */
async function pageWithFault(
  fault: Fault,
  overrides: Partial<ConsoleClientOptions> = {},
): Promise<{ keys: string[]; client: ConsoleClient }> {
  sim = await startSimulator({
    images: 120,
    rateLimit: false,
    heavyFraction: 0,
    faults: { scripted: [{ at: 2, fault }] },
  });
  client = clientFor(sim, overrides);
  const keys: string[] = [];
  for await (const page of new RegistryPager(client)) keys.push(...page.reports.map(keyOf));
  // Whatever went wrong, no log line carries a credential, a token or an Authorization header.
  expect(JSON.stringify((client as ConsoleClient & { log: unknown }).log)).not.toMatch(
    /Bearer|Basic|sim\.[0-9a-f]{8}|"demo"/,
  );
  return { keys, client };
}

async function pagingFailure(
  fault: Fault | { random: Fault['kind'] },
  overrides: Partial<ConsoleClientOptions> = {},
): Promise<SyncError> {
  sim = await startSimulator({ images: 120, rateLimit: false, heavyFraction: 0 });
  if ('random' in fault) sim.setFaults({ random: { probability: 1, seed: 1, faults: [fault.random] } });
  else sim.setFaults({ scripted: [{ at: 2, fault }] });
  client = clientFor(sim, overrides);
  try {
    for await (const _page of new RegistryPager(client, { prefetch: false })) {
      // read every page
    }
  } catch (error) {
    if (isSyncError(error)) return error;
    throw error;
  }
  throw new Error('expected paging to fail');
}

describe('retries of transient faults (every fault class the simulator injects)', () => {
  const transient: Array<[string, Fault]> = [
    ['a 500 HTML page', { kind: '5xx-html', status: 500 }],
    ['a 502 HTML page', { kind: '5xx-html', status: 502 }],
    ['a 503 HTML page', { kind: '5xx-html', status: 503 }],
    ['a 504 HTML page', { kind: '5xx-html', status: 504 }],
    ['a connection reset', { kind: 'reset' }],
    ['a truncated body', { kind: 'truncate', fraction: 0.4 }],
    ['malformed JSON', { kind: 'malformed-json' }],
    ['an empty 200', { kind: 'empty-200' }],
    ['an HTML 200 (a login page)', { kind: 'html-200' }],
  ];
  it.each(transient)('retries %s and reads every image exactly once', async (_name, fault) => {
    const { keys, client } = await pageWithFault(fault);
    expect(keys).toHaveLength(120);
    expect(new Set(keys).size).toBe(120);
    expect(client.counters.retries).toBe(1);
    expect(registryGets(sim!)[1]?.fault).toBeDefined();
    expect(registryGets(sim!).map((e) => e.query.offset)).toEqual(['0', '49', '49', '98']);
  });

  it('honours a 429 Retry-After in seconds, and counts the 429', async () => {
    const clock = recordingClock();
    const { keys, client } = await pageWithFault({ kind: '429', retryAfterSeconds: 2 }, { clock });
    expect(keys).toHaveLength(120);
    expect(client.counters).toMatchObject({ throttled: 1, retries: 1 });
    expect(clock.sleeps).toContain(2000);
  });

  it('honours a 429 Retry-After given as an HTTP date', async () => {
    const clock = recordingClock();
    const { client } = await pageWithFault(
      { kind: '429', retryAfter: 'date', retryAfterSeconds: 3 },
      { clock },
    );
    expect(client.counters.throttled).toBe(1);
    const waited = clock.sleeps.find((ms) => ms > 100) ?? 0;
    // Whole-second dates: between 2 and 3 s from now.
    expect(waited).toBeGreaterThan(1000);
    expect(waited).toBeLessThanOrEqual(3000);
  });

  it('backs off with jitter on a 429 without Retry-After', async () => {
    const clock = recordingClock();
    const { client } = await pageWithFault(
      { kind: '429', retryAfter: false },
      { clock, retry: { baseDelayMs: 400, maxDelayMs: 10_000 }, random: () => 0.75 },
    );
    expect(client.counters.throttled).toBe(1);
    // The 429 is the first fault, so its backoff is the first wait; a loaded machine may add later
    // timeout retries, which are not what this test is about. Full jitter over [0, 400): 0.75 → 300.
    const backoff = clock.sleeps.filter((ms) => ms > 0);
    expect(backoff.length).toBeGreaterThanOrEqual(1);
    expect(backoff[0]).toBe(300);
  });

  it('pauses every request after a 429, not only the one that drew it', async () => {
    const clock = recordingClock();
    await pageWithFault({ kind: '429', retryAfterSeconds: 2 }, { clock });
    // The retry waited the Retry-After; the limiter then let the next requests through at once.
    expect(clock.sleeps.filter((ms) => ms >= 1900)).toHaveLength(1);
  });

  it('retries a response slower than the headers timeout', async () => {
    const { keys, client } = await pageWithFault(
      { kind: 'slow', ms: 1500 },
      { timeouts: { headersMs: 300 } },
    );
    expect(keys).toHaveLength(120);
    expect(client.counters.retries).toBe(1);
  });

  it('waits for a slow response within the timeouts', async () => {
    const { keys, client } = await pageWithFault({ kind: 'slow', ms: 200 });
    expect(keys).toHaveLength(120);
    expect(client.counters.retries).toBe(0);
  });
});

describe('schema drift: one report of the wrong shape', () => {
  it.each([
    ['vulnerabilities-string', 'report[0].vulnerabilities: expected array, got string'],
    ['repoTag-number', 'report[0].repoTag: expected object, got number'],
    ['missing-id', 'report[0]._id: expected string, got nothing (missing)'],
  ] as const)(
    'is handed on as rejected (%s) with its index and field path; the rest of the page is read',
    async (drift, reason) => {
      sim = await startSimulator({
        images: 120,
        rateLimit: false,
        heavyFraction: 0,
        faults: { scripted: [{ at: 1, fault: { kind: 'schema-drift', drift } }] },
      });
      client = clientFor(sim);
      const keys: string[] = [];
      const rejected: Array<{ offset: number; index: number; reason: string }> = [];
      for await (const page of new RegistryPager(client)) {
        keys.push(...page.reports.map(keyOf));
        rejected.push(
          ...page.rejected.map((r) => ({ offset: page.offset, index: r.index, reason: r.reason })),
        );
      }
      expect(rejected).toEqual([{ offset: 0, index: 0, reason }]);
      // The drifted report is the console's first: every other one is read once, nothing else is lost.
      const present = sim.truth.present();
      expect(keys).toEqual(present.slice(1));
      // Not retried: the same request would get the same data (3 pages, no extra request).
      expect(registryGets(sim)).toHaveLength(3);
    },
  );

  it.each(['vulnerabilities-string', 'repoTag-number', 'missing-id'] as const)(
    'on the boundary item of a later page (%s) loses nothing and emits nothing twice',
    async (drift) => {
      const { keys } = await pageWithFault({ kind: 'schema-drift', drift });
      expect(keys).toEqual(sim?.truth.present());
    },
  );
});

describe('faults that fail the run', () => {
  it('fails with client.pageFailed naming the offset once the attempts are spent', async () => {
    const error = await pagingFailure(
      { random: '5xx-html' },
      { retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2 } },
    );
    expect(error.code).toBe('client.pageFailed');
    expect(error.message).toMatch(/^GET \/registry offset=0 failed after 4 attempts: .*HTTP 502/);
    expect(error.details).toMatchObject({ offset: 0, attempts: 4, lastStatus: 502 });
    expect(isSyncError(error.cause, 'client.http')).toBe(true);
    expect(registryGets(sim!)).toHaveLength(4);
  });

  it('names the invalid body in the final error when HTML keeps coming', async () => {
    const error = await pagingFailure(
      { random: 'html-200' },
      { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
    );
    expect(error.code).toBe('client.pageFailed');
    expect(error.message).toContain('HTML page instead of JSON');
    expect(isSyncError(error.cause, 'client.invalidResponse')).toBe(true);
  });

  it('keeps retrying through resets until the attempts are spent, then names the offset', async () => {
    const error = await pagingFailure(
      { random: 'reset' },
      { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
    );
    expect(error.code).toBe('client.pageFailed');
    expect(error.details).toMatchObject({ offset: 0, attempts: 3 });
    expect(isSyncError(error.cause, 'client.network')).toBe(true);
  });

  it('stops with client.deadline instead of sleeping past the deadline', async () => {
    const started = Date.now();
    const error = await pagingFailure(
      { kind: '429', retryAfterSeconds: 60 },
      { deadline: () => Date.now() + 5_000 },
    );
    expect(error.code).toBe('client.deadline');
    expect(error.message).toContain('Retry-After 60000 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
