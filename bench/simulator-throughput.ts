/**
 * Simulator throughput: how many small /registry pages per second it serves, unthrottled, on
 * loopback. Benchmarks of the client must measure the client, not the simulator (target ≥ 1,000/s).
 *
 *   npx tsx bench/simulator-throughput.ts [--images 20000] [--pages 4000] [--connections 8] [--gzip on|off]
 *
 * Bounded passes over compact pages of 50 (gzip accepted, as undici's fetch does): one
 * connection (how the sync client pages) and several, with every report generated (after a
 * rescan of all images: the cold path), paging forwards (the simulator prefetches the next page
 * while the client takes in one) and backwards (nothing to prefetch: every page is built and
 * compressed on request); pages built again for a new query over the same reports; and pages
 * served from the page cache. The client runs in the same process, so its CPU time is counted too.
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startSimulator } from '../simulator/index.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    pages: { type: 'string', default: '4000' },
    connections: { type: 'string', default: '8' },
    gzip: { type: 'string', default: 'on' },
  },
});
const images = Number(values.images);
const pagesPerPass = Number(values.pages);
const connections = Number(values.connections);
const pageCount = Math.ceil(images / 50);

const gzip = values.gzip !== 'off';
const sim = await startSimulator({ images, seed: 1, rateLimit: false, heavyFraction: 0, gzip });
const origin = new URL(sim.url).origin;
const pool = new Pool(origin, { connections, pipelining: 1 });
const auth = {
  authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}`,
  'accept-encoding': 'gzip',
};

/** Forwards: page n; backwards: from the last page down, so no request finds a prefetched page. */
type Order = 'forwards' | 'backwards';

async function fetchPage(n: number, variant: string, order: Order): Promise<number> {
  const offset = (order === 'forwards' ? n % pageCount : pageCount - 1 - (n % pageCount)) * 50;
  const { statusCode, body } = await pool.request({
    method: 'GET',
    path: `/api/v34.04/registry?limit=50&offset=${offset}&compact=true${variant}`,
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
): Promise<void> {
  let next = 0;
  let bytes = 0;
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const received = await fetchPage(next++, variant, order);
        bytes += received;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  // CPU time of this process (simulator + in-process client): robust to other load on the machine.
  const cpuMsPerPage = (cpu.user + cpu.system) / 1000 / total;
  console.log(
    `${label.padEnd(58)} ${String(total).padStart(5)} pages in ${seconds.toFixed(2)} s = ` +
      `${String(Math.round(total / seconds)).padStart(5)} pages/s; CPU ${cpuMsPerPage.toFixed(2)} ms/page ` +
      `(= ${Math.round(1000 / cpuMsPerPage)} pages per CPU-second); ${Math.round(bytes / total)} B/page on the wire`,
  );
}

try {
  console.log(
    `simulator: ${images} images, compact pages of 50, ${gzip ? 'gzip' : 'identity'}, loopback, unthrottled`,
  );
  const pages = Math.min(pagesPerPass, pageCount);
  await pass('1 connection, cold process (JIT, CVE levels), forwards', pages, 1, '');
  // Rescan everything: every report must be generated again, but the process is warm.
  sim.mutate.rescan(sim.truth.present());
  await pass('1 connection, every report generated, forwards', pages, 1, '');
  sim.mutate.rescan(sim.truth.present());
  await pass('1 connection, every report generated, backwards', pages, 1, '', 'backwards');
  sim.mutate.rescan(sim.truth.present());
  await pass(`${connections} connections, every report generated, forwards`, pages, connections, '');
  sim.mutate.rescan(sim.truth.present());
  await pass(
    `${connections} connections, every report generated, backwards`,
    pages,
    connections,
    '',
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
  await pass(`${connections} connections, pages cached`, pagesPerPass, connections, '');
} finally {
  await pool.close();
  await sim.close();
}
