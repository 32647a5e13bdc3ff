/**
 * One invocation of a sync run, phase by phase: acquire the lease, resume (or start) the run, the
 * scan gate, the page loop, finish and sweep, and the failure path. Each phase is a method the tests
 * call on its own; the rules each applies are the pure functions of decisions.ts and figures.ts.
 */
import { randomUUID } from 'node:crypto';
import { isSyncError } from '../common/errors.js';
import type { ImageIdentity } from '../common/records.js';
import { fetchScanProgress, type RegistryPage, RegistryPager } from '../prisma/index.js';
import { type Checkpoint, imageKeyString, type QuarantinedReport, type RunRecord } from '../store/index.js';
import {
  type CheckpointFailure,
  DEFAULT_MAX_CHECKPOINT_AGE_MS,
  nextFailure,
  resumeDecision,
  scanGateStep,
  stopForBudget,
  sweepSkippedReason,
} from './decisions.js';
import type { RunStatus, SyncDependencies, SyncOptions, SyncResult } from './engine.js';
import {
  type ClientCounters,
  countOutcome,
  emptyCounts,
  emptyFigures,
  figuresFrom,
  type InvocationFigures,
  invocationFigures,
  noteScanTime,
  type OwnCounts,
  type RunFigures,
  runTotals,
  scanTimeText,
} from './figures.js';
import { localOwnerId, RunLease } from './lease.js';
import {
  type NormalizedEntry,
  normalizedGroups,
  type RejectedReport,
  schemaRejection,
} from './page-groups.js';
import {
  countsAsSeen,
  mergeQuarantine,
  type QuarantineEntry,
  quarantineEntry,
  quarantineFrom,
  rawDigest,
  type TextCleaner,
  textCleaner,
} from './quarantine.js';

export const DEFAULT_LEASE_TTL_MS = 120_000;

export const DEFAULT_SCAN_WAIT_POLL_MS = 30_000;

