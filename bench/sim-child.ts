/**
 * The console simulator in a child process, so the benchmark process measures only the product:
 * its CPU time and RSS then exclude report generation and the simulator's caches (128 MB of LRU).
 *
 *   tsx bench/sim-child.ts '{"images":20000,"seed":1,"rateLimit":false}'
 *
 * Prints one JSON line `{ "url": ... }` once listening; closes when stdin ends (the parent exits
 * or calls `stop()`).
 */
import { type SimulatorOptions, startSimulator } from '../simulator/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions;
const sim = await startSimulator(options);
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void sim.close().then(() => process.exit(0));
});
