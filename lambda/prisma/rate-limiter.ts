/**
 * The client-side pacing layer: a sliding window of at most `requests` sends per `windowMs`, in
 * front of every request to the console (authenticate, /registry, /registry/progress).
 *
 * The console counts requests when they arrive; the client can only count when it sends. A
 * request arrives a little after it is sent, so the client keeps every pair of requests that are
 * `requests` apart at least `windowMs + marginMs` apart, and stamps each slot at the moment undici
 * writes the request to the socket (`markSent`), not when the slot was granted: a request that
 * waited for a connection or a TLS handshake is counted from when it really left. With the
 * margin covering the transit-time jitter between two requests, a console that counts on
 * arrival never sees more than `requests` in any window, so a normal run draws no 429.
 *
 * A 429 (ours or another client's load on the same console) pauses every send until the advised
 * time (`backOff`). Grants are first-come first-served: one queue for all callers.
 */
import { SyncError } from '../common/errors.js';
import type { Clock } from './clock.js';

export interface RateLimitSettings {
  /** Requests allowed per window. Default 30. */
  requests: number;
  /** Window length in ms. Default 30,000. */
  windowMs: number;
  /**
   * Extra spacing between requests `requests` apart, for transit-time jitter. Default 1% of the
   * window, at least 50 ms and at most 1,000 ms (300 ms for the console's 30 s window).
   */
  marginMs?: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimitSettings> = { requests: 30, windowMs: 30_000 };

/** A granted send. Call `markSent` when the request is written (undici's `onRequestStart`). */
export interface RateSlot {
  /** Moves the slot's time to `at` (epoch ms) when that is later than the grant. */
  markSent(at: number): void;
}

export interface RateLimiterOptions extends RateLimitSettings {
  clock: Clock;
  /** Epoch ms the run must stop by; a wait past it throws `client.deadline` instead of sleeping. */
  deadline?: () => number | undefined;
}

/** The default margin for a window: 1% of it, clamped to [50, 1000] ms. */
export function defaultMarginMs(windowMs: number): number {
  return Math.min(1000, Math.max(50, Math.round(windowMs / 100)));
}

/**
 * @example
 * const limiter = new SlidingWindowRateLimiter({ requests: 30, windowMs: 30_000, clock: systemClock });
 * const slot = await limiter.acquire();
 * // ... dispatch; in undici's onRequestStart:
 * slot.markSent(Date.now());
 */
export class SlidingWindowRateLimiter {
  readonly requests: number;
  readonly windowMs: number;
  readonly marginMs: number;
  private readonly clock: Clock;
  private readonly deadline: () => number | undefined;
  /** Times of recent sends (those that can still count against the window), in grant order. */
  private slots: Array<{ at: number }> = [];
  private pausedUntil = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!Number.isInteger(options.requests) || options.requests < 1) {
      throw new SyncError(
        'client.options',
        `rate limit requests must be a positive integer, got ${options.requests}`,
      );
    }
    if (!(options.windowMs >= 0)) {
      throw new SyncError('client.options', `rate limit window must be >= 0 ms, got ${options.windowMs}`);
    }
    this.requests = options.requests;
    this.windowMs = options.windowMs;
    this.marginMs = options.marginMs ?? defaultMarginMs(options.windowMs);
    this.clock = options.clock;
    this.deadline = options.deadline ?? (() => undefined);
  }

  /**
   * The earliest time (epoch ms) a new request may be sent, given the sends so far. Pure with
   * respect to the clock: it only reads the recorded slots.
   */
  earliestSend(now: number): number {
    const span = this.windowMs + this.marginMs;
    // Slots older than a span can never block again: drop them (keeps the list at ~`requests`).
    this.slots = this.slots.filter((slot) => slot.at > now - span);
    let earliest = Math.max(now, this.pausedUntil);
    if (this.slots.length >= this.requests) {
      // The new send must be a full span after the `requests`-th most recent one.
      const times = this.slots.map((slot) => slot.at).sort((a, b) => b - a);
      earliest = Math.max(earliest, times[this.requests - 1]! + span);
    }
    return earliest;
  }

  /**
   * Waits for a free slot (first come, first served) and takes it.
   *
   * @throws SyncError `client.deadline` when the wait would end after the deadline.
   */
  acquire(signal?: AbortSignal): Promise<RateSlot> {
    const grant = this.queue.then(() => this.takeSlot(signal));
    // The queue moves on whether this grant succeeds or not.
    this.queue = grant.catch(() => undefined);
    return grant;
  }

  /** Pauses every send until `until` (epoch ms): the console said 429. */
  backOff(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  private async takeSlot(signal?: AbortSignal): Promise<RateSlot> {
    for (;;) {
      const now = this.clock.now();
      const at = this.earliestSend(now);
      if (at <= now) {
        const slot = { at: now };
        this.slots.push(slot);
        return {
          markSent: (sentAt: number) => {
            if (sentAt > slot.at) slot.at = sentAt;
          },
        };
      }
      const deadline = this.deadline();
      if (deadline !== undefined && at > deadline) {
        throw new SyncError(
          'client.deadline',
          `the console's rate limit allows the next request in ${at - now} ms, after the run's deadline`,
          { waitMs: at - now, deadline },
        );
      }
      await this.clock.sleep(at - now, signal);
    }
  }
}
