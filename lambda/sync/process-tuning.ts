/**
 * Process-wide settings a sync process wants. The engine never applies them itself (library code
 * has no process-wide side effects): the shells that own their process (the CLI, the Lambda
 * handler) call `tuneProcessForSync` once.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags for a process that runs syncs. After each full GC, V8 lets the old generation grow to
 * up to 4 times the live heap when its heap limit is large (2 GB and more, i.e. any machine with
 * 8 GB of RAM or more). A run's live heap is modest (the modules, one page of raw reports, one
 * group of records being written) but writing
 * allocates many short-lived objects (the SDK's marshalled items and requests), so the old
 * generation filled with garbage up to that limit (the GC trace and peak RSS with and without the
 * flag: bench/results.md "Figures behind code comments"). A factor of 1.5 keeps the old generation
 * near the live heap for a few more, cheap, full GCs,
 * and unlike `--max-old-space-size` caps nothing: a larger page still fits. Set at run time because
 * V8 reads it at every GC, so neither the Lambda nor the CLI needs a Node option; the export command
 * sets the same for the same reason (lambda/export/cli.ts).
 */
export const SYNC_V8_FLAGS = '--heap-growing-percent=50';

/**
 * Applies `SYNC_V8_FLAGS` to this process. For shells only: it changes the whole process.
 *
 * @example
 * tuneProcessForSync(); // at the start of the CLI's `sync` command or of the Lambda handler
 */
export function tuneProcessForSync(setV8Flags: (flags: string) => void = setFlagsFromString): void {
  setV8Flags(SYNC_V8_FLAGS);
}
