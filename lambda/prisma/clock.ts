import { SyncError } from '../common/errors.js';

/** Time as the client sees it: injectable so limiter and retry tests run without real waits. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The longest delay `setTimeout` honours; a longer one fires after 1 ms with a TimeoutOverflowWarning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The real clock: `Date.now` and an abortable `setTimeout`. A wait longer than a timer can hold is
 * slept in steps (never an overflowed timer), though the client never asks for one that long: it
 * caps `Retry-After` (retry-policy.ts) and every wait ends by the run's deadline.
 *
 * @example
 * await systemClock.sleep(100);
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const end = Date.now() + Math.max(0, Number.isFinite(ms) ? ms : MAX_TIMER_MS);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const arm = () => {
        const left = end - Date.now();
        if (left <= 0) {
          signal?.removeEventListener('abort', onAbort);
          resolve();
          return;
        }
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(arm, Math.min(Math.max(0, end - Date.now()), MAX_TIMER_MS));
    }),
};

/** The error an aborted wait or request rejects with. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SyncError('client.aborted', 'the request was aborted');
}
