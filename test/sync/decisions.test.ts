import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../lambda/store/index.js';
import {
  DAY_MS,
  leaseRenewalDue,
  MAX_IDENTICAL_FAILURES,
  nextFailure,
  resumeDecision,
  scanGateStep,
  stopForBudget,
  sweepSkippedReason,
} from '../../lambda/sync/decisions.js';

const START = Date.parse('2026-12-01T00:00:00.000Z');

function checkpoint(startedAt = new Date(START).toISOString()): Checkpoint {
  return {
    runId: 'r1',
    pageIndex: 3,
    pagerState: { offset: 200 },
    figures: {},
    startedAt,
    updatedAt: startedAt,
  };
}

describe('resumeDecision', () => {
  it('starts a new run when there is no checkpoint', () => {
    expect(resumeDecision({ checkpoint: undefined, fresh: false, now: START, maxAgeMs: DAY_MS })).toEqual({
      kind: 'new',
    });
  });

  it('resumes a checkpoint up to exactly the maximum age of its run', () => {
    const cp = checkpoint();
    for (const now of [START, START + DAY_MS - 1, START + DAY_MS]) {
      expect(resumeDecision({ checkpoint: cp, fresh: false, now, maxAgeMs: DAY_MS })).toEqual({
        kind: 'resume',
        checkpoint: cp,
      });
    }
  });

  it('abandons a checkpoint whose run started more than 24 hours ago', () => {
    const decision = resumeDecision({
      checkpoint: checkpoint(),
      fresh: false,
      now: START + DAY_MS + 1,
      maxAgeMs: DAY_MS,
    });
    expect(decision).toMatchObject({
      kind: 'discard',
      reason: 'abandoned: checkpoint older than the maximum age',
    });
  });

  it('measures the age from the run start, not from the last page', () => {
    const cp = { ...checkpoint(), updatedAt: new Date(START + DAY_MS).toISOString() };
    expect(
      resumeDecision({ checkpoint: cp, fresh: false, now: START + DAY_MS + 60_000, maxAgeMs: DAY_MS }).kind,
    ).toBe('discard');
  });

  it('abandons a checkpoint whose start time cannot be read', () => {
    expect(
      resumeDecision({ checkpoint: checkpoint('not a time'), fresh: false, now: START, maxAgeMs: DAY_MS })
        .kind,
    ).toBe('discard');
  });

  it('supersedes any checkpoint with --fresh', () => {
    expect(
      resumeDecision({ checkpoint: checkpoint(), fresh: true, now: START, maxAgeMs: DAY_MS }),
    ).toMatchObject({
      kind: 'discard',
      reason: 'superseded by a fresh run (option fresh)',
    });
  });

  it('keeps resuming after fewer identical failures than the limit, and starts over at the limit', () => {
    const cp = checkpoint();
    const failure = (count: number) => ({ code: 'client.schema', pageIndex: 4, count });
    expect(
      resumeDecision({
        checkpoint: cp,
        fresh: false,
        now: START,
        maxAgeMs: DAY_MS,
        failure: failure(MAX_IDENTICAL_FAILURES - 1),
      }).kind,
    ).toBe('resume');
    const decision = resumeDecision({
      checkpoint: cp,
      fresh: false,
      now: START,
      maxAgeMs: DAY_MS,
      failure: failure(MAX_IDENTICAL_FAILURES),
    });
    expect(decision.kind).toBe('discard');
    expect(decision.kind === 'discard' && decision.reason).toContain(
      'page 4 failed 3 times in a row (client.schema)',
    );
  });
});

describe('nextFailure', () => {
  it('counts the same code at the same page on, and starts again at 1 otherwise', () => {
    const first = nextFailure(undefined, { code: 'client.schema', pageIndex: 4 });
    expect(first).toEqual({ code: 'client.schema', pageIndex: 4, count: 1 });
    const second = nextFailure(first, { code: 'client.schema', pageIndex: 4 });
    expect(second.count).toBe(2);
    expect(nextFailure(second, { code: 'client.schema', pageIndex: 5 }).count).toBe(1);
    expect(nextFailure(second, { code: 'store.commitFailed', pageIndex: 4 }).count).toBe(1);
  });
});

describe('leaseRenewalDue', () => {
  it('renews once a third of the time-to-live has passed since the last renewal', () => {
    expect(leaseRenewalDue({ now: 39_999, renewedAt: 0, ttlMs: 120_000 })).toBe(false);
    expect(leaseRenewalDue({ now: 40_000, renewedAt: 0, ttlMs: 120_000 })).toBe(true);
    expect(leaseRenewalDue({ now: 1_000_000, renewedAt: 0, ttlMs: 120_000 })).toBe(true);
  });
});

describe('stopForBudget', () => {
  it('never stops without a deadline', () => {
    expect(stopForBudget({ now: 0, deadline: undefined, slowestPageMs: 1e9 })).toBe(false);
  });

  it('stops unless three slowest pages, and at least 5 s, still fit before the deadline', () => {
    expect(stopForBudget({ now: 0, deadline: 4_999, slowestPageMs: 10 })).toBe(true);
    expect(stopForBudget({ now: 0, deadline: 5_000, slowestPageMs: 10 })).toBe(false);
    expect(stopForBudget({ now: 0, deadline: 29_999, slowestPageMs: 10_000 })).toBe(true);
    expect(stopForBudget({ now: 0, deadline: 30_000, slowestPageMs: 10_000 })).toBe(false);
  });
});

describe('scanGateStep', () => {
  const base = { now: 0, pollMs: 1_000, deadline: undefined };
  it('goes when no scan is ongoing, whatever the policy', () => {
    for (const policy of ['wait', 'skip', 'proceed'] as const) {
      expect(scanGateStep({ ...base, policy, ongoing: false })).toBe('go');
    }
  });

  it('goes with proceed, skips with skip and waits with wait while a scan is ongoing', () => {
    expect(scanGateStep({ ...base, policy: 'proceed', ongoing: true })).toBe('go');
    expect(scanGateStep({ ...base, policy: 'skip', ongoing: true })).toBe('skip');
    expect(scanGateStep({ ...base, policy: 'wait', ongoing: true })).toBe('wait');
  });

  it('stops at the budget when the next poll would pass the deadline', () => {
    expect(scanGateStep({ ...base, policy: 'wait', ongoing: true, deadline: 1_000 })).toBe('wait');
    expect(scanGateStep({ ...base, policy: 'wait', ongoing: true, deadline: 999 })).toBe('budget');
  });
});

describe('sweepSkippedReason', () => {
  it('lets a pass sweep only when every quarantined report named its image', () => {
    expect(sweepSkippedReason(0)).toBeUndefined();
    expect(sweepSkippedReason(2)).toMatch(
      /^removal sweep skipped: 2 quarantined report\(s\) name no image for sure/,
    );
  });
});
