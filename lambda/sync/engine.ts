import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { isSyncError, SyncError } from '../common/errors.js';
import type { NormalizedReport } from '../common/records.js';
import type { ScanOngoingPolicy } from '../config.js';
import { type ConsoleClient, fetchScanProgress, RegistryPager } from '../prisma/index.js';
import type { Checkpoint, Stores } from '../store/index.js';
import { normalizedGroups } from './page-groups.js';

/** Final state of one invocation of a run. `partial` means a checkpoint is saved and the next invocation resumes. */
export type RunStatus = 'completed' | 'partial' | 'failed' | 'skipped';

/** The figures of a run, cumulative across the invocations that resumed it. */
export interface RunFigures {
  images: number;
  pages: number;
  requests: number;
  throttled: number;
  retries: number;
  written: number;
  unchanged: number;
  changed: number;
  new: number;
  stale: number;
  removed: number;
  bytes: number;
  durationMs: number;
  invocations: number;
  /** Epoch ms of the oldest `scanTime` seen, 0 when none: an image the console stopped rescanning. */
  oldestScanTimeMs: number;
}

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
}

export interface SyncProgress {
  runId: string;
  pages: number;
  images: number;
  totalCount: number | undefined;
  throttled: number;
  elapsedMs: number;
}

export interface EngineLogger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
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
  logger: EngineLogger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Sets V8 flags of this process (default `v8.setFlagsFromString`); see {@link SYNC_V8_FLAGS}. */
  setV8Flags?: (flags: string) => void;
}

/**
 * V8 flags a sync run sets for its process. After each full GC, V8 lets the old generation grow to
 * up to 4 times the live heap when its heap limit is large (2 GB and more, i.e. any machine with
 * 8 GB of RAM or more). A run's live heap is modest (the modules, one page of raw reports, one
 * group of records being written: about 50 MB with a 19 MB page of heavy reports) but writing
 * allocates many short-lived objects (the SDK's marshalled items and requests), so the old
 * generation filled with garbage up to that limit. Bench scenario 3 (`--trace-gc`): a full GC at
 * 47 MB live, the next at 182 MB; peak RSS 287–323 MB without the flag, 218–224 MB with it (three
 * runs each), and the same with 3 times the images. A factor of 1.5 keeps the old generation near
 * the live heap for a few more, cheap, full GCs (no measurable CPU on the read side of scenario 2),
 * and unlike `--max-old-space-size` caps nothing: a larger page still fits. Set at run time because
 * V8 reads it at every GC, so neither the Lambda nor the CLI needs a Node option; the export command
 * sets the same for the same reason (lambda/export/cli.ts).
 */
export const SYNC_V8_FLAGS = '--heap-growing-percent=50';

const DAY_MS = 24 * 60 * 60 * 1000;

function emptyFigures(): RunFigures {
  return {
    images: 0,
    pages: 0,
    requests: 0,
    throttled: 0,
    retries: 0,
    written: 0,
    unchanged: 0,
    changed: 0,
    new: 0,
    stale: 0,
    removed: 0,
    bytes: 0,
    durationMs: 0,
    invocations: 0,
    oldestScanTimeMs: 0,
  };
}

function figuresFrom(counters: Record<string, number> | undefined): RunFigures {
  const figures = emptyFigures();
  if (!counters) return figures;
  for (const key of Object.keys(figures) as Array<keyof RunFigures>) {
    const value = counters[key];
    if (typeof value === 'number' && Number.isFinite(value)) figures[key] = value;
  }
  return figures;
}

const LOCAL_OWNER_PREFIX = 'local';

