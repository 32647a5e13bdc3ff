/**
 * `npm run bench`: the five benchmarks of issue 9, each printing a table, then bench/results.md
 * (command, date, machine, load average, every table).
 *
 *   npm run bench [-- --only 1,3 --floor-images 2000 --throughput-images 20000 --heavy-images 600
 *                    --write-images 1000 --side-images 1000 --lambda-images 20000 --lambda-budget-s 40
 *                    --lambda-warmup-s 15 --no-write]
 *
 * 1. Floor ratio: the full engine at the real rate limit into DynamoDB Local, vs the request floor.
 * 2. Throughput with the API unthrottled: images/s, CPU ms per image end to end and for normalize
 *    alone, and a CPU profile of where the time goes.
 * 3. Heavy reports (5% over 1 MB): peak RSS of this process and the largest item written.
 * 4. Write cost: items written by a first sync, an unchanged re-sync, a re-sync after 5% changed.
 * 5. Side by side: bench/naive/pager.ts against RegistryPager on the same seeded, faulty, drifting
 *    console, vs ground truth.
 * 6. Lambda-sized CPU: the full engine in a child process held to 0.58 of a core by a cgroup v1 CPU
 *    quota (as a 1024 MB Lambda), simulator and DynamoDB Local outside the quota (DynamoDB Local
 *    warmed first by a sync into throwaway tables): images/s, and DynamoDB Local's CPU per image.
 *
 * The simulator runs in a child process where this process's CPU or RSS is measured (2, 3), and
 * in-process where the benchmark needs its hooks or request log (1, 4, 5). DynamoDB Local is a
 * Java child process throughout.
 */
import { execSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { normalizeReport } from '../lambda/normalize/index.js';
import { type ConsoleClient, RegistryPager } from '../lambda/prisma/index.js';
import { tableNames } from '../lambda/store/tables.js';
import { runSync, type SyncResult, tuneProcessForSync } from '../lambda/sync/engine.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { generateReport, imageSlot } from '../simulator/generator.js';
import { type FaultPlan, type RunningSimulator, startSimulator } from '../simulator/index.js';
import { naivePage } from './naive/pager.js';
import {
  benchClient,
  benchStore,
  CREDENTIALS,
  countingLogger,
  markdownTable,
  mergeResults,
  type Row,
  rssSampler,
  startChildSimulator,
  startProfiler,
  summarizeProfile,
} from './support.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: '1,2,3,4,5,6' },
    'lambda-images': { type: 'string', default: '20000' },
    'lambda-budget-s': { type: 'string', default: '40' },
    'lambda-warmup-s': { type: 'string', default: '15' },
    'floor-images': { type: 'string', default: '2000' },
    'throughput-images': { type: 'string', default: '20000' },
    'throughput-budget-s': { type: 'string', default: '60' },
    'heavy-images': { type: 'string', default: '100' },
    'paging-budget-s': { type: 'string', default: '40' },
    'write-images': { type: 'string', default: '600' },
    'side-images': { type: 'string', default: '1000' },
    'no-write': { type: 'boolean', default: false },
  },
});
const only = new Set(values.only.split(',').map((s) => s.trim()));
const SEED = 1;
const PAGE = 50;

const sections: string[] = [];
/** The sections of this run by number, for merging a partial run (`--only`) into results.md. */
const sectionsByNumber = new Map<number, string>();
const say = (line = '') => process.stdout.write(`${line}\n`);
function section(
  title: string,
  notes: string[],
  tables: Array<{ caption?: string; rows: Row[]; columns?: string[] }>,
) {
  let text = `## ${title}\n\n`;
  for (const note of notes) text += `${note}\n`;
  if (notes.length > 0) text += '\n';
  for (const t of tables) {
    if (t.caption) text += `${t.caption}\n\n`;
    text += `${markdownTable(t.rows, t.columns)}\n`;
  }
  say(text);
  sections.push(text);
  sectionsByNumber.set(Number(/^(\d+)\./.exec(title)?.[1]), text);
}
const seconds = (ms: number) => Number((ms / 1000).toFixed(1));
const keyOf = (report: {
  repoTag?: { registry?: string | null; repo?: string | null; tag?: string | null } | null;
}) => `${report.repoTag?.registry ?? ''}/${report.repoTag?.repo ?? ''}:${report.repoTag?.tag ?? ''}`;

