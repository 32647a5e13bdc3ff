/**
 * The full engine in a process of its own, for the Lambda-sized row (bench scenario 6): the parent
 * starts this under a cgroup v1 CPU quota, with the simulator and DynamoDB Local outside it.
 *
 *   tsx bench/lambda-child.ts '{"simUrl":"http://...","endpoint":"http://...","budgetMs":60000}'
 *
 * Prints one JSON line: status, images, wall and CPU ms of the sync itself (module loading excluded).
 */
import { runSync, tuneProcessForSync } from '../lambda/sync/engine.js';
import { benchClient, benchStore, countingLogger } from './support.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { simUrl: string; endpoint: string; budgetMs: number };
const consoleId = 'bench-lambda';
// A shell, like the handler: it tunes its process for syncs; no write meter (its CPU is the measure).
tuneProcessForSync();
const store = await benchStore(options.endpoint, 'bench-lambda', consoleId, { metered: false });
const client = benchClient(options.simUrl, { unpaced: true });
// The parent samples DynamoDB Local's CPU time at this line and at exit.
process.stdout.write(`${JSON.stringify({ phase: 'sync' })}\n`);
const cpuStart = process.cpuUsage();
const started = performance.now();
try {
  const result = await runSync(
    { client, stores: store.stores, consoleId, logger: countingLogger() },
    { trigger: 'bench', deadline: Date.now() + options.budgetMs },
  );
  const cpu = process.cpuUsage(cpuStart);
  process.stdout.write(
    `${JSON.stringify({
      status: result.status,
      images: result.images,
      written: result.written,
      wallMs: performance.now() - started,
      cpuMs: (cpu.user + cpu.system) / 1000,
    })}\n`,
  );
} finally {
  await client.close();
}
