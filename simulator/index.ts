/** The console simulator's public API; simulator/README.md describes what it reproduces. */
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
