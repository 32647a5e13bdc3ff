/**
 * One poison report among 200 (issue #20, SPEC §4.7): a node:http console serves 200 simulator
 * reports in pages of 50, one of them with a key field of the wrong type. The client hands that
 * report on in its slot, the engine quarantines it: the other 199 are stored (checked in DynamoDB
 * Local), the run completes, the poison report is listed with its reason on the run record and in
 * `query runs` (the CLI, a child process), and a re-run does exactly the same — no failed run, no
 * checkpoint to resume into.
 *
 * Then the same poison against a store that holds its image: the image keeps its state and is not
 * swept. A poison report whose image cannot be told for sure (its `repoTag` is broken) might be any
 * stored image, so that run does not sweep at all: an image that really left the console stays
 * current until a run without such a report sweeps it.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stores } from '../../lambda/store/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { runCli } from '../support/e2e.js';
import { errorCode, expectedOf, type Outcome, storedConsole, storesOf, syncOnce } from './support.js';

const IMAGES = 200;
/** The poison report's place in the console's list: the pager reads it in the response at offset 98, index 22. */
const POISON = 120;
const prefix = uniqueTablePrefix('poison');
let doc: DynamoDBDocumentClient;
let sim: RunningSimulator;
let server: Server;
let url: string;
let baseKeys: string[];
let baseReports: Array<Record<string, unknown>>;
let serving: unknown[] = [];

