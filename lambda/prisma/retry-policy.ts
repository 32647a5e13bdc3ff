/**
 * When to retry a console request and how long to wait first. Pure: the caller passes the
 * clock reading and the jitter source, so every decision is reproducible in a unit test.
 *
 * Retries are an allow-list, as in undici's retry handler: 429, 408 and the 5xx a proxy or an
 * overloaded console answers (500, 502, 503, 504), the socket and timeout errors a dropped
 * connection raises, and a 2xx whose body is not the JSON it should be (empty, HTML, truncated,
 * malformed). Anything else (401, other 4xx, TLS failures, schema errors) is not retried: sending
 * the same request again would get the same answer.
 */

import { backoffDelay } from '../common/backoff.js';

/** HTTP statuses worth sending the same idempotent request again for. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Error codes worth a retry: Node socket errors, undici's own codes, and the client's code for a
 * body that is not valid JSON (`client.invalidResponse`).
 */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'client.invalidResponse',
  'client.requestTimeout',
]);

/** Default longest `Retry-After` honoured: 2 minutes (the console's own limit window is 30 s). */
export const DEFAULT_MAX_RETRY_AFTER_MS = 120_000;

/**
 * Milliseconds to wait according to a `Retry-After` header: delay-seconds (`"7"`, also a
 * fractional `"1.5"` some proxies send) or an HTTP date. `undefined` when absent or unreadable;
 * a date in the past gives 0.
 *
 * @example
 * parseRetryAfter('7', Date.now()); // 7000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT')); // 2000
 * parseRetryAfter('soon', Date.now()); // undefined
 * parseRetryAfter('9'.repeat(400), 0); // Infinity (the caller's maximum turns it away)
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // Only a real date, not any string Date.parse happens to accept (`"1"` is a year to it).
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface RetryDecisionInput {
  /** The 1-based number of the attempt that just failed. */
  attempt: number;
  /** The response status, when a response arrived. */
  status?: number;
  /** The error code, when no usable response arrived (`ECONNRESET`, `client.invalidResponse`, ...). */
  errorCode?: string;
  /** The response's `Retry-After` header. */
  retryAfter?: string | null;
  /** Epoch ms now (to read an HTTP-date `Retry-After`). */
  now: number;
  /** Jitter source in [0, 1). */
  random: () => number;
  /** Backoff base delay in ms (lambda/common/backoff.ts). */
  base: number;
  /** Backoff cap in ms (a `Retry-After` is honoured even when longer, up to `maxRetryAfter`). */
  max: number;
  /** Longest `Retry-After` honoured, in ms; a longer one is not waited for. Default 120,000. */
  maxRetryAfter?: number;
}

export interface RetryDecision {
  retry: boolean;
  delayMs: number;
  /** Why, for logs and the final error: `HTTP 503, backoff`, `ECONNRESET, backoff`, `HTTP 429, Retry-After 7000 ms`. */
  reason: string;
  /**
   * Set when the console advised a wait longer than `maxRetryAfter` (`86400`, a date in year
   * 9999): not retried now; the caller stops the run as partial instead of sleeping.
   */
  retryAfterTooLong?: true;
}

/**
 * Whether to retry after a failed attempt, and the wait before it. The attempt budget is the
 * caller's (it knows `maxAttempts`); this only says whether the failure is worth retrying at all.
 *
 * @example
 * computeRetryDelay({ attempt: 1, status: 429, retryAfter: '3', now: Date.now(), random: Math.random, base: 500, max: 30_000 });
 * // { retry: true, delayMs: 3000, reason: 'HTTP 429, Retry-After 3000 ms' }
 * computeRetryDelay({ attempt: 2, errorCode: 'ECONNRESET', now: 0, random: () => 0, base: 500, max: 30_000 });
 * // { retry: true, delayMs: 500, reason: 'ECONNRESET, backoff' }
 * computeRetryDelay({ attempt: 1, status: 404, now: 0, random: () => 0, base: 500, max: 30_000 });
 * // { retry: false, delayMs: 0, reason: 'HTTP 404 is not retryable' }
 */
export function computeRetryDelay(input: RetryDecisionInput): RetryDecision {
  const { attempt, status, errorCode, now, random, base, max } = input;
  if (status !== undefined) {
    if (!RETRYABLE_STATUSES.has(status)) {
      return { retry: false, delayMs: 0, reason: `HTTP ${status} is not retryable` };
    }
    const advised = parseRetryAfter(input.retryAfter, now);
    const maxRetryAfter = input.maxRetryAfter ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (advised !== undefined && advised > maxRetryAfter) {
      return {
        retry: false,
        delayMs: Math.min(advised, Number.MAX_SAFE_INTEGER),
        reason: `HTTP ${status}, Retry-After ${Number.isFinite(advised) ? `${advised} ms` : 'beyond any date'} exceeds the ${maxRetryAfter} ms maximum`,
        retryAfterTooLong: true,
      };
    }
    if (advised !== undefined) {
      return { retry: true, delayMs: advised, reason: `HTTP ${status}, Retry-After ${advised} ms` };
    }
    return {
      retry: true,
      delayMs: backoffDelay(attempt, { baseMs: base, maxMs: max }, random),
      reason: `HTTP ${status}, backoff`,
    };
  }
  if (errorCode !== undefined && RETRYABLE_ERROR_CODES.has(errorCode)) {
    return {
      retry: true,
      delayMs: backoffDelay(attempt, { baseMs: base, maxMs: max }, random),
      reason: `${errorCode}, backoff`,
    };
  }
  return { retry: false, delayMs: 0, reason: `${errorCode ?? 'unknown error'} is not retryable` };
}