/** Each scenario gets a fresh DynamoDB Local: a JVM holding an earlier scenario's items slows down many times over. */
let endpoint = '';
let dynamoDbLocalPid: number | undefined;
async function withDynamoDbLocal(scenario: () => Promise<void>): Promise<void> {
  // A JVM takes long to start on a machine shared with other jobs.
  const ddb = await startDynamoDbLocal({ timeoutMs: 180_000 });
  endpoint = ddb.endpoint;
  dynamoDbLocalPid = ddb.pid;
  try {
    await scenario();
  } finally {
    await ddb.stop();
  }
}
process.env.AWS_ACCESS_KEY_ID ??= 'local';
process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
// The bench is a shell, like the CLI: it tunes its process for syncs (the engine no longer does).
tuneProcessForSync();
const loadAtStart = loadavg();
const benchStarted = performance.now();

async function engineSync(
  url: string,
  store: Awaited<ReturnType<typeof benchStore>>,
  consoleId: string,
): Promise<{ result: SyncResult; wallMs: number; warnings: number }> {
  const client = benchClient(url);
  const logger = countingLogger();
  const started = performance.now();
  try {
    const result = await runSync({ client, stores: store.stores, consoleId, logger }, { trigger: 'bench' });
    return { result, wallMs: performance.now() - started, warnings: logger.warnings };
  } finally {
    await client.close();
  }
}

/**
 * The engine's read side alone: RegistryPager + normalizeReport per page, nothing stored. Shows
 * what the client does when the store is not the limit. Stops after `budgetMs`.
 */
async function pageAndNormalize(
  url: string,
  budgetMs = Number.POSITIVE_INFINITY,
  client: ConsoleClient = benchClient(url),
): Promise<{
  images: number;
  wallMs: number;
  cpuMs: number;
  requests: number;
  throttled: number;
  done: boolean;
}> {
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  let images = 0;
  let done = false;
  try {
    for await (const page of new RegistryPager(client)) {
      for (const raw of page.reports) normalizeReport(raw, { consoleId: 'bench-read' });
      images += page.reports.length;
      done = page.done;
      if (performance.now() - started > budgetMs) break;
    }
  } finally {
    await client.close();
  }
  const cpu = process.cpuUsage(cpuStart);
  return {
    images,
    wallMs: performance.now() - started,
    cpuMs: (cpu.user + cpu.system) / 1000,
    requests: client.counters.requests,
    throttled: client.counters.throttled,
    done,
  };
}

// ---------------------------------------------------------------------------------------------
// 3 first: its peak RSS must not include what the other scenarios left on the heap.
async function heavyReports(): Promise<void> {
  const images = Number(values['heavy-images']);
  const sim = await startChildSimulator({ images, seed: SEED, rateLimit: false, heavyFraction: 0.05 });
  try {
    const store = await benchStore(endpoint, 'bench-heavy', 'bench-heavy');
    const rssBefore = Math.round(process.memoryUsage().rss / 1024 / 1024);
    const sampler = rssSampler(20);
    let largestPageBytes = 0;
    const { result, wallMs } = await engineSync(sim.url, store, 'bench-heavy');
    const rss = sampler.stop();
    largestPageBytes = Math.round(result.bytes / Math.max(1, result.pages));
    // Which reports were heavy, from the same seeded generator the simulator serves.
    let heavy = 0;
    let largestReportMb = 0;
    for (let i = 0; i < images; i += 1) {
      const size = JSON.stringify(
        generateReport({ seed: SEED, heavyFraction: 0.05 }, imageSlot(SEED, i), {
          scanGeneration: 0,
          findingsVersion: 0,
        }),
      ).length;
      if (size > 1024 * 1024) heavy += 1;
      largestReportMb = Math.max(largestReportMb, size / 1024 / 1024);
    }
    section(
      '3. Heavy reports (5% of reports over 1 MB)',
      [
        `Full engine, simulator unthrottled in a child process (heavyFraction 0.05), ${images} images. ` +
          `RSS of the benchmark process polled every 20 ms (${rss.samples} samples); the simulator and DynamoDB Local are other processes. ` +
          `Item size = DynamoDB bytes (attribute names + values) of every item put, measured on each write command's input. ` +
          'The engine runs as in production: pages handed to the store in groups of about 4 MiB of raw JSON, no prefetch after a page over 4 MiB, ' +
          "and V8's heap growing factor set to 1.5 by the run (SYNC_V8_FLAGS; without it V8 lets the old generation reach about 4 times the live heap on this machine).",
      ],
      [
        {
          rows: [
            {
              images,
              'reports > 1 MB': heavy,
              'largest report (MB)': largestReportMb.toFixed(2),
              status: result.status,
              'wall (s)': seconds(wallMs),
              'items written': result.written,
              'RSS before (MB)': rssBefore,
              'peak RSS (MB)': rss.peakMb,
              'target RSS (MB)': '< 256',
              'max item (KB)': (store.meter.maxItemBytes / 1024).toFixed(1),
              'target item (KB)': '< 400',
              'avg wire bytes / page (KB)': Math.round(largestPageBytes / 1024),
            },
          ],
        },
      ],
    );
  } finally {
    await sim.stop();
  }
}

