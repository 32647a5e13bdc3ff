/**
 * The item builders and decoders, one module per kind under `model/` (kept as one import path for
 * the callers that predate the split).
 */
export * from './model/index.js';
