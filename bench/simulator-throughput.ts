/**
 * Simulator throughput: how many /registry pages per second it serves, unthrottled, on loopback.
 * Benchmarks of the client must measure the client, not the simulator (target ≥ 100 pages of 50
 * reports per second; results in bench/results.md "Simulator throughput").
 *
 *   npx tsx bench/simulator-throughput.ts [--images 20000] [--pages 4000] [--connections 8] [--gzip on|off]
 *   npx tsx bench/simulator-throughput.ts --child      (the simulator in its own process, as bench/run.ts runs it)
 *
 * Bounded passes over compact pages of 50 (gzip accepted, as undici's fetch does): one
 * connection (how the sync client pages) and several, with every report generated (in process:
 * after a rescan of all images; with --child: a forwards pass over more reports than the
 * simulator's report cache holds, e.g. --images 100000; a backwards pass after it starts with what
 * the previous pass left in the cache), forwards and backwards; pages whose reports are all in the report cache; full pages of 50; and small pages
 * (5 compact reports). The client runs in the same process (its CPU time counted too) unless
 * --child.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { type RunningSimulator, startSimulator } from '../simulator/index.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    pages: { type: 'string', default: '4000' },
    connections: { type: 'string', default: '8' },
    gzip: { type: 'string', default: 'on' },
    child: { type: 'boolean', default: false },
  },
});
const images = Number(values.images);
const pagesPerPass = Number(values.pages);
const connections = Number(values.connections);
const pageCount = Math.ceil(images / 50);

const gzip = values.gzip !== 'off';
const inChild = values.child === true;

/** The `simulate` command in a child process; resolves with its URL once it listens. */
async function startChildSimulator(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['bin/prisma-registry-sync.js', 'simulate', '--unthrottled', '--images', String(images), '--seed', '1'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PRISMA_PASSWORD: 'demo' } },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulate exited with ${code}: ${out}`)));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on (\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
  });
  return { url, child };
}

/** CPU ms of a process so far (user + system, from /proc). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const target: { url: string; sim?: RunningSimulator; child?: ChildProcess } = inChild
  ? await startChildSimulator()
  : await startSimulator({ images, seed: 1, rateLimit: false, heavyFraction: 0, gzip }).then((sim) => ({
      url: sim.url,
      sim,
    }));
const origin = new URL(target.url).origin;
const pool = new Pool(origin, { connections, pipelining: 1 });
const simulatorPid = target.child?.pid;
const auth = {
  authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}`,
  'accept-encoding': 'gzip',
};

/** Forwards: page n; backwards: from the last page down. */
type Order = 'forwards' | 'backwards';

async function fetchPage(
  n: number,
  variant: string,
  order: Order,
  pageSize: number,
  form: string,
): Promise<number> {
  const count = Math.ceil(images / pageSize);
  const offset = (order === 'forwards' ? n % count : count - 1 - (n % count)) * pageSize;
  const { statusCode, body } = await pool.request({
    method: 'GET',
    path: `/api/v34.04/registry?limit=${pageSize}&offset=${offset}${form}${variant}`,
    headers: auth,
  });
  const bytes = (await body.arrayBuffer()).byteLength;
  if (statusCode !== 200) throw new Error(`page ${n}: HTTP ${statusCode}`);
  return bytes;
}

async function pass(
  label: string,
  total: number,
  concurrency: number,
  variant: string,
  order: Order = 'forwards',
  pageSize = 50,
  form = '&compact=true',
): Promise<void> {
  let next = 0;
  let bytes = 0;
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const childCpuStart = simulatorPid ? processCpuMs(simulatorPid) : 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const received = await fetchPage(next++, variant, order, pageSize, form);
        bytes += received;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  // CPU time of the simulator's process (with the in-process client unless --child): robust to other
  // load on the machine.
  const cpuMs = simulatorPid ? processCpuMs(simulatorPid) - childCpuStart : (cpu.user + cpu.system) / 1000;
  const cpuMsPerPage = cpuMs / total;
  console.log(
    `${label.padEnd(58)} ${String(total).padStart(5)} pages in ${seconds.toFixed(2)} s = ` +
      `${String(Math.round(total / seconds)).padStart(5)} pages/s; CPU ${cpuMsPerPage.toFixed(2)} ms/page ` +
      `(= ${Math.round(1000 / cpuMsPerPage)} pages per CPU-second); ${Math.round(bytes / total)} B/page on the wire`,
  );
}

/**
 * Every report of the next pass generated again: in process, a rescan of every image; in a child,
 * nothing to do (a pass reads more reports than the report cache holds, so none is found there).
 */
function everyReportAgain(): string {
  target.sim?.mutate.rescan(target.sim.truth.present());
  return '';
}

try {
  console.log(
    `simulator: ${images} images, compact pages of 50, ${gzip ? 'gzip' : 'identity'}, loopback, unthrottled, ` +
      (inChild ? 'simulator in a child process (CPU = its own)' : 'client in the same process (CPU = both)'),
  );
  const pages = Math.min(pagesPerPass, pageCount);
  await pass('1 connection, cold process (JIT, CVE catalog), forwards', pages, 1, '');
  await pass('1 connection, every report generated, forwards', pages, 1, everyReportAgain());
  await pass('1 connection, every report generated, backwards', pages, 1, everyReportAgain(), 'backwards');
  const many = `${connections} connections`;
  await pass(`${many}, every report generated, forwards`, pages, connections, everyReportAgain());
  await pass(
    `${many}, every report generated, backwards`,
    pages,
    connections,
    everyReportAgain(),
    'backwards',
  );
  // 100 pages (5,000 compact reports, ~10 MB) fit the report cache: the second pass finds them all.
  const cachedPages = Math.min(100, pages);
  // In reverse order: the images the last pass read first, long evicted from the cache.
  const reversed = `${everyReportAgain()}&reverse=true`;
  await pass(`${many}, reports generated (first 100 pages, reverse)`, cachedPages, connections, reversed);
  await pass(`${many}, reports from the report cache (same pages)`, cachedPages, connections, reversed);
  await pass(
    `${many}, full reports, generated`,
    Math.min(200, pages),
    connections,
    everyReportAgain(),
    'backwards',
    50,
    '',
  );
  await pass(
    `${many}, small pages (limit=5), generated`,
    pages,
    connections,
    everyReportAgain(),
    'backwards',
    5,
  );
} finally {
  await pool.close();
  await target.sim?.close();
  target.child?.kill('SIGTERM');
}