// ---------------------------------------------------------------------------------------------
async function floorRatio(): Promise<void> {
  const images = Number(values['floor-images']);
  // 30 requests / 30 s, as a console; no heavy reports (scenario 3), so the store's share stays typical.
  const sim = await startSimulator({ images, seed: SEED, heavyFraction: 0 });
  const readSim = await startSimulator({ images, seed: SEED, heavyFraction: 0 });
  try {
    const store = await benchStore(endpoint, 'bench-floor', 'bench-floor');
    const { result, wallMs } = await engineSync(sim.url, store, 'bench-floor');
    const registryRequests = sim.requestLog.filter((e) => e.path.endsWith('/registry')).length;
    const rejected = sim.requestLog.filter((e) => e.status === 429).length;
    const read = await pageAndNormalize(readSim.url);
    const readRegistry = readSim.requestLog.filter((e) => e.path.endsWith('/registry')).length;
    const readRejected = readSim.requestLog.filter((e) => e.status === 429).length;
    const floorRequests = Math.ceil(images / PAGE);
    const floorMs = floorRequests * 1000;
    // The minimum any client can do under a 30/30 s sliding window: the pages plus authenticate
    // and one scan-progress call; the first 30 go at once, each further 30 one window later.
    const minimumRequests = floorRequests + 2;
    const burstFloorMs = Math.floor((minimumRequests - 1) / 30) * 30_000;
    section(
      '1. Floor ratio (real rate limit, 30 requests / 30 s)',
      [
        `Full engine (client → normalize → DynamoDB Local), ${images} images, simulator in-process with its real sliding window. ` +
          `Floor per the issue = ceil(images / 50) registry requests at 1/s = ${seconds(floorMs)} s. ` +
          `Burst floor = the least time any client needs for ${minimumRequests} requests (pages + authenticate + scan progress) when the window admits 30 at once = ${seconds(burstFloorMs)} s. ` +
          'Every 429 here is self-inflicted (no faults injected). ' +
          `The full engine wrote ${result.written} items (${(result.written / Math.max(1, result.images)).toFixed(1)} per image); ` +
          'the second row is the same paging without the store (its own simulator, same seed), to separate the API pacing from the store.',
      ],
      [
        {
          rows: [
            {
              run: 'full engine (client + normalize + DynamoDB Local)',
              images: result.images,
              'wall (s)': seconds(wallMs),
              'floor 1/s (s)': seconds(floorMs),
              'wall / floor': (wallMs / floorMs).toFixed(3),
              target: '≤ 1.05',
              'burst floor (s)': seconds(burstFloorMs),
              'wall / burst floor': burstFloorMs > 0 ? (wallMs / burstFloorMs).toFixed(3) : 'n/a',
              'registry requests': registryRequests,
              'minimum registry': floorRequests,
              'all requests': result.requests,
              'minimum all': minimumRequests,
              'self-inflicted 429s': rejected,
            },
            {
              run: 'read side only (RegistryPager + normalize, nothing stored)',
              images: read.images,
              'wall (s)': seconds(read.wallMs),
              'floor 1/s (s)': seconds(floorMs),
              'wall / floor': (read.wallMs / floorMs).toFixed(3),
              target: '≤ 1.05',
              'burst floor (s)': seconds(burstFloorMs),
              'wall / burst floor': burstFloorMs > 0 ? (read.wallMs / burstFloorMs).toFixed(3) : 'n/a',
              'registry requests': readRegistry,
              'minimum registry': floorRequests,
              'all requests': read.requests,
              'minimum all': floorRequests + 1,
              'self-inflicted 429s': readRejected,
            },
          ],
        },
      ],
    );
  } finally {
    await sim.close();
    await readSim.close();
  }
}

