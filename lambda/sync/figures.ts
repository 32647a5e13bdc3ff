/**
 * The figures of a run, as pure arithmetic: what this invocation did, what the run did before it
 * (restored from the checkpoint), and their sum. Keeping the two apart lets the handler publish per
 * invocation metrics while the run record keeps the totals.
 */
import type { WriteOutcome } from '../store/index.js';

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
  /** Reports skipped because they could not be read, normalized or stored (SPEC §4.7). */
  quarantined: number;
  /**
   * Of those, reports whose image cannot be told for sure (no readable identity): a stored image
   * may hide behind one, so a run with any does not sweep (nothing can be proven gone).
   */
  unidentified: number;
  bytes: number;
  durationMs: number;
  invocations: number;
  /** Epoch ms of the oldest `scanTime` seen, 0 when none: an image the console stopped rescanning. */
  oldestScanTimeMs: number;
}

/** What one invocation did: the run figures without the per-run ones. */
export type InvocationFigures = Omit<RunFigures, 'invocations' | 'oldestScanTimeMs'>;

/** The console client's own counters the run takes its request figures from. */
export interface ClientCounters {
  requests: number;
  throttled: number;
  retries: number;
  bytes: number;
}

export function emptyFigures(): RunFigures {
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
    quarantined: 0,
    unidentified: 0,
    bytes: 0,
    durationMs: 0,
    invocations: 0,
    oldestScanTimeMs: 0,
  };
}

/** Figures from a checkpoint's; anything missing or not a finite number counts 0. */
export function figuresFrom(saved: Readonly<Record<string, number>> | undefined): RunFigures {
  const figures = emptyFigures();
  if (!saved) return figures;
  for (const key of Object.keys(figures) as Array<keyof RunFigures>) {
    const value = saved[key];
    if (typeof value === 'number' && Number.isFinite(value)) figures[key] = value;
  }
  return figures;
}

/** The older of two scan times in epoch ms, where 0 means none. */
export function olderScanTime(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/**
 * The run's figures after this invocation: the figures before it plus what it did, one more
 * invocation, and the oldest scan time of both.
 */
export function runTotals(
  before: RunFigures,
  invocation: InvocationFigures,
  oldestScanTimeMs: number,
): RunFigures {
  const totals = { ...before };
  for (const key of Object.keys(invocation) as Array<keyof InvocationFigures>) {
    totals[key] = before[key] + invocation[key];
  }
  totals.invocations = before.invocations + 1;
  totals.oldestScanTimeMs = olderScanTime(before.oldestScanTimeMs, oldestScanTimeMs);
  return totals;
}

/** The figures the engine counts itself in one invocation (the client and the clock give the rest). */
export type OwnCounts = Omit<
  RunFigures,
  'requests' | 'throttled' | 'retries' | 'bytes' | 'durationMs' | 'invocations'
>;

export function emptyCounts(): OwnCounts {
  const { requests, throttled, retries, bytes, durationMs, invocations, ...counts } = emptyFigures();
  return counts;
}

/** Counts one write outcome of the store. */
export function countOutcome(counts: OwnCounts, outcome: WriteOutcome): void {
  counts[outcome] += 1;
}

/** Notes a report's scan time (ISO text or undefined) for the oldest-scan figure. */
export function noteScanTime(counts: OwnCounts, scanTime: string | null | undefined): void {
  const t = scanTime ? Date.parse(scanTime) : Number.NaN;
  if (Number.isFinite(t)) counts.oldestScanTimeMs = olderScanTime(counts.oldestScanTimeMs, t);
}

/** What this invocation did, from its own counts, the client's counters since it started and its clock. */
export function invocationFigures(
  own: OwnCounts,
  client: { now: ClientCounters; atStart: ClientCounters },
  durationMs: number,
): InvocationFigures {
  const { oldestScanTimeMs: _oldest, ...counts } = own;
  return {
    ...counts,
    requests: client.now.requests - client.atStart.requests,
    throttled: client.now.throttled - client.atStart.throttled,
    retries: client.now.retries - client.atStart.retries,
    bytes: client.now.bytes - client.atStart.bytes,
    durationMs,
  };
}

/** Epoch ms of a scan time figure as ISO text, null for none. */
export function scanTimeText(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null;
}
