import { SyncError } from '../common/errors.js';

/** Time as the client sees it: injectable so limiter and retry tests run without real waits. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The real clock: `Date.now` and an abortable `setTimeout`.
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
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** The error an aborted wait or request rejects with. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SyncError('client.aborted', 'the request was aborted');
}
