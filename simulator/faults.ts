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
import { htmlPage, json, type Reply, tooManyRequests } from './routes.js';

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

const KINDS = '429 5xx-html reset truncate slow malformed-json schema-drift token-expiry empty-200 html-200';
export const FAULT_KINDS = KINDS.split(' ') as readonly FaultKind[];

export interface FaultPlan {
  scripted?: Array<{ at: number | { request: number }; fault: Fault }>;
  random?: { probability: number; seed: number; faults: FaultKind[] };
}

/** A short label for the request log, e.g. `5xx-html:503` or `slow:2000`. */
export function faultLabel(fault: Fault): string {
  const k = fault.kind;
  const detail =
    k === '5xx-html'
      ? (fault.status ?? 502)
      : k === 'slow'
        ? (fault.ms ?? 2000)
        : k === 'schema-drift'
          ? (fault.drift ?? 'vulnerabilities-string')
          : k === 'truncate'
            ? (fault.fraction ?? 0.5)
            : undefined;
  return detail === undefined ? k : `${k}:${detail}`;
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
  private readonly pending: Array<{ at: number | { request: number }; fault: Fault }>;

  constructor(private readonly plan: FaultPlan = {}) {
    this.pending = [...(plan.scripted ?? [])];
  }

  /** The fault for this request. `registryGet` is the 1-based /registry GET count, or undefined for other requests. */
  next({ request, registryGet }: { request: number; registryGet: number | undefined }): Fault | undefined {
    const index = this.pending.findIndex(({ at }) =>
      typeof at === 'number' ? at === registryGet : at.request === request,
    );
    if (index >= 0) return this.pending.splice(index, 1)[0]!.fault;
    const random = this.plan.random;
    if (random === undefined || registryGet === undefined || random.faults.length === 0) return undefined;
    const rng = rngFor(random.seed, 'fault', registryGet);
    if (!(rng.float() < random.probability)) return undefined;
    const kind = rng.pick(random.faults);
    return kind === 'slow' ? { kind, ms: 300 } : ({ kind } as Fault);
  }
}

const HTML_200 =
  '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Prisma Cloud | Login</title></head>\n<body><div id="root">Please sign in to continue.</div><script src="/static/app.js"></script></body></html>\n';

const REASONS: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** What a fault does to the response: another reply, a reset socket, or a body cut short. */
export type FaultOutcome = Reply | 'reset' | { truncateAt: number; reply: Reply };

/**
 * The response a fault turns `reply` (the identity-encoded answer) into. `expireTokens`
 * invalidates every issued token.
 */
export function applyFault(
  fault: Fault,
  reply: Reply,
  settings: { retryAfter: 'seconds' | 'date' | false; expireTokens(): void },
): FaultOutcome {
  const plain = (status: number, contentType: string, body: string): Reply => ({
    status,
    headers: { 'Content-Type': contentType },
    body,
    compressible: false,
  });
  switch (fault.kind) {
    case '429':
      return tooManyRequests(fault.retryAfter ?? settings.retryAfter, (fault.retryAfterSeconds ?? 1) * 1000);
    case '5xx-html': {
      const status = fault.status ?? 502;
      return htmlPage(status, REASONS[status] ?? 'Error');
    }
    case 'reset':
      return 'reset';
    case 'empty-200':
      return plain(200, 'application/json', '');
    case 'html-200':
      return plain(200, 'text/html; charset=utf-8', HTML_200);
    case 'token-expiry':
      settings.expireTokens();
      return json(401, { err: 'token expired' });
    case 'malformed-json':
      // Valid up to the last character, then a dangling comma: a JSON parser must fail.
      return { ...reply, status: 200, body: `${reply.body.slice(0, -1)},${reply.body.slice(-1)}` };
    case 'schema-drift':
      return {
        ...json(200, drifted(JSON.parse(reply.body), fault.drift ?? 'vulnerabilities-string')),
        headers: reply.headers,
      };
    case 'truncate': {
      const length = Buffer.byteLength(reply.body);
      const fraction = Math.min(Math.max(fault.fraction ?? 0.5, 0), 0.99);
      return { truncateAt: Math.floor(length * fraction), reply: { ...reply, compressible: false } };
    }
    case 'slow':
      return reply;
  }
}

/** The body with its first report's type wrong or its `_id` missing (a report made up when there is none). */
function drifted(value: unknown, drift: 'vulnerabilities-string' | 'repoTag-number' | 'missing-id'): unknown {
  if (Array.isArray(value) && value.length === 0) return drift === 'missing-id' ? [{}] : [{ repoTag: 5 }];
  const target: unknown = Array.isArray(value) ? value[0] : value;
  if (target === null || typeof target !== 'object') return value;
  const report = target as { vulnerabilities?: unknown; repoTag?: unknown; _id?: unknown };
  if (drift === 'vulnerabilities-string') report.vulnerabilities = 'x';
  else if (drift === 'repoTag-number') report.repoTag = 5;
  else delete report._id;
  return value;
}
