/**
 * Crash anywhere: the CLI (a child process, `bin/prisma-registry-sync.js sync`) is killed with
 * SIGKILL at several points of a run, then run again; the final tables must equal those of one clean
 * run (a canonical dump: run-specific times and ids masked, console id masked, change feed compared
 * as a set because a crash between the change batch and the finding batch may repeat a change entry,
 * by design: repeat, never loss).
 *
 * SIGKILL leaves the lease item behind; the re-run (same host) takes it over because the holder's
 * pid is gone (engine: dead local owner), so the resume starts at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableNames } from '../../lambda/store/index.js';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { scanAll, storesOf, syncOnce } from './support.js';

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
    const outcome = await syncOnce(sim, storesOf(doc, cleanPrefix, CONSOLE_ID), CONSOLE_ID);
    expect(outcome.result?.status).toBe('completed');
  } finally {
    await sim.close();
  }
  cleanDump = await dump(cleanPrefix);
}, 120_000);
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
    changes: [...new Set(text(images.filter((i) => String(i.pk).startsWith('CHG#'))))],
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
  arm: (sim: RunningSimulator, kill: () => void, prefix: string) => void;
}> = [
  {
    name: 'while the first page is being written',
    // The 2nd GET is the prefetch, sent while page 1 is normalized and written.
    arm: (sim, kill) => sim.onRegistryRequest((n) => n === 2 && setTimeout(kill, 150)),
  },
  {
    name: 'right after the first page is committed',
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
    // The 3rd GET (the overlap-only last page) is the prefetch sent while page 2, the last page with
    // new images, is written. A fixed delay after an earlier GET would race the run's own speed.
    arm: (sim, kill) => sim.onRegistryRequest((n) => n === 3 && setTimeout(kill, 150)),
  },
];

describe('a CLI sync killed with SIGKILL', () => {
  it.each(KILL_POINTS)('resumes $name to the same tables as one clean run', async ({ name, arm }) => {
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
      const resumed = await cli(sim, prefix).done;
      expect(resumed.code, resumed.stderr).toBe(0);
      const result = JSON.parse(resumed.stdout) as { status: string; resumed: boolean; images: number };
      expect(result.status).toBe('completed');
      expect(result.images).toBe(IMAGES);
      resumes.push(result.resumed);
      const after = await dump(prefix);
      expect(after.images).toEqual(cleanDump.images);
      expect(after.raw).toEqual(cleanDump.raw);
      expect(after.changes).toEqual(cleanDump.changes);
    } finally {
      await sim.close();
    }
  });
});