/** A lease owner id that names this host and process, so a later run can tell a dead holder. */
export function localOwnerId(): string {
  return `${LOCAL_OWNER_PREFIX}:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** True only when `holder` is a process of this host that no longer exists. */
export function holderIsDeadLocalProcess(holder: string): boolean {
  const [prefix, host, pidText] = holder.split(':');
  if (prefix !== LOCAL_OWNER_PREFIX || host !== hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A new run id that sorts by start time, so `query runs` reads naturally. */
export function newRunId(now: number): string {
  return `${new Date(now).toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
}

/** The image key the store records as seen: `${registry}/${repo}:${tag}`. */
function seenKey(report: NormalizedReport): string {
  const { registry, repo, tag } = report.image.identity;
  return `${registry}/${repo}:${tag}`;
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
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { stores, client, logger, consoleId } = deps;
  const started = now();
  const leaseTtlMs = options.leaseTtlMs ?? 120_000;
  const owner = options.owner ?? localOwnerId();
  const deadline = options.deadline;
  (deps.setV8Flags ?? setFlagsFromString)(SYNC_V8_FLAGS);

  let lease = await stores.runs.acquireLease({ owner, ttlMs: leaseTtlMs });
  if (!lease.acquired && holderIsDeadLocalProcess(lease.holder)) {
    // A CLI run on this host was killed (SIGKILL, power loss): its lease would block re-runs until expiry.
    // The release is conditional on that exact holder, so a live competitor can never be dislodged.
    logger.warn('taking over the lease of a dead local process', { holder: lease.holder });
    await stores.runs.releaseLease(lease.holder);
    lease = await stores.runs.acquireLease({ owner, ttlMs: leaseTtlMs });
  }
  if (!lease.acquired) {
    throw new SyncError(
      'sync.leaseHeld',
      `another sync run of console ${consoleId} holds the lease (owner ${lease.holder}) until ${lease.expiresAt}; not starting a second one`,
      { holder: lease.holder, expiresAt: lease.expiresAt },
    );
  }
  let leaseRenewedAt = now();
  const renewLease = async () => {
    if (now() - leaseRenewedAt < leaseTtlMs / 3) return;
    await stores.runs.renewLease(owner, leaseTtlMs);
    leaseRenewedAt = now();
  };

  let runId = '';
  let figures = emptyFigures();
  let resumed = false;
  let scanOngoing: boolean | undefined;
  let totalCount: number | undefined;
  const clientAtStart = { ...client.counters };
  const invocationStart = started;
  let baseDuration = 0;
  let runStartedAt = new Date(started).toISOString();

  const collect = (): RunFigures => {
    const c = client.counters;
    return {
      ...figures,
      requests: figures.requests + (c.requests - clientAtStart.requests),
      throttled: figures.throttled + (c.throttled - clientAtStart.throttled),
      retries: figures.retries + (c.retries - clientAtStart.retries),
      bytes: figures.bytes + (c.bytes - clientAtStart.bytes),
      durationMs: baseDuration + (now() - invocationStart),
    };
  };
  const result = (status: RunStatus, extra: Partial<SyncResult> = {}): SyncResult => {
    const { oldestScanTimeMs, ...rest } = collect();
    return {
      ...rest,
      runId,
      consoleId,
      status,
      resumed,
      scanOngoing,
      totalCount,
      oldestScanTime: oldestScanTimeMs > 0 ? new Date(oldestScanTimeMs).toISOString() : null,
      ...extra,
    };
  };
  const runPatch = (status: RunStatus | 'running', extra: Record<string, unknown> = {}) => {
    const { oldestScanTimeMs, ...rest } = collect();
    return {
      status,
      ...rest,
      oldestScanTime: oldestScanTimeMs > 0 ? new Date(oldestScanTimeMs).toISOString() : null,
      updatedAt: new Date(now()).toISOString(),
      ...extra,
    };
  };

  try {
    // Resume the unfinished run this checkpoint belongs to, unless told otherwise or it is too old.
    const checkpoint = await stores.runs.loadCheckpoint();
    const maxAge = options.maxCheckpointAgeMs ?? DAY_MS;
    let pagerState: unknown;
    let pageIndex = 0;
    if (checkpoint && !options.fresh && now() - Date.parse(checkpoint.startedAt) <= maxAge) {
      runId = checkpoint.runId;
      runStartedAt = checkpoint.startedAt;
      resumed = true;
      figures = figuresFrom(checkpoint.counters);
      baseDuration = figures.durationMs;
      pagerState = checkpoint.pagerState;
      // A checkpoint saved while waiting for a registry scan has pageIndex -1 and no pager state.
      pageIndex = checkpoint.pageIndex + 1;
      logger.info('resuming unfinished run', { runId, pageIndex });
    } else {
      if (checkpoint) {
        const why = options.fresh
          ? 'superseded by a --fresh run'
          : 'abandoned: checkpoint older than the maximum age';
        await stores.runs.updateRun(checkpoint.runId, {
          status: 'failed',
          error: why,
          finishedAt: new Date(now()).toISOString(),
        });
        await stores.runs.clearCheckpoint(checkpoint.runId);
        logger.warn('discarding unfinished run', { runId: checkpoint.runId, reason: why });
      }
      runId = newRunId(started);
      await stores.runs.createRun({
        runId,
        startedAt: new Date(started).toISOString(),
        trigger: options.trigger,
        options: { whenScanOngoing: options.whenScanOngoing ?? 'proceed', fresh: Boolean(options.fresh) },
      });
    }
    figures.invocations += 1;

    // Before the first page (a new run, or one that stopped while waiting for a registry scan).
    if (pagerState === undefined) {
      const policy = options.whenScanOngoing ?? 'proceed';
      const gate = await applyScanPolicy(policy);
      if (gate !== 'go') {
        if (gate === 'skip') {
          await stores.runs.updateRun(
            runId,
            runPatch('skipped', { finishedAt: new Date(now()).toISOString(), scanOngoing }),
          );
          return result('skipped', { reason: 'a registry scan is ongoing (--when-scan-ongoing skip)' });
        }
        // Waited until the budget: keep a checkpoint at the start so the next invocation resumes this run.
        await saveCheckpoint(undefined, -1);
        await stores.runs.updateRun(runId, runPatch('partial', { scanOngoing }));
        return result('partial', {
          reason: 'stopped at the time budget while waiting for the registry scan to finish',
        });
      }
    }

    const pager = new RegistryPager(client, pagerState === undefined ? {} : { resume: pagerState as never });
    let stoppedEarly = false;
    let slowestPageMs = 0;
    let pageStart = now();
    for await (const page of pager) {
      totalCount = page.totalCount ?? totalCount;
      const seenAt = new Date(now()).toISOString();
      const seen: string[] = [];
      // Taken out of the page (the pager's generator holds the page while this loop runs), so each
      // raw report is freed once serialized; the store gets the page in groups bounded by bytes.
      const groups = normalizedGroups(page.reports.splice(0), {
        consoleId,
        offset: page.offset,
        logger,
        ...(options.groupBytes === undefined ? {} : { groupBytes: options.groupBytes }),
      });
      for (const group of groups) {
        const writeResult = await stores.images.writeReports(
          group.map(({ report, rawJson }) => ({ normalized: report, rawJson })),
          { runId, seenAt },
        );
        figures.images += group.length;
        figures.written += writeResult.itemsWritten;
        for (const image of writeResult.images) figures[image.outcome === 'new' ? 'new' : image.outcome] += 1;
        for (const { report } of group) {
          seen.push(seenKey(report));
          const t = report.image.scanTime ? Date.parse(report.image.scanTime) : Number.NaN;
          if (Number.isFinite(t) && (figures.oldestScanTimeMs === 0 || t < figures.oldestScanTimeMs)) {
            figures.oldestScanTimeMs = t;
          }
        }
      }
      figures.pages += 1;
      figures.written += await saveCheckpoint(page.state, pageIndex, seen);
      pageIndex += 1;
      await renewLease();
      const pageMs = now() - pageStart;
      slowestPageMs = Math.max(slowestPageMs, pageMs);
      options.onProgress?.({
        runId,
        pages: figures.pages,
        images: figures.images,
        totalCount,
        throttled: collect().throttled,
        elapsedMs: collect().durationMs,
      });
      if (page.done) break;
      // Stop while a whole further page still fits comfortably; the next invocation resumes here.
      if (deadline !== undefined && deadline - now() < Math.max(5_000, 3 * slowestPageMs)) {
        stoppedEarly = true;
        break;
      }
      pageStart = now();
    }

    if (stoppedEarly) {
      await stores.runs.updateRun(runId, runPatch('partial', { scanOngoing }));
      logger.info('stopped at the time budget; checkpoint saved', { runId, pages: figures.pages });
      return result('partial', { reason: 'time budget' });
    }

    // The pass saw the complete result set: only now may images it did not see be marked removed.
    await stores.runs.updateRun(
      runId,
      runPatch('running', { pagingComplete: true, scanOngoing, totalCount }),
    );
    const sweep = await stores.images.sweepRemoved(runId);
    figures.removed += sweep.removed;
    figures.written += sweep.itemsWritten;
    await stores.runs.updateRun(
      runId,
      runPatch('completed', {
        finishedAt: new Date(now()).toISOString(),
        pagingComplete: true,
        scanOngoing,
        totalCount,
      }),
    );
    await stores.runs.clearCheckpoint(runId);
    return result('completed');
  } catch (error) {
    if (isSyncError(error, 'client.deadline') && runId) {
      await stores.runs.updateRun(runId, runPatch('partial', { scanOngoing }));
      return result('partial', { reason: 'time budget (a console wait would pass the deadline)' });
    }
    const code = isSyncError(error) ? error.code : 'sync.unexpected';
    const message = error instanceof Error ? error.message : String(error);
    logger.error('sync run failed', { runId, code, message });
    if (runId) {
      // The checkpoint stays as last committed: the next run resumes from the last good page.
      await stores.runs
        .updateRun(
          runId,
          runPatch('failed', { error: `${code}: ${message}`, finishedAt: new Date(now()).toISOString() }),
        )
        .catch((cause: unknown) =>
          logger.error('could not record the failed run', { runId, cause: String(cause) }),
        );
    }
    throw error;
  } finally {
    await stores.runs
      .releaseLease(owner)
      .catch((cause: unknown) =>
        logger.warn('could not release the lease; it expires by itself', { cause: String(cause) }),
      );
  }

  async function saveCheckpoint(pagerState: unknown, index: number, seen: string[] = []): Promise<number> {
    const checkpoint: Checkpoint = {
      runId,
      pageIndex: index,
      pagerState,
      counters: { ...collect() } as unknown as Record<string, number>,
      startedAt: runStartedAt,
      updatedAt: new Date(now()).toISOString(),
    };
    return await stores.runs.commitPage({ runId, pageIndex: index, seenKeys: seen, checkpoint });
  }

  async function applyScanPolicy(policy: ScanOngoingPolicy): Promise<'go' | 'skip' | 'budget'> {
    const ongoing = async () => (await fetchScanProgress(client)).some((p) => p.isScanOngoing === true);
    scanOngoing = await ongoing();
    if (!scanOngoing || policy === 'proceed') {
      if (scanOngoing)
        logger.warn('a registry scan is ongoing; proceeding (reports may change while paging)');
      return 'go';
    }
    if (policy === 'skip') return 'skip';
    const poll = options.scanWaitPollMs ?? 30_000;
    while (scanOngoing) {
      if (deadline !== undefined && now() + poll > deadline) return 'budget';
      logger.info('waiting for the ongoing registry scan to finish', { pollMs: poll });
      await sleep(poll);
      scanOngoing = await ongoing();
    }
    return 'go';
  }
}
