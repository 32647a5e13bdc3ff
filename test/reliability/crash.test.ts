/**
 * Crash anywhere: the CLI (a child process, `bin/prisma-registry-sync.js sync`) is killed with
 * SIGKILL at several points of a run, then run again; the final tables must equal those of one clean
 * run (a canonical dump: run-specific times and ids masked, console id masked, change feed compared
 * as a set because a crash between the change batch and the finding batch may repeat a change entry,
 * by design: repeat, never loss).
 *
 * SIGKILL leaves the lease item behind; the re-run (same host) takes it over because the holder's
 * pid is gone (engine: dead local owner), so the resume starts at once. Wherever a checkpoint was
 * committed before the kill, the re-run must resume that very run (not start a new one), and the
 * clean run itself is checked against the simulator's ground truth. One kill lands inside a removal
 * sweep that really removes images (after a first full pass, 40 images leave the console).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableNames } from '../../lambda/store/index.js';
import { decodeChanges } from '../../lambda/store/items.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { expectMatchesTruth, scanAll, storesOf, syncOnce } from './support.js';

/** Three GETs: 50, then 49 new, then the one-item overlap; pages 1 and 2 each write about 50 images. */
const IMAGES = 99;
const SEED = 21;
/** The console id is part of every content hash: the clean run and each crash use one id in their own tables. */
const CONSOLE_ID = 'zq-crash';
const cleanPrefix = uniqueTablePrefix('crash-clean');
const testStart = Date.now();
let doc: DynamoDBDocumentClient;
let cleanDump: Dump;
const resumes: boolean[] = [];

beforeAll(async () => {
  doc = localDocumentClient();
  await createTestTables(doc, cleanPrefix);
  const sim = await startSimulator({ images: IMAGES, seed: SEED, rateLimit: false, heavyFraction: 0 });
  try {
    const stores = storesOf(doc, cleanPrefix, CONSOLE_ID);
    const mark = sim.truth.mark();
    const outcome = await syncOnce(sim, stores, CONSOLE_ID);
    expect(outcome.result?.status).toBe('completed');
    // The reference every crash is compared with must itself be right.
    const checked = await expectMatchesTruth({
      doc,
      prefix: cleanPrefix,
      consoleId: CONSOLE_ID,
      stores,
      sim,
      mark,
    });
    expect(checked.images).toBe(IMAGES);
  } finally {
    await sim.close();
  }
  cleanDump = await dump(cleanPrefix);
}, 180_000);
afterAll(() => {
  console.info(
    `crash: ${resumes.length} SIGKILLs, resumed from a checkpoint: ${resumes.filter(Boolean).length}`,
  );
  doc?.destroy();
});

interface Dump {
  images: string[];
  raw: string[];
  changes: string[];
}

const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g;
/** Fields that name the run or the moment it ran, not the data. */
const RUN_FIELDS = new Set([
  'lastRunId',
  'runId',
  'updatedAt',
  'seenAt',
  'lastScannedAt',
  'firstSeenAt',
  'removedByRun',
  'ttl',
]);

function canonical(value: unknown, consoleId: string): unknown {
  if (typeof value === 'string') {
    return value
      .split(consoleId)
      .join('<console>')
      .replace(ISO, (t) => (Date.parse(t) >= testStart - 60_000 ? '<now>' : t));
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map((v) => canonical(v, consoleId));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      if (RUN_FIELDS.has(key)) continue;
      out[key] = canonical((value as Record<string, unknown>)[key], consoleId);
    }
    return out;
  }
  return value;
}

