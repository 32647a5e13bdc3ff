/**
 * A hostile console: a tiny node:http server that serves real simulator reports in pages of 50, with
 * one page or one report replaced by hostile input. Each input must end in a clear error naming the
 * page and the field, or be stored safely; nothing already stored is lost, and no prototype is
 * polluted. Runs are `--fresh`, so each case pages from offset 0 whatever the previous one left.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import type { Stores } from '../../lambda/store/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { createTestTables, localDocumentClient, uniqueTablePrefix } from '../support/dynamo.js';
import { errorCode, expectedOf, parseImageKey, storedConsole, storesOf, syncOnce } from './support.js';

const CONSOLE_ID = 'hostile';
const IMAGES = 55;
const prefix = uniqueTablePrefix('hostile');
let doc: DynamoDBDocumentClient;
let sim: RunningSimulator;
let stores: Stores;
let server: Server;
let baseKeys: string[];
let baseReports: Array<Record<string, unknown>>;
/** What the console serves now: the page body for an offset (raw text), or the report list. */
let serve: { body?: (offset: number) => string | undefined; reports: () => unknown[] };
const tried: string[] = [];

type Report = Record<string, unknown> & { vulnerabilities?: Array<Record<string, unknown>> | null };

function clone(index: number): Report {
  return structuredClone(baseReports[index]) as Report;
}

beforeAll(async () => {
  doc = localDocumentClient();
  await createTestTables(doc, prefix);
  sim = await startSimulator({ images: IMAGES, seed: 5, rateLimit: false, heavyFraction: 0 });
  baseKeys = sim.truth.present();
  baseReports = baseKeys.map((k) => sim.truth.report(k) as Record<string, unknown>);
  serve = { reports: () => baseReports };
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/authenticate')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"hostile-token"}');
      return;
    }
    if (url.pathname.endsWith('/registry/progress')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      return;
    }
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const limit = Math.min(50, Number(url.searchParams.get('limit') ?? 50) || 50);
    const reports = serve.reports();
    const body = serve.body?.(offset) ?? JSON.stringify(reports.slice(offset, offset + limit));
    res.writeHead(200, { 'content-type': 'application/json', 'total-count': String(reports.length) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stores = storesOf(doc, prefix, CONSOLE_ID);
  // The baseline every case must leave intact.
  const first = await runAgainstHostile();
  expect(errorCode(first)).toBeUndefined();
}, 240_000);

afterAll(async () => {
  console.info(`hostile input: ${tried.length} inputs tried: ${tried.join('; ')}`);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await sim?.close();
  doc?.destroy();
});

async function runAgainstHostile() {
  const port = (server.address() as AddressInfo).port;
  const fake = { url: `http://127.0.0.1:${port}` } as RunningSimulator;
  return await syncOnce(fake, stores, CONSOLE_ID, {
    client: {
      credentials: { username: 'u', password: 'p' },
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    },
    sync: { fresh: true },
  });
}

/** Every baseline image is still stored, current and with the content of its report. */
async function expectBaselineIntact(): Promise<void> {
  const stored = await storedConsole(doc, prefix, CONSOLE_ID, baseKeys);
  for (const key of baseKeys) {
    expect(stored.images.get(key)?.removed, `${key} still current`).toBe(false);
    expect(stored.images.get(key)?.contentHash).toBe(expectedOf(sim, key, CONSOLE_ID).contentHash);
  }
}

function expectNoPollution(): void {
  const probe: Record<string, unknown> = {};
  expect(probe.polluted).toBeUndefined();
  expect(probe.isAdmin).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(typeof Object.prototype.toString).toBe('function');
}

/** Serves `reports` (page 1 = the first 50) for one run. */
function withReports(reports: unknown[]) {
  serve = { reports: () => reports };
}

/** Serves `reports` with the string '@NESTED@' replaced by `depth` levels of {"deeper":[...]} (built as text: JSON.stringify would overflow). */
function withNestedReports(reports: unknown[], depth: number) {
  const nested = `${'{"deeper":['.repeat(depth)}"bottom"${']}'.repeat(depth)}`;
  serve = {
    reports: () => reports,
    body: (offset) => JSON.stringify(reports.slice(offset, offset + 50)).replace('"@NESTED@"', nested),
  };
}

