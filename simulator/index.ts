/**
 * The console simulator's public API. See simulator/README.md for the behaviour it reproduces.
 *
 * @example
 * import { startSimulator } from './simulator/index.js';
 * const sim = await startSimulator({ images: 500, seed: 7, rateLimit: false });
 * process.env.PRISMA_CONSOLE_URL = sim.url;
 * // ... run a sync ...
 * const mark = sim.truth.mark();
 * await sim.close();
 */
export { type CatalogEntry, compareKeys, type HistoryStep } from './catalog.js';
export { FAULT_KINDS, type Fault, type FaultKind, type FaultPlan } from './faults.js';
export {
  COMPACT_DROPPED_KEYS,
  type ImageSlot,
  imageKey,
  imageKeyOf,
  type RawReport,
  ZERO_TIME,
} from './generator.js';
export type * from './progress.js';
export * from './simulator.js';
