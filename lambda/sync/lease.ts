/**
 * The console's lease as the engine holds it: who the owner is, taking over the lease of a dead
 * local process, and renewing it on time while the run pages.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SyncError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { RunStore } from '../store/index.js';
import { leaseRenewalDue } from './decisions.js';

const LOCAL_OWNER_PREFIX = 'local';

/** A lease owner id that names this host and process, so a later run can tell a dead holder. */
export function localOwnerId(): string {
  return `${LOCAL_OWNER_PREFIX}:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * True only when `holder` is a process of this host that no longer exists (a signal-0 probe: it
 * asks, it sends nothing).
 */
export function holderIsDeadLocalProcess(holder: string): boolean {
  const [prefix, host, pidText] = holder.split(':');
  if (prefix !== LOCAL_OWNER_PREFIX || host !== hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The lease of one run: acquired once, renewed when due, released at the end. Renewal failures
 * propagate (`store.leaseLost`): a run that lost its lease must stop writing.
 *
 * @example
 * const lease = await RunLease.acquire({ runs: stores.runs, owner, ttlMs: 120_000, consoleId, logger, now: Date.now });
 * await lease.renewIfDue();
 * await lease.release();
 */
export class RunLease {
  #renewedAt: number;
  /** The renewal in flight, so the page loop and the keep-alive timer never renew twice at once. */
  #renewing: Promise<boolean> | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** What a background renewal met (a lost lease): thrown at the run's next `check`. */
  #failure: unknown;

  private constructor(
    private readonly deps: {
      runs: RunStore;
      owner: string;
      ttlMs: number;
      logger: Logger;
      now: () => number;
    },
  ) {
    this.#renewedAt = deps.now();
  }

  /**
   * Takes the console's lease, or throws `sync.leaseHeld` naming the holder. The lease of a CLI run
   * on this host that was killed (SIGKILL, power loss) would block re-runs until it expires: it is
   * released first, conditionally on that exact holder, so a live competitor is never dislodged.
   */
  static async acquire(deps: {
    runs: RunStore;
    owner: string;
    ttlMs: number;
    consoleId: string;
    logger: Logger;
    now: () => number;
  }): Promise<RunLease> {
    const { runs, owner, ttlMs, logger } = deps;
    let lease = await runs.acquireLease({ owner, ttlMs });
    if (!lease.acquired && holderIsDeadLocalProcess(lease.holder)) {
      logger.warn('taking over the lease of a dead local process', { holder: lease.holder });
      await runs.releaseLease(lease.holder);
      lease = await runs.acquireLease({ owner, ttlMs });
    }
    if (!lease.acquired) {
      throw new SyncError(
        'sync.leaseHeld',
        `another sync run of console ${deps.consoleId} holds the lease (owner ${lease.holder}) until ${lease.expiresAt}; not starting a second one`,
        { holder: lease.holder, expiresAt: lease.expiresAt },
      );
    }
    return new RunLease(deps);
  }

  get owner(): string {
    return this.deps.owner;
  }

  /** Renews the lease when `leaseRenewalDue` says so; returns whether it renewed. */
  async renewIfDue(): Promise<boolean> {
    this.check();
    if (this.#renewing) return this.#renewing;
    const { now, ttlMs } = this.deps;
    if (!leaseRenewalDue({ now: now(), renewedAt: this.#renewedAt, ttlMs })) return false;
    this.#renewing = this.deps.runs
      .renewLease(this.deps.owner, ttlMs)
      .then(() => {
        this.#renewedAt = now();
        return true;
      })
      .finally(() => {
        this.#renewing = undefined;
      });
    return this.#renewing;
  }

  /**
   * Renews on a timer too, not only between pages: one page may take longer than the lease (a slow
   * console, retries, a Retry-After), and a lease that lapses mid-page lets a second run start.
   * The timer does not keep the process alive and stops at `release`.
   */
  keepAlive(): void {
    if (this.#keepAlive !== undefined) return;
    this.#keepAlive = setInterval(
      () => {
        this.renewIfDue().catch((error: unknown) => {
          this.#failure ??= error;
        });
      },
      Math.max(50, Math.floor(this.deps.ttlMs / 6)),
    );
    this.#keepAlive.unref();
  }

  /** Throws what a background renewal met: a run that lost its lease must stop writing. */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Gives the lease up; a failure is logged, not thrown: the lease then expires by itself. */
  async release(): Promise<void> {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    await this.#renewing?.catch(() => false);
    await this.deps.runs
      .releaseLease(this.deps.owner)
      .catch((cause: unknown) =>
        this.deps.logger.warn('could not release the lease; it expires by itself', { cause: String(cause) }),
      );
  }
}