/** A canonical dump of one console's data (test-only Scan). */
async function dump(prefix: string, consoleId = CONSOLE_ID): Promise<Dump> {
  const names = tableNames(prefix);
  const mine = (item: Record<string, unknown>) =>
    String(item.pk).includes(`#${consoleId}#`) || item.consoleId === consoleId;
  const images = (await scanAll(doc, names.images)).filter(mine);
  const raw = (await scanAll(doc, names.rawReports)).filter(mine);
  const text = (items: Array<Record<string, unknown>>) =>
    items.map((item) => JSON.stringify(canonical(item, consoleId))).sort();
  return {
    images: text(images.filter((i) => !String(i.pk).startsWith('CHG#'))),
    raw: text(raw),
    // The change feed as every reader decodes it (one change per finding): a kill between a page's
    // finding and change writes announces the findings written before it at their own detection
    // time, in an item of its own, so the items may be cut differently while the changes are the same.
    changes: [
      ...new Set(
        images
          .filter((i) => String(i.pk).startsWith('CHG#'))
          .flatMap((item) => decodeChanges(item))
          .map((change) => JSON.stringify(canonical(change, consoleId))),
      ),
    ].sort(),
  };
}

function cli(
  sim: RunningSimulator,
  prefix: string,
  consoleId = CONSOLE_ID,
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const child = spawn(
    process.execPath,
    [join(process.cwd(), 'bin', 'prisma-registry-sync.js'), 'sync', '--json'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        ...localDynamoEnv(prefix),
        PRISMA_CONSOLE_URL: sim.url,
        PRISMA_USERNAME: 'demo',
        PRISMA_PASSWORD: 'demo',
        PRISMA_CONSOLE_ID: consoleId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += String(c);
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += String(c);
  });
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const KILL_POINTS: Array<{
  name: string;
  /** A page is committed before this kill point on every schedule, so the re-run must resume. */
  committedBefore: boolean;
  arm: (sim: RunningSimulator, kill: () => void, prefix: string) => void;
}> = [
  {
    name: 'while the first page is being written',
    committedBefore: false,
    // The 2nd GET is the prefetch, sent while page 1 is normalized and written.
    arm: (sim, kill) => sim.onRegistryRequest((n) => n === 2 && setTimeout(kill, 150)),
  },
  {
    name: 'right after the first page is committed',
    committedBefore: true,
    arm: (_sim, kill, prefix) => {
      const stores = storesOf(doc, prefix, CONSOLE_ID);
      const poll = setInterval(() => {
        void stores.runs.loadCheckpoint().then((cp) => {
          if (cp && cp.pageIndex >= 0) {
            clearInterval(poll);
            kill();
          }
        });
      }, 20);
    },
  },
  {
    name: 'while the last page is written or the removal sweep runs',
    // GET 3 is sent once page 1 is committed (the pager prefetches when the engine asks for page 2).
    committedBefore: true,
    // The 3rd GET (the overlap-only last page) is the prefetch sent while page 2, the last page with
    // new images, is written. A fixed delay after an earlier GET would race the run's own speed.
    arm: (sim, kill) => sim.onRegistryRequest((n) => n === 3 && setTimeout(kill, 150)),
  },
];

/**
 * The re-run after a kill: completes, and resumes the killed run whenever that run had committed a
 * checkpoint (a re-run that started over would hide a resume that never works).
 */
async function resumeAfterKill(
  sim: RunningSimulator,
  prefix: string,
  mustHaveCheckpoint: boolean,
): Promise<{ status: string; resumed: boolean; runId: string; images: number; removed: number }> {
  const checkpoint = await storesOf(doc, prefix, CONSOLE_ID).runs.loadCheckpoint();
  if (mustHaveCheckpoint) expect(checkpoint, 'a checkpoint committed before the kill').toBeDefined();
  const resumed = await cli(sim, prefix).done;
  expect(resumed.code, resumed.stderr).toBe(0);
  const result = JSON.parse(resumed.stdout) as {
    status: string;
    resumed: boolean;
    runId: string;
    images: number;
    removed: number;
  };
  expect(result.status).toBe('completed');
  expect(result.resumed, 'the re-run resumed the killed run from its checkpoint').toBe(
    checkpoint !== undefined,
  );
  if (checkpoint) expect(result.runId).toBe(checkpoint.runId);
  resumes.push(result.resumed);
  return result;
}

describe('a CLI sync killed with SIGKILL', { timeout: 180_000 }, () => {
  it.each(KILL_POINTS)(
    'resumes $name to the same tables as one clean run',
    async ({ name, arm, committedBefore }) => {
      const prefix = uniqueTablePrefix(`crash-${KILL_POINTS.findIndex((k) => k.name === name)}`);
      await createTestTables(doc, prefix);
      const sim = await startSimulator({ images: IMAGES, seed: SEED, rateLimit: false, heavyFraction: 0 });
      try {
        const first = cli(sim, prefix);
        let killedAt = -1;
        arm(
          sim,
          () => {
            if (killedAt < 0) {
              killedAt = sim.requestLog.length;
              first.child.kill('SIGKILL');
            }
          },
          prefix,
        );
        const crashed = await first.done;
        expect(crashed.signal, `the run finished before the kill point: ${crashed.stdout}`).toBe('SIGKILL');

        // The killed process still holds the lease on paper; a local re-run sees its pid is gone and
        // takes over at once (a live holder would make it refuse with sync.leaseHeld).
        expect((await storesOf(doc, prefix, CONSOLE_ID).runs.currentLease())?.owner).toMatch(/^local:/);
        const result = await resumeAfterKill(sim, prefix, committedBefore);
        expect(result.images).toBe(IMAGES);
        const after = await dump(prefix);
        expect(after.images).toEqual(cleanDump.images);
        expect(after.raw).toEqual(cleanDump.raw);
        expect(after.changes).toEqual(cleanDump.changes);
      } finally {
        await sim.close();
      }
    },
  );

  it('resumes a run killed inside a removal sweep that removes images to the same tables as one clean run', async () => {
    const sim = await startSimulator({ images: IMAGES, seed: SEED, rateLimit: false, heavyFraction: 0 });
    const referencePrefix = uniqueTablePrefix('crash-sweep-clean');
    const prefix = uniqueTablePrefix('crash-sweep');
    try {
      // One full pass into both table sets, then 40 images (with all their open findings) leave the console.
      for (const p of [referencePrefix, prefix]) {
        await createTestTables(doc, p);
        expect((await syncOnce(sim, storesOf(doc, p, CONSOLE_ID), CONSOLE_ID)).result?.status).toBe(
          'completed',
        );
      }
      const gone = sim.mutate.remove(sim.truth.present().filter((_, i) => i % 5 < 2));
      expect(gone).toHaveLength(40);

      const mark = sim.truth.mark();
      const referenceStores = storesOf(doc, referencePrefix, CONSOLE_ID);
      const clean = await syncOnce(sim, referenceStores, CONSOLE_ID);
      expect(clean.result?.status).toBe('completed');
      expect(clean.result?.removed).toBe(gone.length);
      await expectMatchesTruth({
        doc,
        prefix: referencePrefix,
        consoleId: CONSOLE_ID,
        stores: referenceStores,
        sim,
        mark,
      });
      const reference = await dump(referencePrefix);

      // Kill the CLI as soon as the sweep has marked its first image removed.
      const stores = storesOf(doc, prefix, CONSOLE_ID);
      const first = cli(sim, prefix);
      let polling = true;
      const poll = (async () => {
        while (polling) {
          if ((await stores.queries.images({})).length < IMAGES) {
            first.child.kill('SIGKILL');
            return;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const crashed = await first.done;
      polling = false;
      await poll;
      expect(crashed.signal, `the run finished before the sweep was hit: ${crashed.stdout}`).toBe('SIGKILL');
      // Only images that left the console are ever removed: the current count tells how far the sweep got.
      const removedAtKill = IMAGES - (await stores.queries.images({})).length;
      expect(removedAtKill, 'the kill fell inside the sweep: some removals done').toBeGreaterThan(0);
      expect(removedAtKill, 'the kill fell inside the sweep: some removals left').toBeLessThan(gone.length);

      const result = await resumeAfterKill(sim, prefix, true);
      expect(result.removed).toBe(gone.length - removedAtKill);
      const after = await dump(prefix);
      expect(after.images).toEqual(reference.images);
      expect(after.raw).toEqual(reference.raw);
      expect(after.changes).toEqual(reference.changes);
    } finally {
      await sim.close();
    }
  });
});
