import type { Logger } from '../common/logger.js';
import type { ScanOngoingPolicy } from '../config.js';
import type { ConsoleClient } from '../prisma/index.js';
import type { RunStatus, Stores } from '../store/index.js';
import type { InvocationFigures, RunFigures } from './figures.js';
import type { QuarantineEntry } from './quarantine.js';
import { SyncRun } from './run.js';

/** The store's one run status: `partial` means a checkpoint is saved and the next invocation resumes. */
export type { RunStatus } from '../store/index.js';
export type { InvocationFigures, RunFigures } from './figures.js';
export { holderIsDeadLocalProcess, localOwnerId } from './lease.js';
export { SYNC_V8_FLAGS, tuneProcessForSync } from './process-tuning.js';
export type { QuarantineEntry } from './quarantine.js';
export { newRunId } from './run.js';

export interface SyncResult extends Omit<RunFigures, 'oldestScanTimeMs'> {
  runId: string;
  consoleId: string;
  status: RunStatus;
  resumed: boolean;
  scanOngoing: boolean | undefined;
  oldestScanTime: string | null;
  totalCount: number | undefined;
  reason?: string;
  error?: { code: string; message: string };
  /**
   * Reports skipped because they could not be normalized or stored (SPEC §4.7), the first
   * `MAX_QUARANTINE_LISTED` of the run; `quarantined` counts them all.
   */
  quarantine: QuarantineEntry[];
  /**
   * What this invocation alone did (the figures above are the run's totals, restored from the
   * checkpoint when it resumed): publish these as per-invocation metrics.
   */
  invocation: InvocationFigures;
}

export interface SyncProgress {
  runId: string;
  pages: number;
  images: number;
  totalCount: number | undefined;
  throttled: number;
  elapsedMs: number;
}

export interface SyncOptions {
  /** What started the run (`cli`, `schedule`, `continuation`), recorded on the run. */
  trigger: string;
  /** Start a new run even when an unfinished run's checkpoint exists. */
  fresh?: boolean;
  whenScanOngoing?: ScanOngoingPolicy;
  /** Epoch ms by which this invocation must have stopped (Lambda: remaining time minus a margin). */
  deadline?: number;
  /** A checkpoint older than this is abandoned: a run is a full pass, not an eternal one. */
  maxCheckpointAgeMs?: number;
  leaseTtlMs?: number;
  /** How often `wait` polls the scan progress. */
  scanWaitPollMs?: number;
  onProgress?: (progress: SyncProgress) => void;
  /** Who holds the lease while this invocation runs. */
  owner?: string;
  /**
   * Raw JSON characters of reports handed to the store at once (default 4 MiB): a page of heavy
   * reports is written in parts, so it is never in memory whole. See page-groups.ts.
   */
  groupBytes?: number;
}

export interface SyncDependencies {
  client: ConsoleClient;
  stores: Stores;
  consoleId: string;
  logger: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs (or resumes) one sync pass of a console into the store: lease, run record, scan-progress
 * policy, paging → normalize → store per page with a checkpoint after every committed page, and the
 * removal sweep only after a complete pass. Stops cleanly with `partial` before `deadline`.
 *
 * @example
 * const result = await runSync({ client, stores, consoleId, logger }, { trigger: 'cli', deadline: Date.now() + 600_000 });
 */
export async function runSync(deps: SyncDependencies, options: SyncOptions): Promise<SyncResult> {
  return await new SyncRun(deps, options).execute();
}
