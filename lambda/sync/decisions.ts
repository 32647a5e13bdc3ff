/**
 * The engine's decisions as pure functions of what it knows: no I/O, no clock (times are passed in).
 * The phases in run.ts act on them; the tests pin each rule here without a console or a table.
 */
import type { ScanOngoingPolicy } from '../config.js';
import type { Checkpoint } from '../store/index.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A checkpoint older than this is abandoned by default: a run is a full pass, not an eternal one. */
export const DEFAULT_MAX_CHECKPOINT_AGE_MS = DAY_MS;

/**
 * Invocations in a row that may fail identically (same error code, same page) before the next one
 * stops resuming that checkpoint and starts a new pass from the first page. See `resumeDecision`.
 */
export const MAX_IDENTICAL_FAILURES = 3;

/** The last failure recorded on a checkpoint: what failed, at which page, how many times in a row. */
export interface CheckpointFailure {
  code: string;
  /** The page the run was reading or writing when it failed (the checkpoint's page + 1). */
  pageIndex: number;
  count: number;
}

export type ResumeDecision =
  | { kind: 'resume'; checkpoint: Checkpoint }
  | { kind: 'new' }
  | { kind: 'discard'; checkpoint: Checkpoint; reason: string };

/**
 * Resume the unfinished run this checkpoint belongs to, or start a new one (discarding the
 * checkpoint when there is one): a `--fresh` run, a checkpoint older than `maxAgeMs` (measured from
 * its run's start), or a checkpoint whose page failed identically `MAX_IDENTICAL_FAILURES` times in
 * a row is not resumed. A checkpoint whose start time cannot be read counts as too old.
 *
 * @example
 * resumeDecision({ checkpoint, fresh: false, now: Date.now(), maxAgeMs: DAY_MS }).kind; // 'resume'
 */
export function resumeDecision(input: {
  checkpoint: Checkpoint | undefined;
  fresh: boolean;
  now: number;
  maxAgeMs: number;
  failure?: CheckpointFailure | undefined;
}): ResumeDecision {
  const { checkpoint } = input;
  if (!checkpoint) return { kind: 'new' };
  if (input.fresh) return { kind: 'discard', checkpoint, reason: 'superseded by a fresh run (option fresh)' };
  const age = input.now - Date.parse(checkpoint.startedAt);
  if (!(age <= input.maxAgeMs)) {
    return { kind: 'discard', checkpoint, reason: 'abandoned: checkpoint older than the maximum age' };
  }
  const failure = input.failure;
  if (failure && failure.count >= MAX_IDENTICAL_FAILURES) {
    return {
      kind: 'discard',
      checkpoint,
      reason: `abandoned: page ${failure.pageIndex} failed ${failure.count} times in a row (${failure.code}); a new pass starts from the first page`,
    };
  }
  return { kind: 'resume', checkpoint };
}

/**
 * The failure to record on the checkpoint after a failed invocation: the count goes on when the
 * same code failed at the same page as last time, and starts at 1 otherwise.
 */
export function nextFailure(
  previous: CheckpointFailure | undefined,
  failed: { code: string; pageIndex: number },
): CheckpointFailure {
  const same = previous?.code === failed.code && previous.pageIndex === failed.pageIndex;
  return { code: failed.code, pageIndex: failed.pageIndex, count: same ? (previous?.count ?? 0) + 1 : 1 };
}

/**
 * Renew the lease once a third of its time-to-live has passed since the last renewal: two more
 * renewals could still fail (or a page take that long) before another owner may take it.
 */
export function leaseRenewalDue(input: { now: number; renewedAt: number; ttlMs: number }): boolean {
  return input.now - input.renewedAt >= input.ttlMs / 3;
}

/** The least time a further page must still have before the deadline (the budget rule). */
export const MIN_PAGE_BUDGET_MS = 5_000;

/**
 * Stop after this page (with a checkpoint) unless a whole further page still fits comfortably
 * before the deadline: three times the slowest page so far, and at least `MIN_PAGE_BUDGET_MS`.
 */
export function stopForBudget(input: {
  now: number;
  deadline: number | undefined;
  slowestPageMs: number;
}): boolean {
  if (input.deadline === undefined) return false;
  return input.deadline - input.now < Math.max(MIN_PAGE_BUDGET_MS, 3 * input.slowestPageMs);
}

export type ScanGateStep = 'go' | 'skip' | 'wait' | 'budget';

/**
 * What the scan gate does next, before the first page: go when no registry scan is ongoing or the
 * policy is `proceed`; `skip` the run; `wait` one more poll; or stop at the `budget` when the next
 * poll would pass the deadline.
 */
export function scanGateStep(input: {
  policy: ScanOngoingPolicy;
  ongoing: boolean;
  now: number;
  pollMs: number;
  deadline: number | undefined;
}): ScanGateStep {
  if (!input.ongoing || input.policy === 'proceed') return 'go';
  if (input.policy === 'skip') return 'skip';
  if (input.deadline !== undefined && input.now + input.pollMs > input.deadline) return 'budget';
  return 'wait';
}

/**
 * Why a complete pass must not sweep, or undefined when it may: a quarantined report whose image
 * cannot be told for sure may be any stored image, so no image the pass did not see is proven gone.
 */
export function sweepSkippedReason(unidentified: number): string | undefined {
  if (unidentified <= 0) return undefined;
  return (
    `removal sweep skipped: ${unidentified} quarantined report(s) name no image for sure, ` +
    'so no image can be proven gone (fix or delete them in the console; the next clean run sweeps)'
  );
}