function withPageBody(offset: number, body: string) {
  serve = { reports: () => baseReports, body: (o) => (o === offset ? body : undefined) };
}

const FAILING: Array<{ name: string; arrange: () => void; code: RegExp; mentions: string[] }> = [
  {
    name: 'malformed JSON on the second page',
    arrange: () => withPageBody(49, '[{"_id": "sha256:abc", "repoTag": {'),
    code: /^client\.pageFailed$/,
    mentions: ['offset=49'],
  },
  {
    name: 'an HTML page with status 200 on the first page',
    arrange: () => withPageBody(0, '<!DOCTYPE html><html><body>Sign in</body></html>'),
    code: /^client\.pageFailed$/,
    mentions: ['offset=0'],
  },
  {
    name: 'an empty body with status 200',
    arrange: () => withPageBody(49, ''),
    code: /^client\.pageFailed$/,
    mentions: ['offset=49'],
  },
  {
    name: 'an object instead of the report array',
    arrange: () => withPageBody(0, '{"err":"something odd"}'),
    code: /^client\./,
    mentions: ['offset=0'],
  },
  {
    name: 'null instead of the report array',
    arrange: () => withPageBody(49, 'null'),
    code: /^client\./,
    mentions: ['offset=49'],
  },
];

/** One report of a key field of the wrong type: quarantined (SPEC §4.7), the rest of its page stored. */
const QUARANTINED: Array<{
  name: string;
  arrange: () => void;
  entry: { offset: number; index: number; reason: string };
  /** Whether its image can be told for sure: if not, the run does not sweep. */
  identified: boolean;
}> = [
  {
    name: 'vulnerabilities as a string',
    arrange: () => {
      const reports = [...baseReports];
      reports[52] = { ...clone(52), vulnerabilities: 'lots' };
      withReports(reports);
    },
    entry: { offset: 49, index: 3, reason: 'report[3].vulnerabilities: expected array, got string' },
    identified: true,
  },
  {
    name: 'repoTag as a number',
    arrange: () => {
      const reports = [...baseReports];
      reports[10] = { ...clone(10), repoTag: 42 };
      withReports(reports);
    },
    entry: { offset: 0, index: 10, reason: 'report[10].repoTag: expected object, got number' },
    identified: false,
  },
  {
    name: 'a report without _id',
    arrange: () => {
      const reports = [...baseReports];
      const { _id, ...rest } = clone(51);
      reports[51] = rest;
      withReports(reports);
    },
    entry: { offset: 49, index: 2, reason: 'report[2]._id: expected string, got nothing (missing)' },
    identified: true,
  },
];