// ---------------------------------------------------------------------------------------------
async function throughput(): Promise<void> {
  const images = Number(values['throughput-images']);
  const budgetMs = Number(values['throughput-budget-s']) * 1000;
  const sim = await startChildSimulator({ images, seed: SEED, rateLimit: false, heavyFraction: 0 });
  let e2e: Row;
  let readRow: Row;
  let profileSummary: ReturnType<typeof summarizeProfile>;
  try {
    // Measured without the profiler (a 0.5 ms sampler costs CPU of its own); the profile comes from a
    // second, shorter run of the same engine into fresh tables.
    const store = await benchStore(endpoint, 'bench-throughput', 'bench-throughput', { metered: false });
    const sync = async (
      target: Awaited<ReturnType<typeof benchStore>>,
      consoleId: string,
      budget: number,
    ) => {
      // Unthrottled console and unpaced client: the client and the store are the limit, not 1 page/s.
      const client = benchClient(sim.url, { unpaced: true });
      try {
        // The budget stops the run cleanly (`partial`, checkpoint saved) when 20,000 do not fit.
        return await runSync(
          { client, stores: target.stores, consoleId, logger: countingLogger() },
          { trigger: 'bench', deadline: Date.now() + budget },
        );
      } finally {
        await client.close();
      }
    };
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    const result: SyncResult = await sync(store, 'bench-throughput', budgetMs);
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStart);
    const profiled = await benchStore(endpoint, 'bench-profiled', 'bench-profiled', { metered: false });
    const profiler = await startProfiler();
    await sync(profiled, 'bench-profiled', budgetMs / 3);
    profileSummary = summarizeProfile(await profiler.stop());
    const cpuMs = (cpu.user + cpu.system) / 1000;
    e2e = {
      measure: 'end to end (client + normalize + store)',
      images: result.images,
      of: images,
      status: result.status,
      'wall (s)': seconds(wallMs),
      'images/s': Math.round(result.images / (wallMs / 1000)),
      'CPU ms / image': (cpuMs / Math.max(1, result.images)).toFixed(2),
      'items written': result.written,
      'items / image': (result.written / Math.max(1, result.images)).toFixed(1),
    };
    const read = await pageAndNormalize(
      sim.url,
      Number(values['paging-budget-s']) * 1000,
      benchClient(sim.url, { unpaced: true }),
    );
    readRow = {
      measure: 'read side (client + normalize, no store)',
      images: read.images,
      of: images,
      status: read.done ? 'completed' : 'partial',
      'wall (s)': seconds(read.wallMs),
      'images/s': Math.round(read.images / (read.wallMs / 1000)),
      'CPU ms / image': (read.cpuMs / Math.max(1, read.images)).toFixed(2),
      'items written': '',
      'items / image': '',
    };
  } finally {
    await sim.stop();
  }

  // Normalize alone, over the same reports the simulator served (same seed, same generator).
  const sample = Math.min(images, Number(e2e.images) || images);
  let normalizeCpuUs = 0;
  let normalizeWallMs = 0;
  for (let from = 0; from < sample; from += PAGE) {
    const batch = [];
    for (let i = from; i < Math.min(sample, from + PAGE); i += 1) {
      batch.push(
        generateReport({ seed: SEED, heavyFraction: 0 }, imageSlot(SEED, i), {
          scanGeneration: 0,
          findingsVersion: 0,
        }),
      );
    }
    const cpu = process.cpuUsage();
    const t = performance.now();
    for (const raw of batch) normalizeReport(raw, { consoleId: 'bench-throughput' });
    normalizeWallMs += performance.now() - t;
    const used = process.cpuUsage(cpu);
    normalizeCpuUs += used.user + used.system;
  }
  const normalizeRow: Row = {
    measure: 'normalize alone',
    images: sample,
    of: images,
    status: 'completed',
    'wall (s)': seconds(normalizeWallMs),
    'images/s': Math.round(sample / (normalizeWallMs / 1000)),
    'CPU ms / image': (normalizeCpuUs / 1000 / sample).toFixed(2),
    'items written': '',
    'items / image': '',
  };
  section(
    '2. Throughput, API not the limit',
    [
      `Full engine against the simulator unthrottled (child process, heavyFraction 0 — heavy reports are scenario 3), DynamoDB Local, ` +
        `the client's own pacing lifted too (otherwise both rows sit at its 1 page/s). ` +
        `CPU = this process's user + system time (the simulator and DynamoDB Local are other processes). ` +
        `The end-to-end run has a ${seconds(budgetMs)} s budget (engine deadline) and the read-side run ${values['paging-budget-s']} s, so the whole bench stays under 10 minutes; ` +
        `a row that stopped early says \`partial\` and how many of the ${images} images it covered. Normalize alone runs over the same reports (same seeded generator) as the end-to-end row.`,
      '',
      `Where the time goes: V8 sampling profile (in-process inspector, 0.5 ms interval) of a second end-to-end run into fresh tables with a third of the budget, ${profileSummary.totalMs} ms of non-idle samples; the CPU figures above come from the run without the profiler.`,
    ],
    [
      { rows: [e2e, readRow, normalizeRow] },
      { caption: 'Self time by area:', rows: profileSummary.areas },
      { caption: 'Top self-time functions:', rows: profileSummary.functions },
    ],
  );
}

