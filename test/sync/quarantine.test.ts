/**
 * Quarantine (SPEC §4.7) and the end of identical failures on resume, through the whole engine: a
 * tiny console (node:http) serves simulator reports in pages of 50, with one report or one page
 * replaced; the store is DynamoDB Local.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_IDENTICAL_FAILURES } from '../../lambda/sync/decisions.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { engineHarness, splitKey, storedKeys } from '../support/e2e.js';

vi.setConfig({ testTimeout: 240_000 });

let sim: RunningSimulator;
let server: Server;
let console_: RunningSimulator;
let baseReports: Array<Record<string, unknown>>;
let baseKeys: string[];
/** What the console serves: the report list, and optionally a raw body for one offset. */
let serve: { reports: unknown[]; body?: (offset: number) => string | undefined };

beforeAll(async () => {
  sim = await startSimulator({ images: 120, seed: 'quarantine', rateLimit: false, heavyFraction: 0 });
  baseKeys = sim.truth.present();
  baseReports = baseKeys.map((k) => sim.truth.report(k) as Record<string, unknown>);
  serve = { reports: baseReports };
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/authenticate')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"quarantine-token"}');
      return;
    }
    if (url.pathname.endsWith('/registry/progress')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      return;
    }
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const limit = Math.min(50, Number(url.searchParams.get('limit') ?? 50) || 50);
    const body = serve.body?.(offset) ?? JSON.stringify(serve.reports.slice(offset, offset + limit));
    res.writeHead(200, { 'content-type': 'application/json', 'total-count': String(serve.reports.length) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  console_ = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } as RunningSimulator;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await sim?.close();
});

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

describe('a report that cannot be normalized', () => {
  it('is quarantined: the run completes and sweeps, the others are stored, and a re-run does the same', async () => {
    const h = await engineHarness(console_, 'quar');
    // Report 70 (page 2) names an image no store can hold: the normalizer rejects it.
    const poison = {
      ...structuredClone(baseReports[70]),
      repoTag: { registry: 'r.example', repo: 'poison', tag: 't'.repeat(5_000) },
      tags: [],
    };
    serve = { reports: baseReports.map((r, i) => (i === 70 ? poison : r)) };
    const others = baseKeys.filter((_, i) => i !== 70).sort();

    for (const attempt of [1, 2]) {
      const result = await h.sync();
      expect(result, `run ${attempt}`).toMatchObject({
        status: 'completed',
        images: 119,
        quarantined: 1,
        resumed: false,
      });
      expect(result.quarantine).toEqual([
        expect.objectContaining({
          // The drift-safe pager reads each next page from one report before it: 49 + 21 = 70.
          offset: 49,
          index: 21,
          code: 'normalize.invalid',
          sha256: sha256(poison),
          identity: expect.objectContaining({ registry: 'r.example', repo: 'poison' }),
        }),
      ]);
      // Identity parts are cut for the run record: a 5,000-character tag is not copied whole.
      expect(result.quarantine[0]?.identity?.tag.length).toBeLessThan(400);
      expect(result.quarantine[0]?.reason).toMatch(/longer than 768 bytes/);
      expect(result.invocation.quarantined).toBe(1);
      expect(await storedKeys(h.stores)).toEqual(others);
      const [run] = await h.stores.queries.runs(1);
      expect(run).toMatchObject({ runId: result.runId, status: 'completed', quarantined: 1 });
      expect(run?.quarantine).toEqual(result.quarantine);
      expect(await h.stores.runs.loadCheckpoint()).toBeUndefined();
      expect(h.logger.lines).toContainEqual({ level: 'warn', message: 'report quarantined' });
    }
  });
});

describe('a report the store cannot write', () => {
  it('is quarantined, and its image stored before keeps its state and is not swept', async () => {
    serve = { reports: baseReports };
    const h = await engineHarness(console_, 'quar');
    expect(await h.sync()).toMatchObject({ status: 'completed', images: 120 });
    const victim = baseKeys[10] ?? '';
    const before = await h.stores.queries.image(splitKey(victim));

    // The store's contract (its WriteReportsResult.quarantined): the report at `index` of the call was not written.
    const write = h.stores.images.writeReports.bind(h.stores.images);
    h.stores.images.writeReports = async (reports, context) => {
      const index = reports.findIndex(
        (r) =>
          `${r.normalized.image.identity.registry}/${r.normalized.image.identity.repo}:${r.normalized.image.identity.tag}` ===
          victim,
      );
      if (index < 0) return await write(reports, context);
      const kept = reports.filter((_, i) => i !== index);
      const written = await write(kept, context);
      const identity = reports[index]?.normalized.image.identity;
      if (!identity) throw new Error('no identity');
      return {
        ...written,
        quarantined: [
          {
            index,
            key: victim,
            identity,
            code: 'store.unsafeNumber',
            reason: 'finding CVE-1: cvss 1e308 cannot be stored',
          },
        ],
      };
    };
    const result = await h.sync();
    expect(result).toMatchObject({ status: 'completed', images: 119, quarantined: 1, removed: 0 });
    expect(result.quarantine).toEqual([
      expect.objectContaining({ key: victim, code: 'store.unsafeNumber', offset: 0, index: 10 }),
    ]);
    expect(await storedKeys(h.stores)).toEqual([...baseKeys].sort());
    const after = await h.stores.queries.image(splitKey(victim));
    expect(after).toMatchObject({ removed: false, contentHash: before?.contentHash });
  });
});

describe('a page that fails the same way on every resume', () => {
  it(`is resumed ${MAX_IDENTICAL_FAILURES} times, then the next run starts a new pass from the first page`, async () => {
    const h = await engineHarness(console_, 'quar');
    serve = { reports: baseReports, body: (offset) => (offset > 0 ? '{"not":"a page"' : undefined) };
    const runIds: string[] = [];
    for (let attempt = 1; attempt <= MAX_IDENTICAL_FAILURES; attempt++) {
      await expect(h.sync()).rejects.toMatchObject({ code: expect.stringMatching(/^client\./) });
      const [run] = await h.stores.queries.runs(1);
      runIds.push(String(run?.runId));
      expect(run).toMatchObject({ status: 'failed', lastFailure: { pageIndex: 1, count: attempt } });
      expect(await h.stores.runs.loadCheckpoint()).toMatchObject({ runId: runIds[0], pageIndex: 0 });
    }
    // Every failed invocation resumed the same run.
    expect(new Set(runIds).size).toBe(1);

    serve = { reports: baseReports };
    const fresh = await h.sync();
    expect(fresh).toMatchObject({ status: 'completed', resumed: false, images: 120 });
    expect(fresh.runId).not.toBe(runIds[0]);
    expect(await h.stores.runs.getRun(runIds[0] ?? '')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining(`page 1 failed ${MAX_IDENTICAL_FAILURES} times in a row`),
    });
  });
});
