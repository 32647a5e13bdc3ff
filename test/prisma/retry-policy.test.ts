import { describe, expect, it } from 'vitest';
import {
  computeRetryDelay,
  parseRetryAfter,
  RETRYABLE_ERROR_CODES,
} from '../../lambda/prisma/retry-policy.js';

const base = { now: Date.parse('2025-01-01T00:00:00Z'), random: () => 0.5, base: 500, max: 30_000 };

describe('parseRetryAfter', () => {
  it('reads delay-seconds, including a fractional value some proxies send', () => {
    expect(parseRetryAfter('7', 0)).toBe(7000);
    expect(parseRetryAfter(' 0 ', 0)).toBe(0);
    expect(parseRetryAfter('1.5', 0)).toBe(1500);
  });

  it('reads an HTTP date relative to now, and a past date as no wait', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:27:58 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(2000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });

  it('gives undefined for a missing, empty, negative or unreadable value', () => {
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter('', 0)).toBeUndefined();
    expect(parseRetryAfter('-3', 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('computeRetryDelay', () => {
  it('honours Retry-After on a 429, in seconds or as a date', () => {
    expect(computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter: '3' })).toEqual({
      retry: true,
      delayMs: 3000,
      reason: 'HTTP 429, Retry-After 3000 ms',
    });
    const date = new Date(base.now + 4000).toUTCString();
    expect(computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter: date }).delayMs).toBe(4000);
  });

  it('backs off exponentially with jitter on a 429 without Retry-After', () => {
    const first = computeRetryDelay({ ...base, attempt: 1, status: 429, retryAfter: null });
    const third = computeRetryDelay({ ...base, attempt: 3, status: 429 });
    expect(first).toEqual({ retry: true, delayMs: 250, reason: 'HTTP 429, backoff' });
    expect(third.delayMs).toBe(1000);
  });

  it('retries the 5xx a proxy answers and a 408, and honours a 503 Retry-After', () => {
    for (const status of [500, 502, 503, 504, 408]) {
      expect(computeRetryDelay({ ...base, attempt: 1, status }).retry).toBe(true);
    }
    expect(computeRetryDelay({ ...base, attempt: 1, status: 503, retryAfter: '2' }).delayMs).toBe(2000);
  });

  it('does not retry 4xx answers other than 408 and 429, nor 501', () => {
    for (const status of [400, 401, 403, 404, 422, 501]) {
      expect(computeRetryDelay({ ...base, attempt: 1, status })).toEqual({
        retry: false,
        delayMs: 0,
        reason: `HTTP ${status} is not retryable`,
      });
    }
  });

  it('retries socket errors, timeouts and invalid bodies, but not TLS or unknown errors', () => {
    for (const code of [
      'ECONNRESET',
      'UND_ERR_SOCKET',
      'UND_ERR_HEADERS_TIMEOUT',
      'client.invalidResponse',
    ]) {
      expect(RETRYABLE_ERROR_CODES.has(code)).toBe(true);
      expect(computeRetryDelay({ ...base, attempt: 2, errorCode: code })).toEqual({
        retry: true,
        delayMs: 500,
        reason: `${code}, backoff`,
      });
    }
    expect(computeRetryDelay({ ...base, attempt: 1, errorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }).retry).toBe(
      false,
    );
    expect(computeRetryDelay({ ...base, attempt: 1 }).reason).toBe('unknown error is not retryable');
  });
});