// ---------------------------------------------------------------------------------------------
async function writeCost(): Promise<void> {
  const images = Number(values['write-images']);
  const sim = await startSimulator({ images, seed: SEED, rateLimit: false, heavyFraction: 0 });
  try {
    const store = await benchStore(endpoint, 'bench-writes', 'bench-writes');
    const rows: Row[] = [];
    let first = 0;
    const run = async (label: string) => {
      store.meter.reset();
      const { result, wallMs } = await engineSync(sim.url, store, 'bench-writes');
      if (first === 0) first = result.written;
      rows.push({
        sync: label,
        status: result.status,
        images: result.images,
        new: result.new,
        changed: result.changed,
        unchanged: result.unchanged,
        'items written (engine)': result.written,
        'puts / updates / deletes (wire)': `${store.meter.puts} / ${store.meter.updates} / ${store.meter.deletes}`,
        'vs first': `${((100 * result.written) / Math.max(1, first)).toFixed(2)}%`,
        'write requests': store.meter.requests,
        'write units (billed)': store.meter.writeUnits,
        'same items, no transactions (units)': store.meter.plainWriteUnits,
        'index writes': store.meter.indexWrites,
        'max item (KB)': (store.meter.maxItemBytes / 1024).toFixed(1),
        'wall (s)': seconds(wallMs),
      });
      meters.push({ images: result.images, new: result.new, ...store.meter });
    };
    const meters: Array<{
      images: number;
      new: number;
      writeUnits: number;
      plainWriteUnits: number;
      indexWrites: number;
      puts: number;
    }> = [];
    await run('first sync');
    await run('unchanged re-sync');
    const changed = sim.mutate.rescan(Math.round(images * 0.05), { changeFindings: true });
    await run(`re-sync after ${changed.length} images (5%) rescanned with changed findings`);
    section(
      '4. Write cost',
      [
        `Full engine, ${images} images (heavyFraction 0), simulator unthrottled, DynamoDB Local. ` +
          '"items written" is the engine\'s count (images, findings, changes, history, raw chunks, run/checkpoint bookkeeping); ' +
          'the wire columns count every write request the store sent and the write request units DynamoDB bills for them ' +
          '(1 per started KB of an item, 2 inside a transaction; updates and deletes counted as 1 KB), beside the units of the same items ' +
          "written one request each outside transactions (the item layout is unchanged, so that is the earlier path's cost). " +
          'Index writes (2 per current image item, 1 per open finding) are billed on top at about 1 unit each. Target: unchanged re-sync < 1% of the first.',
      ],
      [{ rows }, { caption: costCaption(), rows: costRows(meters, images) }],
    );
  } finally {
    await sim.close();
  }
}

