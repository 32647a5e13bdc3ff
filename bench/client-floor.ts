/**
 * The registry client against its physical floor: a full paging of N simulated images at the
 * console's real rate limit (30 requests per 30 s, counted on arrival by the simulator), with the
 * client's default pacing. Reports registry requests (vs ceil(N / 50): the one-item overlap of
 * the drift check costs one request per 49 pages), re-alignment requests, 429s received, and
 * wall time vs the floor of one page request per second. The drift run reads more images (80
 * added, 30 removed mid-paging), hence more pages.
 *
 *   npx tsx bench/client-floor.ts [--images 2000] [--store-ms 0,250] [--drift on|off]
 *
 * `--store-ms` is the time the consumer spends per page (the engine normalizes and writes it):
 * with prefetch, the next request is in flight meanwhile. `--drift on` adds a run where images
 * that sort early are inserted and already-read images are removed mid-paging.
 */
import { parseArgs } from 'node:util';
import { ConsoleClient, RegistryPager } from '../lambda/prisma/index.js';
import { startSimulator } from '../simulator/index.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '2000' },
    'store-ms': { type: 'string', default: '0,250' },
    drift: { type: 'string', default: 'on' },
  },
});
const images = Number(values.images);
const storeTimes = values['store-ms'].split(',').map(Number);
const floorRequests = Math.ceil(images / 50);
const floorMs = floorRequests * 1000;

interface Result {
  scenario: string;
  images: number;
  imagesRead: number;
  registryRequests: number;
  floorRequests: number;
  /** Registry requests beyond ceil(images / 50): the one-item overlap, plus drift's extra pages. */
  overFloor: number;
  recoveryRequests: number;
  driftRecoveries: number;
  requests: number;
  throttled: number;
  retries: number;
  wallMs: number;
  floorMs: number;
  ratioToFloor: number;
  missed: number;
  duplicates: number;
}

async function run(scenario: string, storeMs: number, drift: boolean): Promise<Result> {
  const sim = await startSimulator({ images, seed: 1 }); // 30 / 30 s, like a console
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const client = new ConsoleClient({
    baseUrl: sim.url,
    credentials: { username: 'demo', password: 'demo' },
    logger: quiet,
  });
  const mark = sim.truth.mark();
  if (drift) {
    sim.onRegistryRequest((n, s) => {
      if (n === 10) s.mutate.add(20, { sortEarly: true });
      if (n === 20) s.mutate.remove(s.truth.present().slice(100, 130));
      if (n === 30) s.mutate.add(60, { sortEarly: true });
    });
  }
  const keys: string[] = [];
  const pager = new RegistryPager(client);
  const started = performance.now();
  for await (const page of pager) {
    for (const report of page.reports) {
      keys.push(
        `${report.repoTag?.registry ?? ''}/${report.repoTag?.repo ?? ''}:${report.repoTag?.tag ?? ''}`,
      );
    }
    if (storeMs > 0) await new Promise((resolve) => setTimeout(resolve, storeMs));
  }
  const wallMs = Math.round(performance.now() - started);
  const read = new Set(keys);
  const missed = sim.truth.persistentSince(mark).filter((key) => !read.has(key)).length;
  await client.close();
  await sim.close();
  const stats = pager.counters;
  return {
    scenario,
    images,
    imagesRead: keys.length,
    registryRequests: stats.registryRequests,
    floorRequests,
    overFloor: stats.registryRequests - floorRequests,
    recoveryRequests: stats.extraRequests,
    driftRecoveries: stats.driftRecoveries,
    requests: client.counters.requests,
    throttled: client.counters.throttled,
    retries: client.counters.retries,
    wallMs,
    floorMs,
    ratioToFloor: Number((wallMs / floorMs).toFixed(3)),
    missed,
    duplicates: keys.length - read.size,
  };
}

const results: Result[] = [];
for (const storeMs of storeTimes) results.push(await run(`stable, store ${storeMs} ms/page`, storeMs, false));
if (values.drift === 'on') results.push(await run('drift mid-paging, store 0 ms/page', 0, true));
console.table(results);
console.log(JSON.stringify(results));
