/**
 * Simulator throughput: how many small /registry pages per second it serves, unthrottled, on
 * loopback. Benchmarks of the client must measure the client, not the simulator (target ≥ 1,000/s).
 *
 *   npx tsx bench/simulator-throughput.ts [--images 20000] [--pages 4000] [--connections 8] [--gzip on|off]
 *   npx tsx bench/simulator-throughput.ts --child      (the simulator in its own process, as bench/run.ts runs it)
 *
 * Bounded passes over compact pages of 50 (gzip accepted, as undici's fetch does): one
 * connection (how the sync client pages) and several, with every report generated (after a
 * rescan of all images: the cold path), paging forwards (the simulator prefetches the next page
 * while the client takes in one) and backwards (nothing to prefetch: every page is built and
 * compressed on request); pages built again for a new query over the same reports; and pages
 * served from the page cache; and small pages (5 compact reports) built on request. The client
 * runs in the same process (its CPU time counted too) unless --child.
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

/** Forwards: page n; backwards: from the last page down, so no request finds a prefetched page. */
type Order = 'forwards' | 'backwards';

async function fetchPage(n: number, variant: string, order: Order, pageSize: number): Promise<number> {
  const count = Math.ceil(images / pageSize);
  const offset = (order === 'forwards' ? n % count : count - 1 - (n % count)) * pageSize;
  const { statusCode, body } = await pool.request({
    method: 'GET',
    path: `/api/v34.04/registry?limit=${pageSize}&offset=${offset}&compact=true${variant}`,
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
): Promise<void> {
  let next = 0;
  let bytes = 0;
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const childCpuStart = simulatorPid ? processCpuMs(simulatorPid) : 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const received = await fetchPage(next++, variant, order, pageSize);
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

/** Every report of the next pass generated again: a rescan in process, a new query otherwise. */
let coldQuery = 0;
function everyReportAgain(): string {
  if (target.sim) {
    target.sim.mutate.rescan(target.sim.truth.present());
    return '';
  }
  coldQuery += 1;
  return `&bench=${coldQuery}`;
}

try {
  console.log(
    `simulator: ${images} images, compact pages of 50, ${gzip ? 'gzip' : 'identity'}, loopback, unthrottled, ` +
      (inChild ? 'simulator in a child process (CPU = its own)' : 'client in the same process (CPU = both)'),
  );
  const pages = Math.min(pagesPerPass, pageCount);
  await pass('1 connection, cold process (JIT, CVE levels), forwards', pages, 1, '');
  await pass('1 connection, every report generated, forwards', pages, 1, everyReportAgain());
  await pass('1 connection, every report generated, backwards', pages, 1, everyReportAgain(), 'backwards');
  await pass(
    `${connections} connections, every report generated, forwards`,
    pages,
    connections,
    everyReportAgain(),
  );
  await pass(
    `${connections} connections, every report generated, backwards`,
    pages,
    connections,
    everyReportAgain(),
    'backwards',
  );
  // Compact reports are never cached (writing one costs about a lookup): a new query over the
  // same reports builds and compresses every page again.
  await pass(
    `${connections} connections, pages built again (new query)`,
    pages,
    connections,
    '&reverse=false',
  );
  // The same pages as the pass before, still in the page cache (64 MB: the pages of one pass; the
  // first pass's pages were evicted long ago).
  await pass(`${connections} connections, pages cached`, pages, connections, '&reverse=false');
  // Small pages (5 compact reports, ~10 KB of JSON): what a request costs the simulator when the
  // payload is not what is measured; every page built on request (a new query, backwards).
  await pass(
    `${connections} connections, small pages (limit=5), built on request`,
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