// ---------------------------------------------------------------------------------------------
async function sideBySide(): Promise<void> {
  const images = Number(values['side-images']);
  const plans: Array<{ name: string; faults: FaultPlan }> = [
    {
      name: '429s + drift',
      faults: {
        scripted: [
          { at: 4, fault: { kind: '429', retryAfterSeconds: 2 } },
          { at: 9, fault: { kind: '429', retryAfterSeconds: 2 } },
        ],
      },
    },
    {
      name: '429s + one 502 + drift',
      faults: {
        scripted: [
          { at: 4, fault: { kind: '429', retryAfterSeconds: 2 } },
          { at: 9, fault: { kind: '429', retryAfterSeconds: 2 } },
          { at: 14, fault: { kind: '5xx-html', status: 502 } },
        ],
      },
    },
  ];
  // The same mid-paging mutation for both: early inserts shift every later offset forward (a naive
  // pager reads some twice); deleting already-read images shifts them back (it skips some).
  const drift = (n: number, s: RunningSimulator) => {
    if (n === 6) s.mutate.add(20, { sortEarly: true });
    if (n === 11) s.mutate.remove(s.truth.present().slice(60, 90));
    if (n === 16) s.mutate.add(10, { sortEarly: true });
  };
  const rows: Row[] = [];
  for (const plan of plans) {
    for (const who of ['naive', 'ours'] as const) {
      const sim = await startSimulator({ images, seed: SEED, faults: plan.faults });
      sim.onRegistryRequest(drift);
      const mark = sim.truth.mark();
      const started = performance.now();
      let keys: string[];
      let requests: number;
      let throttled: number;
      let outcome = 'completed';
      try {
        if (who === 'naive') {
          const naive = await naivePage({ baseUrl: sim.url, ...CREDENTIALS });
          keys = naive.keys;
          requests = naive.requests;
          throttled = naive.throttled;
          if (naive.aborted) outcome = `aborted (${naive.aborted.code} at offset ${naive.aborted.offset})`;
        } else {
          const client = benchClient(sim.url);
          keys = [];
          try {
            for await (const page of new RegistryPager(client))
              for (const r of page.reports) keys.push(keyOf(r));
          } finally {
            await client.close();
          }
          requests = client.counters.requests;
          throttled = client.counters.throttled;
        }
        const wallMs = performance.now() - started;
        const read = new Set(keys);
        const persistent = sim.truth.persistentSince(mark);
        const allowed = new Set(sim.truth.everPresentSince(mark));
        rows.push({
          faults: plan.name,
          pager: who === 'naive' ? 'naive (bench/naive)' : 'ours (RegistryPager)',
          outcome,
          'wall (s)': seconds(wallMs),
          requests,
          '429s': throttled,
          'images read': keys.length,
          'ground truth': persistent.length,
          missed: persistent.filter((k) => !read.has(k)).length,
          duplicated: keys.length - read.size,
          'never present': [...read].filter((k) => !allowed.has(k)).length,
        });
      } finally {
        await sim.close();
      }
    }
  }
  section(
    '5. Side by side: naive pager vs ours',
    [
      `${images} images, seed ${SEED}, the real rate limit (30 / 30 s), the same scripted faults per row pair ` +
        '(429 with Retry-After 2 s on the 4th and 9th /registry GET; the second pair adds an HTML 502 on the 14th) ' +
        'and the same mutation: 20 early-sorting inserts before the 6th GET, 30 already-read images deleted before the 11th, 10 more early inserts before the 16th. ' +
        'Naive = sequential GET, 1 s sleep between pages, retry only on 429 after a fixed 10 s, any other error fatal, offset += 50, no drift check. ' +
        'Ground truth = images present throughout (sim.truth.persistentSince); "missed" = of those, not read.',
    ],
    [{ rows }],
  );
}

/** DynamoDB on-demand, us-east-1 (since November 2024): $ per million request units. */
const PRICE_PER_MILLION_WRITE_UNITS = 0.625;

function costCaption(): string {
  return (
    `AWS cost of the store's writes for 10,000 images, scaled from the rows above (per image), at $${PRICE_PER_MILLION_WRITE_UNITS} per million write request units ` +
    '(DynamoDB on-demand, us-east-1); index writes at 1 unit each. Reads (one consistent BatchGetItem slot per image plus one per page for the first-writes set of the console, $0.125 per million read units) ' +
    'and storage are left out: under $0.01 per sync. "Daily re-sync" is the row with 5% of images rescanned with changed findings.'
  );
}

