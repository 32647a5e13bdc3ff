/**
 * The item model of the store: one module per item kind, each with its type, its builder and its
 * single decoder. The write planner, the queries and the export reader all go through these.
 */
export * from './attribute-value.js';
export * from './change.js';
export * from './common.js';
export * from './console.js';
export * from './finding.js';
export * from './history.js';
export * from './image.js';
export * from './raw-chunk.js';
export * from './run.js';
