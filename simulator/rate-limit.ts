/**
 * The console's sliding window over every API request. Only admitted requests occupy a slot: a 429
 * does not extend the window, so a client that waits the advertised `Retry-After` always gets in.
 */
export type RateLimitSettings = { requests: number; windowMs: number };

export type RateDecision = { admitted: true } | { admitted: false; retryAfterMs: number };

export class SlidingWindowLimiter {
  /** A ring buffer of the last `requests` admission times. */
  private readonly times: number[];
  private head = 0;
  private count = 0;

  constructor(private readonly settings: RateLimitSettings) {
    this.times = new Array<number>(Math.max(1, settings.requests)).fill(0);
  }

  admit(now: number): RateDecision {
    const { requests, windowMs } = this.settings;
    if (this.count < requests) {
      this.times[(this.head + this.count) % this.times.length] = now;
      this.count++;
      return { admitted: true };
    }
    const oldest = this.times[this.head]!;
    if (now - oldest >= windowMs) {
      this.times[this.head] = now;
      this.head = (this.head + 1) % this.times.length;
      return { admitted: true };
    }
    return { admitted: false, retryAfterMs: oldest + windowMs - now };
  }
}