beforeAll(async () => {
  doc = localDocumentClient();
  await createTestTables(doc, prefix);
  sim = await startSimulator({ images: IMAGES, seed: 'poison', rateLimit: false, heavyFraction: 0 });
  baseKeys = sim.truth.present();
  baseReports = baseKeys.map((k) => sim.truth.report(k) as Record<string, unknown>);
  server = createServer((req, res) => {
    const at = new URL(req.url ?? '/', 'http://x');
    if (at.pathname.endsWith('/authenticate')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"poison-token"}');
      return;
    }
    if (at.pathname.endsWith('/registry/progress')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      return;
    }
    const offset = Number(at.searchParams.get('offset') ?? 0);
    const limit = Math.min(50, Number(at.searchParams.get('limit') ?? 50) || 50);
    res.writeHead(200, { 'content-type': 'application/json', 'total-count': String(serving.length) });
    res.end(JSON.stringify(serving.slice(offset, offset + limit)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 240_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await sim?.close();
  doc?.destroy();
});

interface PoisonCase {
  name: string;
  make: (report: Record<string, unknown>) => Record<string, unknown>;
  reason: string;
  /** Whether the poison report still names its image for sure (its repoTag is intact). */
  identified: boolean;
}

const CASES: PoisonCase[] = [
  {
    name: 'no _id',
    make: ({ _id, ...rest }) => rest,
    reason: 'report[22]._id: expected string, got nothing (missing)',
    identified: true,
  },
  {
    name: 'repoTag a number',
    make: (report) => ({ ...report, repoTag: 7 }),
    reason: 'report[22].repoTag: expected object, got number',
    identified: false,
  },
  {
    name: 'vulnerabilities a string',
    make: (report) => ({ ...report, vulnerabilities: 'none' }),
    reason: 'report[22].vulnerabilities: expected array, got string',
    identified: true,
  },
];

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

async function sync(stores: Stores, consoleId: string): Promise<Outcome> {
  const fake = { url } as RunningSimulator;
  return await syncOnce(fake, stores, consoleId, {
    client: { credentials: { username: 'u', password: 'p' } },
  });
}

/** Which of `keys` the images table holds as current, and whether each has its report's content. */
async function currentKeys(consoleId: string, keys: string[]): Promise<string[]> {
  const stored = await storedConsole(doc, prefix, consoleId, keys);
  return keys.filter((key) => {
    const image = stored.images.get(key);
    if (image === undefined || image.removed) return false;
    expect(image.contentHash, key).toBe(expectedOf(sim, key, consoleId).contentHash);
    return true;
  });
}

describe('one poison report among 200', { timeout: 400_000 }, () => {
  it.each(CASES)(
    '($name) stores the other 199, completes with the poison listed and its reason, and a re-run does the same',
    async (c) => {
      const consoleId = `poison-${c.name.replace(/\W+/g, '-')}`;
      const stores = storesOf(doc, prefix, consoleId);
      const poison = c.make(structuredClone(baseReports[POISON] ?? {}));
      serving = baseReports.map((report, i) => (i === POISON ? poison : report));
      const others = baseKeys.filter((_, i) => i !== POISON);
      const runIds: string[] = [];

      for (const attempt of [1, 2]) {
        const outcome = await sync(stores, consoleId);
        expect(errorCode(outcome), `run ${attempt}: ${String(outcome.error)}`).toBeUndefined();
        const result = outcome.result!;
        runIds.push(result.runId);
        expect(result, `run ${attempt}`).toMatchObject({
          status: 'completed',
          resumed: false,
          images: IMAGES - 1,
          quarantined: 1,
          removed: 0,
        });
        expect(result.quarantine).toEqual([
          expect.objectContaining({
            offset: 98,
            index: 22,
            code: 'client.schema',
            reason: c.reason,
            sha256: sha256(poison),
            key: c.identified ? baseKeys[POISON] : null,
          }),
        ]);
        if (!c.identified) {
          expect(result.quarantine[0]?.reportId).toBe(poison._id);
          expect(result.reason).toMatch(/^removal sweep skipped: 1 quarantined report/);
        }
        expect(await currentKeys(consoleId, baseKeys)).toEqual(others);
        const [run] = await stores.queries.runs(1);
        expect(run).toMatchObject({ runId: result.runId, status: 'completed', quarantined: 1 });
        expect(run?.quarantine).toEqual(result.quarantine);
        expect(await stores.runs.loadCheckpoint()).toBeUndefined();
      }
      // A new run each time: nothing resumed into a failure.
      expect(new Set(runIds).size).toBe(2);

      const runs = await runCli(['query', 'runs', '--limit', '2'], {
        ...localDynamoEnv(prefix),
        PRISMA_CONSOLE_URL: url,
        PRISMA_CONSOLE_ID: consoleId,
      });
      expect(runs.code, runs.stderr).toBe(0);
      for (const runId of runIds) {
        expect(runs.stdout).toContain(`run ${runId}: 1 quarantined report(s):`);
      }
      const what = c.identified ? baseKeys[POISON] : `(no image name; _id ${String(poison._id)})`;
      expect(runs.stdout).toContain(
        `  ${what} at offset 98 #22: client.schema: ${c.reason} (sha256:${sha256(poison)})`,
      );
      if (!c.identified) expect(runs.stdout).toContain('removal sweep skipped');
    },
  );

  it.each(CASES)(
    '($name) keeps the stored image of the poison report as it was, and sweeps only when the poison names its image',
    async (c) => {
      const consoleId = `stored-${c.name.replace(/\W+/g, '-')}`;
      const stores = storesOf(doc, prefix, consoleId);
      serving = baseReports;
      expect(errorCode(await sync(stores, consoleId))).toBeUndefined();
      expect(await currentKeys(consoleId, baseKeys)).toEqual(baseKeys);

      // The poison report's image was stored; another image (index 10) leaves the console.
      const gone = baseKeys[10]!;
      const poison = c.make(structuredClone(baseReports[POISON] ?? {}));
      serving = baseReports.flatMap((report, i) => (i === 10 ? [] : i === POISON ? [poison] : [report]));
      const outcome = await sync(stores, consoleId);
      expect(errorCode(outcome)).toBeUndefined();
      expect(outcome.result).toMatchObject({
        status: 'completed',
        images: IMAGES - 2,
        quarantined: 1,
        removed: c.identified ? 1 : 0,
      });
      // One report earlier on the console now: the poison report is read at offset 98, index 21.
      expect(outcome.result?.quarantine[0]).toMatchObject({ offset: 98, index: 21, code: 'client.schema' });
      const current = await currentKeys(consoleId, baseKeys);
      // The poison report's image keeps its state (content included): never swept, never rewritten.
      expect(current).toContain(baseKeys[POISON]);
      // The image that left is swept only by a run that can prove it gone.
      expect(current.includes(gone)).toBe(!c.identified);
      const [run] = await stores.queries.runs(1);
      expect(run?.sweepSkipped === undefined).toBe(c.identified);

      // Once the console serves the report whole again, the next run sweeps what left.
      serving = baseReports.filter((_, i) => i !== 10);
      const clean = await sync(stores, consoleId);
      expect(clean.result).toMatchObject({
        status: 'completed',
        quarantined: 0,
        removed: c.identified ? 0 : 1,
      });
      expect(await currentKeys(consoleId, baseKeys)).toEqual(baseKeys.filter((k) => k !== gone));
    },
  );
});