function costRows(
  meters: ReadonlyArray<{ images: number; writeUnits: number; plainWriteUnits: number; indexWrites: number }>,
  images: number,
): Row[] {
  const scale = 10_000 / Math.max(1, images);
  const dollars = (units: number) => `$${((units * scale * PRICE_PER_MILLION_WRITE_UNITS) / 1e6).toFixed(3)}`;
  const labels = ['first sync of 10,000 images', 'unchanged re-sync', 'daily re-sync (5% changed)'];
  return meters.map((m, i) => ({
    sync: labels[i] ?? `sync ${i + 1}`,
    'write units / image (billed)': (m.writeUnits / Math.max(1, m.images)).toFixed(1),
    'index writes / image': (m.indexWrites / Math.max(1, m.images)).toFixed(1),
    'cost (transactions)': dollars(m.writeUnits + m.indexWrites),
    'cost, same items without transactions': dollars(m.plainWriteUnits + m.indexWrites),
  }));
}

// ---------------------------------------------------------------------------------------------
/** cgroup v1 CPU controller: quota 58,000 µs per 100,000 µs period = 0.58 of a core (a 1024 MB Lambda). */
const CPU_CGROUP_ROOT = '/sys/fs/cgroup/cpu';
const LAMBDA_QUOTA_US = 58_000;
const LAMBDA_PERIOD_US = 100_000;

/** User + system CPU time of a process so far (Linux /proc), in ms. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1000;
}

/**
 * A sync into throwaway tables, deleted before the measured run: DynamoDB Local's JIT compiler then
 * does its work before the measured run, not inside it (the AWS service is always warm).
 */
async function warmDynamoDbLocal(simUrl: string, ms: number): Promise<number> {
  const prefix = 'bench-warm';
  const store = await benchStore(endpoint, prefix, prefix, { metered: false });
  const client = benchClient(simUrl, { unpaced: true });
  try {
    const result = await runSync(
      { client, stores: store.stores, consoleId: prefix, logger: countingLogger() },
      { trigger: 'bench', deadline: Date.now() + ms },
    );
    for (const table of Object.values(tableNames(prefix))) {
      await store.documentClient.send(new DeleteTableCommand({ TableName: table }));
    }
    return result.images;
  } finally {
    await client.close();
  }
}

