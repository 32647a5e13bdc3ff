/**
 * The plan of the scheduled DynamoDB → S3 export (pure: state and clock in, actions and new state out).
 *
 * Native point-in-time exports read the table's continuous backups: no read capacity, no effect on
 * the sync. The function keeps:
 * - one **full** export as the current snapshot, renewed every `fullEveryHours`;
 * - **incremental** exports (`INCREMENTAL_EXPORT`, NEW_IMAGE) from the snapshot's time onward, in
 *   windows of at most 24 hours (DynamoDB's limit; at least 15 minutes), one at a time.
 * Athena reads the snapshot plus every published increment and keeps the newest version of each
 * item (see `athena-views.ts`). When a new snapshot completes at time T, increments starting before
 * T are dropped and incremental exports restart from T, so every published increment is newer than
 * the snapshot and the views need no time filter.
 */

/** One export the function started. */
export interface ExportRef {
  exportArn: string;
  /** Where the function asked DynamoDB to write (`<prefix>/AWSDynamoDB/<id>/data/` holds the data). */
  s3Prefix: string;
  status: 'IN_PROGRESS' | 'COMPLETED';
}

export interface FullExportRef extends ExportRef {
  /** The point in time the snapshot shows (known once DynamoDB accepted the export). */
  exportTime: string;
}

export interface IncrementalExportRef extends ExportRef {
  from: string;
  to: string;
}

/** What the function remembers between runs (a JSON object in the bucket). */
export interface ExporterState {
  version: 1;
  /** The published snapshot. */
  snapshot?: FullExportRef;
  /** A full export started but not yet complete. */
  pendingFull?: FullExportRef;
  /** Increments after the snapshot, published (COMPLETED) or not yet. */
  increments: IncrementalExportRef[];
}

export interface ExportPlanConfig {
  /** Hours between full exports (default 168: weekly). */
  fullEveryHours: number;
  /** Minutes between incremental exports (15 to 1,440). */
  incrementalEveryMinutes: number;
  /** The table's point-in-time data lags; windows end this long before now (minutes). */
  settleMinutes: number;
}

export const DEFAULT_EXPORT_PLAN: ExportPlanConfig = {
  fullEveryHours: 168,
  incrementalEveryMinutes: 60,
  settleMinutes: 10,
};

/** DynamoDB's bounds on an incremental export window. */
export const MIN_WINDOW_MS = 15 * 60_000;
export const MAX_WINDOW_MS = 24 * 3_600_000;

export type ExportStatus = 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';

export type ExportAction =
  | { kind: 'startFull'; s3Prefix: string }
  | { kind: 'startIncremental'; s3Prefix: string; from: string; to: string };

export interface ExportPlan {
  state: ExporterState;
  /** At most one new export per run. */
  start?: ExportAction;
  /** Exports that failed (to log; their windows are requested again). */
  failed: string[];
}

/** `2025-06-02T08:00:00.000Z` → `20250602T080000Z` (S3 prefixes without colons). */
export function compactTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** The export id: the last segment of the export ARN. */
export function exportIdOf(exportArn: string): string {
  return exportArn.slice(exportArn.lastIndexOf('/') + 1);
}

/** Where DynamoDB puts an export's data files. */
export function dataPrefixOf(ref: ExportRef): string {
  return `${ref.s3Prefix.replace(/\/?$/, '/')}AWSDynamoDB/${exportIdOf(ref.exportArn)}/data/`;
}

/** An empty state (first run). */
export function emptyExporterState(): ExporterState {
  return { version: 1, increments: [] };
}

/**
 * Applies the statuses of the exports in flight and decides what to start.
 *
 * @example
 * const plan = planExports(state, statuses, { now: new Date(), tablePrefix: 'dynamodb/images' });
 * if (plan.start?.kind === 'startFull') await startFullExport(plan.start.s3Prefix);
 */
export function planExports(
  previous: ExporterState,
  statuses: ReadonlyMap<string, ExportStatus>,
  input: { now: Date; basePrefix: string; config?: Partial<ExportPlanConfig> },
): ExportPlan {
  const config = { ...DEFAULT_EXPORT_PLAN, ...input.config };
  const failed: string[] = [];
  const state = applyStatuses(previous, (ref) => statuses.get(ref.exportArn) ?? ref.status, failed);
  const start = nextExport(state, input.now, input.basePrefix, config);
  return { state, failed, ...(start ? { start } : {}) };
}

/**
 * The state once the exports in flight have finished or failed (their ARNs pushed to `failed`): a
 * finished full export becomes the snapshot, and the increments left are the contiguous run after it.
 */
