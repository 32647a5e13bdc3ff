/**
 * The console's rate limit: a sliding window of `requests` per `windowMs` over every API request
 * of the console (authenticate, /registry and /registry/progress alike).
 *
 * Only admitted requests occupy a slot: a 429 does not extend the window, so a client that waits
 * the advertised `Retry-After` always gets in. The clock is injected (tests and the server pass a
 * monotonic `performance.now`).
 */
export interface RateLimitSettings {
  requests: number;
  windowMs: number;
}

export type RateDecision = { admitted: true } | { admitted: false; retryAfterMs: number };

/**
 * @example
 * const limiter = new SlidingWindowLimiter({ requests: 30, windowMs: 30_000 });
 * limiter.admit(performance.now()); // { admitted: true } for the first 30 requests in any 30 s
 */
export class SlidingWindowLimiter {
  /** Admission times of the last `requests` admitted requests, oldest first (a ring buffer). */
  private readonly times: number[];
  private head = 0;
  private count = 0;

  constructor(private readonly settings: RateLimitSettings) {
    this.times = new Array<number>(Math.max(1, settings.requests)).fill(0);
  }

  /** Admits the request at time `now` (ms) or says how long until a slot frees. */
  admit(now: number): RateDecision {
    const { requests, windowMs } = this.settings;
    if (this.count < requests) {
      this.times[(this.head + this.count) % this.times.length] = now;
      this.count++;
      return { admitted: true };
    }
    const oldest = this.times[this.head]!;
    // A slot frees when the oldest admitted request leaves the window: at oldest + windowMs.
    if (now - oldest >= windowMs) {
      this.times[this.head] = now;
      this.head = (this.head + 1) % this.times.length;
      return { admitted: true };
    }
    return { admitted: false, retryAfterMs: oldest + windowMs - now };
  }
}