async function lambdaSized(): Promise<void> {
  const images = Number(values['lambda-images']);
  const budgetMs = Number(values['lambda-budget-s']) * 1000;
  const group = `${CPU_CGROUP_ROOT}/prisma-bench-${process.pid}`;
  await mkdir(group);
  const sim = await startChildSimulator({ images, seed: SEED, rateLimit: false, heavyFraction: 0 });
  try {
    const warmupMs = Number(values['lambda-warmup-s']) * 1000;
    const warmupImages = warmupMs > 0 ? await warmDynamoDbLocal(sim.url, warmupMs) : 0;
    await writeFile(`${group}/cpu.cfs_period_us`, String(LAMBDA_PERIOD_US));
    await writeFile(`${group}/cpu.cfs_quota_us`, String(LAMBDA_QUOTA_US));
    const script = fileURLToPath(new URL('./lambda-child.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const args = JSON.stringify({ simUrl: sim.url, endpoint, budgetMs });
    // The shell joins the group before it becomes node, so every thread of the child runs under the quota.
    const child = spawn(
      'sh',
      ['-c', `echo $$ > ${group}/cgroup.procs && exec "$0" "$@"`, process.execPath, tsx, script, args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    let databaseCpuAtStart: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (databaseCpuAtStart === undefined && out.includes('"phase":"sync"')) {
        databaseCpuAtStart = processCpuMs(dynamoDbLocalPid);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const databaseCpuMs = processCpuMs(dynamoDbLocalPid) - (databaseCpuAtStart ?? Number.NaN);
    const stat = Object.fromEntries(
      (await readFile(`${group}/cpu.stat`, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    );
    const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
      status?: string;
      images?: number;
      written?: number;
      wallMs?: number;
      cpuMs?: number;
    };
    if (code !== 0 || result.images === undefined)
      throw new Error(`lambda-sized child exited ${code}: ${out}`);
    const wallS = (result.wallMs ?? 0) / 1000;
    section(
      '6. Lambda-sized CPU (0.58 of a core)',
      [
        `Full engine in a child process under a cgroup v1 CPU quota of ${LAMBDA_QUOTA_US} µs per ${LAMBDA_PERIOD_US} µs period (0.58 of a core, a 1024 MB Lambda), ` +
          `against the simulator unthrottled (child process, heavyFraction 0, ${images} images) and DynamoDB Local, both outside the quota; the client's own pacing lifted. ` +
          `The run has a ${seconds(budgetMs)} s budget (engine deadline); wall and CPU are the sync's own (module loading excluded). ` +
          "Throttled periods are the cgroup's own count (cpu.stat). Quota capacity = what 0.58 of a core sustains at this CPU per image " +
          '(the images/s of a run that the quota, not DynamoDB Local, holds back: throttled in most periods). ' +
          `Before it, DynamoDB Local is warmed by a ${seconds(warmupMs)} s sync of ${warmupImages} images (outside the quota) into tables deleted before the run. ` +
          "DynamoDB Local CPU ms / image = the JVM's CPU time (/proc) from the sync's start to its end, per image: the test rig's database, which shares this machine's cores. " +
          "Target: more than 100 images/s, twice the console's 50/s.",
      ],
      [
        {
          rows: [
            {
              images: result.images,
              of: images,
              status: result.status,
              'wall (s)': Number(wallS.toFixed(1)),
              'images/s': Math.round((result.images ?? 0) / Math.max(0.001, wallS)),
              target: '> 100',
              'CPU ms / image': ((result.cpuMs ?? 0) / Math.max(1, result.images ?? 0)).toFixed(2),
              'CPU used (cores)': ((result.cpuMs ?? 0) / Math.max(1, result.wallMs ?? 0)).toFixed(2),
              'quota capacity (images/s)': Math.round(
                (LAMBDA_QUOTA_US / LAMBDA_PERIOD_US) *
                  1000 *
                  ((result.images ?? 0) / Math.max(1, result.cpuMs ?? 0)),
              ),
              'throttled periods': `${stat.nr_throttled} of ${stat.nr_periods}`,
              'items / image': ((result.written ?? 0) / Math.max(1, result.images ?? 0)).toFixed(1),
              'DynamoDB Local CPU ms / image': (databaseCpuMs / Math.max(1, result.images ?? 0)).toFixed(2),
            },
          ],
        },
      ],
    );
  } finally {
    await sim.stop();
    await rmdir(group).catch(() => undefined);
  }
}

if (only.has('3')) await withDynamoDbLocal(heavyReports);
if (only.has('1')) await withDynamoDbLocal(floorRatio);
if (only.has('2')) await withDynamoDbLocal(throughput);
if (only.has('4')) await withDynamoDbLocal(writeCost);
if (only.has('5')) await sideBySide();
if (only.has('6')) await withDynamoDbLocal(lambdaSized);

const totalS = seconds(performance.now() - benchStarted);
const loadAtEnd = loadavg();
const memory = `${(totalmem() / 1024 ** 3).toFixed(1)} GiB total, ${(freemem() / 1024 ** 3).toFixed(1)} GiB free at the end`;
const nproc = execSync('nproc').toString().trim();
const header = [
  '# Benchmark results',
  '',
  `- Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/run.ts)`,
  `- Date: ${new Date().toISOString()}`,
  `- Machine: nproc ${nproc} (${cpus()[0]?.model ?? 'unknown CPU'}), ${memory}, Node ${process.version}`,
  `- Load average (1/5/15 min): ${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' / ')} at the end — other work ran on the machine meanwhile, so wall times are pessimistic; CPU times are this process's own.`,
  `- Total bench time: ${totalS} s; scenarios run in the order 3, 1, 2, 4, 5, 6 (3 first so its peak RSS is not inflated by the others); each scenario with its own fresh DynamoDB Local.`,
  '',
].join('\n');
say(`total ${totalS} s`);
if (!values['no-write']) {
  const path = fileURLToPath(new URL('./results.md', import.meta.url));
  const all = ['1', '2', '3', '4', '5', '6'].every((n) => only.has(n));
  if (all) await writeFile(path, `${header}\n${sections.join('\n')}`);
  else {
    // A partial run replaces its own sections and keeps the others, with a line saying so.
    const numbers = [...sectionsByNumber.keys()];
    const rerun =
      `- Section${numbers.length > 1 ? 's' : ''} ${numbers.join(', ')} re-run at ${new Date().toISOString()} ` +
      `(\`npm run bench -- ${process.argv.slice(2).join(' ')}\`, ${totalS} s), load average ` +
      `${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' / ')} at the end; ` +
      'the other sections are from the run above.';
    const previous = await readFile(path, 'utf8').catch(() => `${header}\n`);
    await writeFile(path, mergeResults(previous, sectionsByNumber, rerun));
  }
  say(`wrote ${path}`);
}
