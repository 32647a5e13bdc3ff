/** Helpers for the client tests: a client wired to a simulator with short waits, and log capture. */

import type { Server } from 'node:http';
import type { Logger } from '../../lambda/common/logger.js';
import type { Clock } from '../../lambda/prisma/clock.js';
import { ConsoleClient, type ConsoleClientOptions } from '../../lambda/prisma/index.js';
import type { RunningSimulator } from '../../simulator/index.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** A logger that keeps every line, to assert on warnings and on what never appears. */
export function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: LogLine['level']) => (message: string, data?: Record<string, unknown>) => {
    lines.push({ level, message, ...(data === undefined ? {} : { data }) });
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * The real clock warped forward over every sleep: a sleep is recorded and really lasts at most
 * `capMs`, and `now()` then reads as if the whole wait had passed. A test proves the client
 * waited 2,000 ms for a Retry-After without spending 2 s.
 */
export function recordingClock(capMs = 5): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  let warp = 0;
  return {
    sleeps,
    now: () => Date.now() + warp,
    sleep: (ms) => {
      sleeps.push(ms);
      const real = Math.min(Math.max(0, ms), capMs);
      warp += Math.max(0, ms) - real;
      return new Promise((resolve) => setTimeout(resolve, real));
    },
  };
}

/** A client for `sim` with demo credentials, a generous rate limit and millisecond backoffs. */
export function clientFor(
  sim: RunningSimulator,
  overrides: Partial<ConsoleClientOptions> = {},
): ConsoleClient & { log: LogLine[] } {
  const logger = capturingLogger();
  const client = new ConsoleClient({
    baseUrl: sim.url,
    credentials: { username: 'demo', password: 'demo' },
    rateLimit: { requests: 10_000, windowMs: 1000 },
    retry: { maxAttempts: 8, baseDelayMs: 2, maxDelayMs: 20 },
    logger,
    ...overrides,
  });
  return Object.assign(client, { log: logger.lines });
}

/** The image key the simulator uses, from a raw report. */
export function keyOf(report: {
  repoTag?: { registry?: string | null; repo?: string | null; tag?: string | null } | null;
}): string {
  return `${report.repoTag?.registry ?? ''}/${report.repoTag?.repo ?? ''}:${report.repoTag?.tag ?? ''}`;
}

/** /registry GETs in the simulator's request log. */
export function registryGets(sim: RunningSimulator) {
  return sim.requestLog.filter((entry) => entry.method === 'GET' && /\/registry$/.test(entry.path));
}

/** Closes a test's console client, then its HTTP server with any connection still open. */
export async function closeClientAndServer(client?: ConsoleClient, server?: Server): Promise<void> {
  await client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
}