function applyStatuses(
  previous: ExporterState,
  statusOf: (ref: ExportRef) => ExportStatus,
  failed: string[],
): ExporterState {
  const state: ExporterState = {
    version: 1,
    ...(previous.snapshot ? { snapshot: previous.snapshot } : {}),
    increments: [],
  };

  // A finished full export becomes the snapshot; increments from before its time are superseded.
  let pendingFull = previous.pendingFull;
  if (pendingFull) {
    const status = statusOf(pendingFull);
    if (status === 'COMPLETED') {
      state.snapshot = { ...pendingFull, status: 'COMPLETED' };
      pendingFull = undefined;
    } else if (status === 'FAILED') {
      failed.push(pendingFull.exportArn);
      pendingFull = undefined;
    }
  }
  if (pendingFull) state.pendingFull = pendingFull;

  const snapshotTime = state.snapshot?.exportTime;
  for (const increment of previous.increments) {
    if (snapshotTime !== undefined && increment.from < snapshotTime) continue;
    const status = statusOf(increment);
    if (status === 'FAILED') {
      failed.push(increment.exportArn);
      continue;
    }
    state.increments.push({ ...increment, status });
  }
  // Windows are contiguous: a failed one drops everything after it, to be requested again in order.
  state.increments.sort((a, b) => (a.from < b.from ? -1 : 1));
  let expectedFrom = snapshotTime;
  const contiguous: IncrementalExportRef[] = [];
  for (const increment of state.increments) {
    if (expectedFrom !== undefined && increment.from !== expectedFrom) break;
    contiguous.push(increment);
    expectedFrom = increment.to;
  }
  state.increments = contiguous;
  return state;
}

/** The export to start now, if any: a full one when due, else the next settled incremental window. */
function nextExport(
  state: ExporterState,
  nowDate: Date,
  basePrefix: string,
  config: ExportPlanConfig,
): ExportAction | undefined {
  const now = nowDate.getTime();
  const fullDue =
    !state.pendingFull &&
    (!state.snapshot || now - Date.parse(state.snapshot.exportTime) >= config.fullEveryHours * 3_600_000);
  if (fullDue) {
    return {
      kind: 'startFull',
      s3Prefix: `${basePrefix}/full/started=${compactTime(nowDate.toISOString())}/`,
    };
  }
  if (!state.snapshot || state.increments.some((increment) => increment.status === 'IN_PROGRESS'))
    return undefined;

  const from = state.increments.at(-1)?.to ?? state.snapshot.exportTime;
  const latest = now - config.settleMinutes * 60_000;
  const to = Math.min(Date.parse(from) + MAX_WINDOW_MS, latest);
  const due = latest - Date.parse(from) >= config.incrementalEveryMinutes * 60_000;
  if (!due || to - Date.parse(from) < MIN_WINDOW_MS) return undefined;
  const toIso = new Date(to).toISOString();
  return {
    kind: 'startIncremental',
    from,
    to: toIso,
    s3Prefix: `${basePrefix}/incremental/window=${compactTime(from)}-${compactTime(toIso)}/`,
  };
}

/** The state after an export was started. */
export function withStarted(
  state: ExporterState,
  action: ExportAction,
  started: { exportArn: string; exportTime?: string },
  now: Date,
): ExporterState {
  if (action.kind === 'startFull') {
    return {
      ...state,
      pendingFull: {
        exportArn: started.exportArn,
        s3Prefix: action.s3Prefix,
        status: 'IN_PROGRESS',
        exportTime: started.exportTime ?? now.toISOString(),
      },
    };
  }
  return {
    ...state,
    increments: [
      ...state.increments,
      {
        exportArn: started.exportArn,
        s3Prefix: action.s3Prefix,
        status: 'IN_PROGRESS',
        from: action.from,
        to: action.to,
      },
    ],
  };
}

/** The Glue partitions Athena must see: the snapshot, and the completed increments (in order, no gap). */
export function publishedExports(state: ExporterState): {
  snapshot: FullExportRef | undefined;
  increments: IncrementalExportRef[];
} {
  const increments: IncrementalExportRef[] = [];
  for (const increment of state.increments) {
    // A later increment is only visible once every earlier one is: no holes in the history.
    if (increment.status !== 'COMPLETED') break;
    increments.push(increment);
  }
  return { snapshot: state.snapshot, increments };
}

/** Every export still in flight (to DescribeExport on the next run). */
export function exportsInFlight(state: ExporterState): string[] {
  return [
    ...(state.pendingFull ? [state.pendingFull.exportArn] : []),
    ...state.increments
      .filter((increment) => increment.status === 'IN_PROGRESS')
      .map((increment) => increment.exportArn),
  ];
}
