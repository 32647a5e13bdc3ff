/**
 * Fault injection: what can go wrong between a client and a real console, scripted at a given
 * request or drawn with a seeded probability.
 *
 * Counting: `at: n` means the n-th GET of `/registry` the console received (1-based, every one
 * counts: retries, 401s and 429s too). `{ request: n }` means the n-th API request of any kind
 * (the `seq` of the request log). Each scripted fault fires exactly once. Random faults apply to
 * `/registry` GETs only, drawn from `rngFor(random.seed, n)`, so a run is reproducible.
 */
import { rngFor } from './prng.js';

export type Fault =
  /** 429 whatever the rate limiter says; `retryAfter` overrides the console's header style. */
  | { kind: '429'; retryAfter?: 'seconds' | 'date' | false; retryAfterSeconds?: number }
  /** 500/502/503/504 with an HTML body (a proxy's error page). Default 502. */
  | { kind: '5xx-html'; status?: 500 | 502 | 503 | 504 }
  /** The socket is destroyed before any response byte. */
  | { kind: 'reset' }
  /** Headers (with the full Content-Length) and `fraction` of the body, then the socket is destroyed. Default 0.5. */
  | { kind: 'truncate'; fraction?: number }
  /** The first byte is delayed by `ms` (default 2,000), then the normal response follows. */
  | { kind: 'slow'; ms?: number }
  /** 200 with a complete body that is not valid JSON. */
  | { kind: 'malformed-json' }
  /** 200 with valid JSON where one report has a wrong type or lacks `_id`. Default 'vulnerabilities-string'. */
  | { kind: 'schema-drift'; drift?: 'vulnerabilities-string' | 'repoTag-number' | 'missing-id' }
  /** Every issued token becomes invalid; this request gets 401. */
  | { kind: 'token-expiry' }
  /** 200 with an empty body. */
  | { kind: 'empty-200' }
  /** 200 with an HTML page (a login page or a captive portal). */
  | { kind: 'html-200' };

export type FaultKind = Fault['kind'];

export const FAULT_KINDS: readonly FaultKind[] = [
  '429',
  '5xx-html',
  'reset',
  'truncate',
  'slow',
  'malformed-json',
  'schema-drift',
  'token-expiry',
  'empty-200',
  'html-200',
];

export interface FaultPlan {
  scripted?: Array<{ at: number | { request: number }; fault: Fault }>;
  random?: { probability: number; seed: number; faults: FaultKind[] };
}

/** A short label for the request log, e.g. `5xx-html:503` or `slow:2000`. */
export function faultLabel(fault: Fault): string {
  switch (fault.kind) {
    case '5xx-html':
      return `5xx-html:${fault.status ?? 502}`;
    case 'slow':
      return `slow:${fault.ms ?? 2000}`;
    case 'schema-drift':
      return `schema-drift:${fault.drift ?? 'vulnerabilities-string'}`;
    case 'truncate':
      return `truncate:${fault.fraction ?? 0.5}`;
    default:
      return fault.kind;
  }
}

/**
 * Decides, per request, which fault (if any) to inject. Scripted entries are consumed when they fire.
 *
 * @example
 * const faults = new FaultInjector({ scripted: [{ at: 2, fault: { kind: 'reset' } }] });
 * faults.next({ request: 1, registryGet: 1 }); // undefined
 * faults.next({ request: 2, registryGet: 2 }); // { kind: 'reset' }
 */
export class FaultInjector {
  private pending: Array<{ at: number | { request: number }; fault: Fault }>;
  private readonly random: FaultPlan['random'];

  constructor(plan: FaultPlan = {}) {
    this.pending = [...(plan.scripted ?? [])];
    this.random = plan.random;
  }

  /** The fault for this request. `registryGet` is the 1-based /registry GET count, or undefined for other requests. */
  next(position: { request: number; registryGet: number | undefined }): Fault | undefined {
    const index = this.pending.findIndex((entry) =>
      typeof entry.at === 'number'
        ? entry.at === position.registryGet
        : entry.at.request === position.request,
    );
    if (index >= 0) {
      const [entry] = this.pending.splice(index, 1);
      return entry!.fault;
    }
    const random = this.random;
    if (random !== undefined && position.registryGet !== undefined && random.faults.length > 0) {
      const rng = rngFor(random.seed, 'fault', position.registryGet);
      if (rng.float() < random.probability) return defaultFault(rng.pick(random.faults));
    }
    return undefined;
  }
}

function defaultFault(kind: FaultKind): Fault {
  switch (kind) {
    case 'slow':
      return { kind, ms: 300 };
    default:
      return { kind } as Fault;
  }
}