describe('hostile input', () => {
  it.each(FAILING)(
    'fails with a clear error naming the page and the field on $name, keeping what was stored',
    async (c) => {
      c.arrange();
      const outcome = await runAgainstHostile();
      tried.push(c.name);
      expect(isSyncError(outcome.error), String(outcome.error)).toBe(true);
      expect(errorCode(outcome)).toMatch(c.code);
      const message = (outcome.error as Error).message;
      for (const mention of c.mentions) expect(message).toContain(mention);
      expect(message.length).toBeLessThan(2_000);
      const [run] = await stores.queries.runs(1);
      expect(run?.status).toBe('failed');
      expect(String(run?.error).length).toBeLessThan(2_100);
      await expectBaselineIntact();
      expectNoPollution();
    },
  );

  it.each(QUARANTINED)(
    'quarantines one report with $name, stores the rest and completes, its stored image kept',
    async (c) => {
      c.arrange();
      const outcome = await runAgainstHostile();
      tried.push(c.name);
      expect(errorCode(outcome)).toBeUndefined();
      expect(outcome.result).toMatchObject({ status: 'completed', quarantined: 1, removed: 0 });
      expect(outcome.result?.quarantine).toEqual([
        expect.objectContaining({ ...c.entry, code: 'client.schema' }),
      ]);
      expect(outcome.result?.quarantine[0]?.identity === null).toBe(!c.identified);
      expect(outcome.result?.reason ?? '').toMatch(c.identified ? /^$/ : /removal sweep skipped/);
      const [run] = await stores.queries.runs(1);
      expect(run).toMatchObject({ status: 'completed', quarantined: 1 });
      await expectBaselineIntact();
      expectNoPollution();
    },
  );

  it('reads fields the product does not key on leniently (osDistro: 12, cvss "high", cvss 1e308) and stores every image', async () => {
    const reports = [...baseReports];
    const distro = clone(12);
    distro.osDistro = 12;
    reports[12] = distro;
    const text = clone(53);
    text.vulnerabilities = [{ ...(text.vulnerabilities?.[0] ?? {}), cve: 'CVE-2099-0010', cvss: 'high' }];
    reports[53] = text;
    const huge = clone(40);
    huge.vulnerabilities = [{ ...(huge.vulnerabilities?.[0] ?? {}), cve: 'CVE-2099-0011', cvss: 1e308 }];
    reports[40] = huge;
    withReports(reports);
    const outcome = await runAgainstHostile();
    tried.push('osDistro: 12', 'cvss "high"', 'cvss 1e308');
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result?.status).toBe('completed');
    const stored = await storedConsole(doc, prefix, CONSOLE_ID, baseKeys);
    for (const key of baseKeys) expect(stored.images.get(key)?.removed, `${key} still current`).toBe(false);
    const image = await stores.queries.image(parseImageKey(baseKeys[12]!));
    expect(image?.contentHash).toBe(stored.images.get(baseKeys[12]!)?.contentHash);
    for (const [index, cve] of [
      [53, 'CVE-2099-0010'],
      [40, 'CVE-2099-0011'],
    ] as const) {
      const withFinding = await stores.queries.image(parseImageKey(baseKeys[index]!));
      const finding = withFinding?.findings.find((f) => f.id === cve);
      expect(finding, cve).toBeDefined();
      expect(finding?.cvss ?? null).toBeNull();
    }
    expectNoPollution();
  });

  it('stores a 10 MB description and a 1,000-level nesting safely, in full in the raw report', async () => {
    const reports = [...baseReports];
    const big = clone(20);
    const huge = `A${'x'.repeat(10 * 1024 * 1024)}Z`;
    big.vulnerabilities = [{ ...(big.vulnerabilities?.[0] ?? {}), cve: 'CVE-2099-0001', description: huge }];
    big.nestedUnknownField = '@NESTED@';
    reports[20] = big;
    withNestedReports(reports, 1_000);
    const outcome = await runAgainstHostile();
    tried.push('10 MB description', 'nesting 2,000 levels deep');
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result?.status).toBe('completed');
    const where = parseImageKey(baseKeys[20]!);
    const image = await stores.queries.image(where);
    const finding = image?.findings.find((f) => f.id === 'CVE-2099-0001');
    expect(finding).toBeDefined();
    // The current image's raw report: the text as served, deep nesting and 10 MB included.
    const rawText = await stores.queries.rawReport(where);
    expect(rawText).toContain('{"deeper":['.repeat(1_000));
    const raw = JSON.parse(rawText ?? '{}') as Report;
    const rawDescription = (raw.vulnerabilities?.[0] as { description?: string } | undefined)?.description;
    expect(rawDescription?.length).toBe(huge.length);
    expect(rawDescription?.endsWith('Z')).toBe(true);
    expectNoPollution();
  });

  // SPEC §4.7: one bad report never blocks the rest (engine quarantine).
  it('quarantines a report with a 10 MB tag (an image key no store can hold) and completes', async () => {
    const report = clone(3);
    report._id = 'sha256:huge-tag';
    report.repoTag = { registry: 'r.example', repo: 'huge', tag: 't'.repeat(10 * 1024 * 1024) };
    report.tags = [];
    withReports([...baseReports, report]);
    const outcome = await runAgainstHostile();
    tried.push('a 10 MB tag');
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result).toMatchObject({ status: 'completed', quarantined: 1 });
    const [entry] = outcome.result?.quarantine ?? [];
    expect(entry).toMatchObject({ offset: 49, code: expect.stringMatching(/^normalize\./) });
    // What the run record keeps of it is bounded: not the 10 MB tag.
    expect(JSON.stringify(outcome.result?.quarantine).length).toBeLessThan(2_000);
    const [run] = await stores.queries.runs(1);
    expect(run).toMatchObject({ status: 'completed', quarantined: 1 });
    await expectBaselineIntact();
    expectNoPollution();
  });

  it('quarantines a report nested too deeply to store, naming its page, and completes', async () => {
    const reports = [...baseReports];
    const deep = clone(52);
    deep.nestedUnknownField = '@NESTED@';
    reports[52] = deep;
    withNestedReports(reports, 20_000);
    const outcome = await runAgainstHostile();
    tried.push('nesting 40,000 levels deep');
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result).toMatchObject({ status: 'completed', quarantined: 1 });
    expect(outcome.result?.quarantine[0]).toMatchObject({
      offset: 49,
      code: 'sync.invalidReport',
      sha256: null,
      reason: expect.stringMatching(/nested too deeply/),
    });
    await expectBaselineIntact();
    expectNoPollution();
  });

  it('stores unicode, control characters and __proto__ / constructor keys as data, polluting nothing', async () => {
    const reports = [...baseReports];
    const tagged = clone(7);
    const tag = 'v1-\u00e9\u4e2d\u{1f600}-\u202e-rtl';
    tagged._id = 'sha256:unicode';
    tagged.repoTag = { registry: 'r.example', repo: 'uni/\u00fc', tag };
    tagged.tags = [];
    tagged.vulnerabilities = [
      {
        ...(tagged.vulnerabilities?.[0] ?? {}),
        cve: 'CVE-2099-0002',
        description: 'nul \u0000 bell \u0007 esc \u001b[31m del \u007f lone \ud800 end',
        packageName: 'pkg-\u0000-\u{1f4a9}',
      },
    ];
    const poisoned = JSON.parse(
      JSON.stringify(clone(30)).replace(
        /^\{/,
        '{"__proto__":{"polluted":true,"isAdmin":true},"constructor":{"prototype":{"polluted":true}},',
      ),
    ) as Report;
    poisoned.vulnerabilities = [
      JSON.parse(
        `{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"isAdmin":true}},"cve":"CVE-2099-0003","severity":"high","packageName":"__proto__","packageVersion":"constructor"}`,
      ) as Record<string, unknown>,
    ];
    reports[30] = poisoned;
    withReports([...reports, tagged]);
    const outcome = await runAgainstHostile();
    tried.push('unicode and control characters', 'lone surrogate', '__proto__ / constructor keys');
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result?.status).toBe('completed');
    expectNoPollution();
    const image = await stores.queries.image({ registry: 'r.example', repo: 'uni/\u00fc', tag });
    expect(image?.tag).toBe(tag);
    const finding = image?.findings.find((f) => f.id === 'CVE-2099-0002');
    expect(finding?.packageName).toBe('pkg-\u0000-\u{1f4a9}');
    const key = baseKeys[30]!;
    const slash = key.indexOf('/');
    const colon = key.lastIndexOf(':');
    const proto = await stores.queries.image({
      registry: key.slice(0, slash),
      repo: key.slice(slash + 1, colon),
      tag: key.slice(colon + 1),
    });
    expect(proto?.findings.map((f) => [f.id, f.packageName, f.packageVersion])).toContainEqual([
      'CVE-2099-0003',
      '__proto__',
      'constructor',
    ]);
    expectNoPollution();
  });

  it('completes the next clean run with every image back as the console serves it', async () => {
    withReports(baseReports);
    const outcome = await runAgainstHostile();
    expect(errorCode(outcome)).toBeUndefined();
    expect(outcome.result?.status).toBe('completed');
    await expectBaselineIntact();
    const stored = await storedConsole(doc, prefix, CONSOLE_ID, baseKeys);
    for (const key of baseKeys) {
      expect(stored.openFindings.get(key) ?? new Set()).toEqual(expectedOf(sim, key, CONSOLE_ID).findings);
    }
    expectNoPollution();
  });
});