/** A new run id that sorts by start time, so `query runs` reads naturally. */
export function newRunId(now: number): string {
  return `${new Date(now).toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
}

/**
 * The state of one invocation of a run. Use `runSync` (engine.ts) to run it whole; the phases are
 * public so each can be tested alone, in order.
 *
 * @example
 * const run = new SyncRun(deps, { trigger: 'cli' });
 * const result = await run.execute();
 */
export class SyncRun {
  readonly #deps: SyncDependencies;
  readonly #options: SyncOptions;
  readonly #now: () => number;
  readonly #invocationStart: number;
  readonly #clientAtStart: ClientCounters;
  #lease: RunLease | undefined;
  #runId = '';
  #runStartedAt: string;
  #resumed = false;
  #scanOngoing: boolean | undefined;
  #totalCount: number | undefined;
  /** The run's figures before this invocation (restored from the checkpoint). */
  #before: RunFigures = emptyFigures();
  /** What this invocation counted itself. */
  readonly #own: OwnCounts = emptyCounts();
  #pagerState: unknown;
  /** Index of the next page to commit: the checkpoint's page + 1 when resuming. */
  #pageIndex = 0;
  #slowestPageMs = 0;
  /** Quarantined reports listed on the run record (capped; `quarantined` counts them all). */
  #quarantine: QuarantineEntry[] = [];
  /** The failure the run record held when this invocation resumed it. */
  #failureBefore: CheckpointFailure | undefined;
  readonly #clean: TextCleaner;

  constructor(deps: SyncDependencies, options: SyncOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#now = deps.now ?? Date.now;
    this.#invocationStart = this.#now();
    this.#clientAtStart = { ...deps.client.counters };
    this.#runStartedAt = new Date(this.#invocationStart).toISOString();
    this.#clean = textCleaner((text) => deps.client.redact(text));
  }

  get runId(): string {
    return this.#runId;
  }

  /** All phases in order; the lease is released whatever happens. */
  async execute(): Promise<SyncResult> {
    await this.acquireLease();
    try {
      await this.resume();
      const stopped = (await this.scanGate()) ?? (await this.pageLoop());
      return stopped ?? (await this.finish());
    } catch (error) {
      return await this.fail(error);
    } finally {
      await this.#lease?.release();
    }
  }

  /** Phase 1: the console's lease, or `sync.leaseHeld`. */
  async acquireLease(): Promise<void> {
    this.#lease = await RunLease.acquire({
      runs: this.#deps.stores.runs,
      owner: this.#options.owner ?? localOwnerId(),
      ttlMs: this.#options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      consoleId: this.#deps.consoleId,
      logger: this.#deps.logger,
      now: this.#now,
    });
    this.#lease.keepAlive();
  }

  /**
   * Phase 2: resume the unfinished run of the saved checkpoint, or start a new run (recording a
   * discarded checkpoint's run as failed, with the reason).
   */
  async resume(): Promise<void> {
    const { stores, logger } = this.#deps;
    const checkpoint = await stores.runs.loadCheckpoint();
    const run = checkpoint ? await stores.runs.getRun(checkpoint.runId) : undefined;
    const decision = resumeDecision({
      checkpoint,
      fresh: this.#options.fresh === true,
      now: this.#now(),
      maxAgeMs: this.#options.maxCheckpointAgeMs ?? DEFAULT_MAX_CHECKPOINT_AGE_MS,
      failure: failureFrom(run?.lastFailure),
    });
    if (decision.kind === 'resume') {
      this.#resumeFrom(decision.checkpoint, run);
      logger.info('resuming unfinished run', { runId: this.#runId, pageIndex: this.#pageIndex });
      return;
    }
    if (decision.kind === 'discard') {
      const { runId } = decision.checkpoint;
      await stores.runs.updateRun(runId, {
        status: 'failed',
        error: decision.reason,
        finishedAt: this.#iso(),
      });
      await stores.runs.clearCheckpoint(runId);
      logger.warn('discarding unfinished run', { runId, reason: decision.reason });
    }
    this.#runId = newRunId(this.#invocationStart);
    await stores.runs.createRun({
      runId: this.#runId,
      startedAt: this.#runStartedAt,
      trigger: this.#options.trigger,
      options: {
        whenScanOngoing: this.#options.whenScanOngoing ?? 'proceed',
        fresh: this.#options.fresh === true,
      },
    });
  }

  #resumeFrom(checkpoint: Checkpoint, run: RunRecord | undefined): void {
    this.#quarantine = quarantineFrom(run?.quarantine);
    this.#failureBefore = failureFrom(run?.lastFailure);
    this.#runId = checkpoint.runId;
    this.#runStartedAt = checkpoint.startedAt;
    this.#resumed = true;
    this.#before = figuresFrom(checkpoint.figures);
    this.#pagerState = checkpoint.pagerState;
    // A checkpoint saved while waiting for a registry scan has pageIndex -1 and no pager state.
    this.#pageIndex = checkpoint.pageIndex + 1;
  }

  /**
   * Phase 3, before the first page (a new run, or one that stopped while waiting for a registry
   * scan): apply `--when-scan-ongoing`. Returns the invocation's result when it ends here.
   */
  async scanGate(): Promise<SyncResult | undefined> {
    if (this.#pagerState !== undefined) return undefined;
    const { client, logger, stores } = this.#deps;
    const policy = this.#options.whenScanOngoing ?? 'proceed';
    const pollMs = this.#options.scanWaitPollMs ?? DEFAULT_SCAN_WAIT_POLL_MS;
    const sleep = this.#deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (;;) {
      this.#scanOngoing = (await fetchScanProgress(client)).some((p) => p.isScanOngoing === true);
      const step = scanGateStep({
        policy,
        ongoing: this.#scanOngoing,
        now: this.#now(),
        pollMs,
        deadline: this.#options.deadline,
      });
      if (step === 'go') {
        if (this.#scanOngoing)
          logger.warn('a registry scan is ongoing; proceeding (reports may change while paging)');
        return undefined;
      }
      if (step === 'skip') {
        await stores.runs.updateRun(this.#runId, this.#runPatch('skipped', { finishedAt: this.#iso() }));
        return this.result('skipped', {
          reason: 'a registry scan is ongoing (option whenScanOngoing: skip)',
        });
      }
      if (step === 'budget') {
        // Keep a checkpoint at the start so the next invocation resumes this run.
        await this.#commit(undefined, -1, []);
        await stores.runs.updateRun(this.#runId, this.#runPatch('partial'));
        return this.result('partial', {
          reason: 'stopped at the time budget while waiting for the registry scan to finish',
        });
      }
      logger.info('waiting for the ongoing registry scan to finish', { pollMs });
      await sleep(pollMs);
    }
  }

  /**
   * Phase 4: page → normalize → store, with a checkpoint after every committed page and the lease
   * renewed when due. Returns a `partial` result when it stopped at the time budget, undefined
   * after the last page.
   */
  async pageLoop(): Promise<SyncResult | undefined> {
    const pager = new RegistryPager(
      this.#deps.client,
      this.#pagerState === undefined ? {} : { resume: this.#pagerState as never },
    );
    let pageStart = this.#now();
    for await (const page of pager) {
      await this.writePage(page);
      await this.#lease?.renewIfDue();
      this.#slowestPageMs = Math.max(this.#slowestPageMs, this.#now() - pageStart);
      this.#reportProgress();
      if (page.done) return undefined;
      if (
        stopForBudget({
          now: this.#now(),
          deadline: this.#options.deadline,
          slowestPageMs: this.#slowestPageMs,
        })
      ) {
        // The next invocation resumes after this page.
        await this.#deps.stores.runs.updateRun(this.#runId, this.#runPatch('partial'));
        this.#deps.logger.info('stopped at the time budget; checkpoint saved', {
          runId: this.#runId,
          pages: this.totals().pages,
        });
        return this.result('partial', { reason: 'time budget' });
      }
      pageStart = this.#now();
    }
    return undefined;
  }

  /**
   * One page: its reports normalized and stored group by group, then committed with its seen keys.
   * A report that fails the schema, cannot be normalized or cannot be stored is quarantined; its
   * image, if stored before, counts as seen, so the sweep leaves it as it was. One whose image
   * cannot be told for sure counts as `unidentified`, and the run will not sweep (see `finish`).
   */
  async writePage(page: RegistryPage): Promise<void> {
    const { stores, consoleId, logger } = this.#deps;
    this.#totalCount = page.totalCount ?? this.#totalCount;
    const seenAt = this.#iso();
    const seen: string[] = [];
    const rejected: QuarantineEntry[] = [];
    const reject = (
      identity: Pick<ImageIdentity, 'registry' | 'repo' | 'tag'> | null,
      entry: Omit<RejectedReport, 'identity'>,
    ) => {
      // The seen-key format is the store's (the sweep reads it back).
      const key = identity ? imageKeyString(identity) : undefined;
      if (key !== undefined && countsAsSeen(key)) seen.push(key);
      if (identity === null) this.#own.unidentified += 1;
      rejected.push(quarantineEntry({ ...entry, identity, at: seenAt }, this.#clean));
    };
    for (const invalid of page.rejected.splice(0)) {
      const { identity, ...entry } = schemaRejection(invalid, consoleId, page.offset);
      reject(identity, entry);
    }
    // Taken out of the page (the pager's generator holds the page while this loop runs), so each
    // raw report is freed once serialized; the store gets the page in groups bounded by bytes.
    const groups = normalizedGroups(page.reports.splice(0), {
      consoleId,
      offset: page.offset,
      positions: page.positions,
      logger,
      onRejected: ({ identity, ...entry }) => reject(identity, entry),
      ...(this.#options.groupBytes === undefined ? {} : { groupBytes: this.#options.groupBytes }),
    });
    for (const group of groups) {
      const written = await stores.images.writeReports(
        group.map(({ report, rawJson }) => ({ normalized: report, rawJson })),
        { runId: this.#runId, seenAt },
      );
      this.#own.written += written.itemsWritten;
      for (const image of written.images) countOutcome(this.#own, image.outcome);
      const failed = new Map(written.quarantined.map((r) => [r.index, r]));
      group.forEach((entry, i) => {
        const failure = failed.get(i);
        if (failure) reject(failure.identity, this.#storeRejection(entry, failure, page.offset));
        else this.#countStored(entry, seen);
      });
    }
    this.#own.pages += 1;
    if (rejected.length > 0) await this.#recordQuarantine(rejected.sort((a, b) => a.index - b.index));
    await this.#commit(page.state, this.#pageIndex, seen);
    this.#pageIndex += 1;
  }

  #countStored({ report }: NormalizedEntry, seen: string[]): void {
    this.#own.images += 1;
    seen.push(imageKeyString(report.image.identity));
    noteScanTime(this.#own, report.image.scanTime);
  }

  #storeRejection(
    entry: NormalizedEntry,
    failure: QuarantinedReport,
    offset: number,
  ): Omit<RejectedReport, 'identity'> {
    return {
      offset,
      index: entry.index,
      code: failure.code,
      reason: failure.reason,
      sha256: rawDigest({ rawJson: entry.rawJson }),
    };
  }

  /**
   * Counts, logs and lists quarantined reports; the run record gets the list before the page is
   * committed, so a crash in between lists them still (a re-read page does not list them twice).
   */
  async #recordQuarantine(entries: readonly QuarantineEntry[]): Promise<void> {
    this.#own.quarantined += entries.length;
    for (const entry of entries) {
      this.#deps.logger.warn('report quarantined', { runId: this.#runId, ...entry });
    }
    this.#quarantine = mergeQuarantine(this.#quarantine, entries);
    await this.#deps.stores.runs.updateRun(this.#runId, {
      quarantined: this.totals().quarantined,
      quarantine: this.#quarantine,
    });
  }

  /**
   * Phase 5, after the last page: the pass saw the complete result set, so only now may images it
   * did not see be marked removed. Closes the run and clears its checkpoint.
   */
  async finish(): Promise<SyncResult> {
    const { stores } = this.#deps;
    const complete = { pagingComplete: true, totalCount: this.#totalCount };
    await stores.runs.updateRun(this.#runId, this.#runPatch('running', complete));
    const skipped = sweepSkippedReason(this.totals().unidentified);
    if (skipped === undefined) {
      const sweep = await stores.images.sweepRemoved(this.#runId);
      this.#own.removed += sweep.removed;
      this.#own.written += sweep.itemsWritten;
    } else {
      this.#deps.logger.warn('removal sweep skipped', { runId: this.#runId, reason: skipped });
    }
    const sweepNote = skipped === undefined ? {} : { sweepSkipped: skipped };
    await stores.runs.updateRun(
      this.#runId,
      this.#runPatch('completed', { ...complete, ...sweepNote, finishedAt: this.#iso() }),
    );
    await stores.runs.clearCheckpoint(this.#runId);
    return this.result('completed', skipped === undefined ? {} : { reason: skipped });
  }

  /**
   * Phase 6, on any error of phases 2 to 5: a console wait that would pass the deadline is a
   * `partial` stop; anything else is recorded on the run as failed and thrown again. The checkpoint
   * stays as last committed: the next run resumes from the last good page.
   */
  async fail(error: unknown): Promise<SyncResult> {
    const { stores, logger } = this.#deps;
    const runId = this.#runId;
    if (isSyncError(error, 'client.deadline') && runId) {
      await stores.runs.updateRun(runId, this.#runPatch('partial'));
      const reason = isSyncError(error, 'client.deadline.retryAfter')
        ? this.#deps.client.redact(error.message)
        : 'time budget (a console wait would pass the deadline)';
      return this.result('partial', { reason });
    }
    const code = isSyncError(error) ? error.code : 'sync.unexpected';
    const message = this.#deps.client.redact(error instanceof Error ? error.message : String(error));
    logger.error('sync run failed', { runId, code, message });
    if (runId) {
      // Remembered on the run, so an identical failure on every resume ends (see resumeDecision).
      const lastFailure = nextFailure(this.#failureBefore, { code, pageIndex: this.#pageIndex });
      const failed = { error: `${code}: ${message}`, finishedAt: this.#iso(), lastFailure };
      await stores.runs
        .updateRun(runId, this.#runPatch('failed', failed))
        .catch((cause: unknown) =>
          logger.error('could not record the failed run', { runId, cause: String(cause) }),
        );
    }
    throw error;
  }

  /** What this invocation did so far. */
  invocation(): InvocationFigures {
    return invocationFigures(
      this.#own,
      { now: this.#deps.client.counters, atStart: this.#clientAtStart },
      this.#now() - this.#invocationStart,
    );
  }

  /** The run's figures so far: before this invocation plus this invocation. */
  totals(): RunFigures {
    return runTotals(this.#before, this.invocation(), this.#own.oldestScanTimeMs);
  }

  /** The invocation's result with the run's totals. */
  result(status: RunStatus, extra: Pick<SyncResult, 'reason'> = {}): SyncResult {
    const { oldestScanTimeMs, ...totals } = this.totals();
    return {
      ...totals,
      runId: this.#runId,
      consoleId: this.#deps.consoleId,
      status,
      resumed: this.#resumed,
      scanOngoing: this.#scanOngoing,
      totalCount: this.#totalCount,
      oldestScanTime: scanTimeText(oldestScanTimeMs),
      quarantine: this.#quarantine,
      invocation: this.invocation(),
      ...extra,
    };
  }

  #runPatch(status: RunStatus | 'running', extra: Partial<RunRecord> = {}): Partial<RunRecord> {
    const { oldestScanTimeMs, ...totals } = this.totals();
    return {
      status,
      ...totals,
      oldestScanTime: scanTimeText(oldestScanTimeMs),
      scanOngoing: this.#scanOngoing,
      quarantine: this.#quarantine,
      updatedAt: this.#iso(),
      ...extra,
    };
  }

  /** Saves the checkpoint after page `index` with that page's seen keys; counts the items written. */
  async #commit(pagerState: unknown, index: number, seen: string[]): Promise<void> {
    const checkpoint: Checkpoint = {
      runId: this.#runId,
      pageIndex: index,
      pagerState,
      figures: this.#checkpointFigures(),
      startedAt: this.#runStartedAt,
      updatedAt: this.#iso(),
    };
    this.#own.written += await this.#deps.stores.runs.commitPage({
      runId: this.#runId,
      pageIndex: index,
      seenKeys: seen,
      checkpoint,
    });
  }

  #checkpointFigures(): Record<string, number> {
    return { ...this.totals() };
  }

  #reportProgress(): void {
    const totals = this.totals();
    this.#options.onProgress?.({
      runId: this.#runId,
      pages: totals.pages,
      images: totals.images,
      totalCount: this.#totalCount,
      throttled: totals.throttled,
      elapsedMs: totals.durationMs,
    });
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }
}

/** The failure a run record holds, if it is one the engine wrote. */
function failureFrom(value: unknown): CheckpointFailure | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { code, pageIndex, count } = value as Partial<CheckpointFailure>;
  if (typeof code !== 'string' || typeof pageIndex !== 'number' || typeof count !== 'number')
    return undefined;
  return { code, pageIndex, count };
}
