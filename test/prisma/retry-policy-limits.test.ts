/**
 * The retry policy at its edges: Retry-After forms that look numeric but are not delay-seconds,
 * and the longest wait the client honours (`maxRetryAfter`): exactly the maximum is waited for,
 * anything longer stops the run as a `retryAfterTooLong` decision with its exact wait and reason.
 */
import { describe, expect, it } from 'vitest';
import {
  computeRetryDelay,
  DEFAULT_MAX_RETRY_AFTER_MS,
  parseRetryAfter,
} from '../../lambda/prisma/retry-policy.js';

const base = { now: Date.parse('2025-01-01T00:00:00Z'), random: () => 0.5, base: 500, max: 30_000 };

describe('parseRetryAfter edges', () => {
  it('reads delay-seconds of several digits and several decimals', () => {
    expect(parseRetryAfter('12', 0)).toBe(12_000);
    expect(parseRetryAfter('1.25', 0)).toBe(1250);
    expect(parseRetryAfter('0.0001', 0)).toBe(1);
  });

  it('does not take digits followed by other text for delay-seconds', () => {
    expect(parseRetryAfter('7 seconds', 0)).toBeUndefined();
    expect(parseRetryAfter('7abc', 0)).toBeUndefined();
    expect(parseRetryAfter('   ', 0)).toBeUndefined();
  });
});

describe('the longest Retry-After honoured', () => {
  it('defaults to 2 minutes: exactly 120 s is waited for, 121 s is not', () => {
    expect(DEFAULT_MAX_RETRY_AFTER_MS).toBe(120_000);
    expect(computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter: '120' })).toEqual({
      retry: true,
      delayMs: 120_000,
      reason: 'HTTP 429, Retry-After 120000 ms',
    });
    expect(computeRetryDelay({ ...base, attempt: 1, status: 503, retryAfter: '121' })).toEqual({
      retry: false,
      delayMs: 121_000,
      reason: 'HTTP 503, Retry-After 121000 ms exceeds the 120000 ms maximum',
      retryAfterTooLong: true,
    });
  });

  it('uses the maximum it is given, not the default', () => {
    const at = (retryAfter: string) =>
      computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter, maxRetryAfter: 5000 });
    expect(at('5')).toEqual({ retry: true, delayMs: 5000, reason: 'HTTP 429, Retry-After 5000 ms' });
    expect(at('6')).toEqual({
      retry: false,
      delayMs: 6000,
      reason: 'HTTP 429, Retry-After 6000 ms exceeds the 5000 ms maximum',
      retryAfterTooLong: true,
    });
  });

  it('turns away a wait beyond any date, with a finite delay', () => {
    const decision = computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter: '9'.repeat(400) });
    expect(decision).toEqual({
      retry: false,
      delayMs: Number.MAX_SAFE_INTEGER,
      reason: 'HTTP 429, Retry-After beyond any date exceeds the 120000 ms maximum',
      retryAfterTooLong: true,
    });
  });

  it('turns away a date a day ahead, and waits for one a minute ahead', () => {
    const day = new Date(base.now + 86_400_000).toUTCString();
    const minute = new Date(base.now + 60_000).toUTCString();
    expect(computeRetryDelay({ ...base, attempt: 1, status: 503, retryAfter: day })).toMatchObject({
      retry: false,
      delayMs: 86_400_000,
      retryAfterTooLong: true,
    });
    expect(computeRetryDelay({ ...base, attempt: 1, status: 503, retryAfter: minute })).toEqual({
      retry: true,
      delayMs: 60_000,
      reason: 'HTTP 503, Retry-After 60000 ms',
    });
  });
});
