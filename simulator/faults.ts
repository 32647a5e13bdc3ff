/**
 * Fault injection, scripted or drawn with a seeded probability. `at: n` is the n-th `/registry` GET
 * (retries, 401s and 429s count too), `{ request: n }` the n-th API request (the log's `seq`).
 * Kinds and defaults: simulator/README.md "Faults".
 */
import data from './data.json' with { type: 'json' };
import { rngFor } from './prng.js';
import { htmlPage, json, type Reply, tooManyRequests } from './routes.js';

type Drift = 'vulnerabilities-string' | 'repoTag-number' | 'missing-id';
export type Fault =
  | { kind: '429'; retryAfter?: 'seconds' | 'date' | false; retryAfterSeconds?: number }
  | { kind: '5xx-html'; status?: 500 | 502 | 503 | 504 }
  | { kind: 'truncate'; fraction?: number }
  | { kind: 'slow'; ms?: number }
  | { kind: 'schema-drift'; drift?: Drift }
  | { kind: 'reset' | 'malformed-json' | 'token-expiry' | 'empty-200' | 'html-200' };

export type FaultKind = Fault['kind'];

const KINDS = '429 5xx-html reset truncate slow malformed-json schema-drift token-expiry empty-200 html-200';
export const FAULT_KINDS = KINDS.split(' ') as readonly FaultKind[];

export interface FaultPlan {
  scripted?: Array<{ at: number | { request: number }; fault: Fault }>;
  random?: { probability: number; seed: number; faults: FaultKind[] };
}

/** The detail a fault's label shows, with its default: the log reads e.g. `5xx-html:502`, `slow:2000`. */
const DETAIL: Partial<Record<FaultKind, [string, number | string]>> = {
  '5xx-html': ['status', 502],
  slow: ['ms', 2000],
  'schema-drift': ['drift', 'vulnerabilities-string'],
  truncate: ['fraction', 0.5],
};

/** The fault with its defaults filled in. */
function withDefaults(fault: Fault): Fault {
  const detail = DETAIL[fault.kind];
  return detail === undefined ? fault : ({ [detail[0]]: detail[1], ...fault } as Fault);
}

export function faultLabel(fault: Fault): string {
  const field = DETAIL[fault.kind]?.[0];
  return field === undefined ? fault.kind : `${fault.kind}:${(fault as Record<string, unknown>)[field]}`;
}

/** Decides, per request, which fault (if any) to inject; each scripted one fires once. */
export class FaultInjector {
  private readonly pending: Array<{ at: number | { request: number }; fault: Fault }>;

  constructor(private readonly plan: FaultPlan = {}) {
    this.pending = [...(plan.scripted ?? [])];
  }

  /** `registryGet`: the /registry GET count, undefined for other requests (random faults skip them). */
  next({ request, registryGet }: { request: number; registryGet: number | undefined }): Fault | undefined {
    const index = this.pending.findIndex(({ at }) =>
      typeof at === 'number' ? at === registryGet : at.request === request,
    );
    if (index >= 0) return withDefaults(this.pending.splice(index, 1)[0]!.fault);
    const random = this.plan.random;
    if (random === undefined || registryGet === undefined || random.faults.length === 0) return undefined;
    const rng = rngFor(random.seed, 'fault', registryGet);
    if (!(rng.float() < random.probability)) return undefined;
    const kind = rng.pick(random.faults);
    return withDefaults(kind === 'slow' ? { kind, ms: 300 } : ({ kind } as Fault));
  }
}

/** What a fault does to the response: another reply, a reset socket, or a body cut short. */
export type FaultOutcome = Reply | 'reset' | { truncateAt: number; reply: Reply };

/** The response a fault (defaults filled in) turns `reply`, the identity-encoded answer, into. */
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
    case '5xx-html':
      return htmlPage(fault.status!, data.proxyReasons[`${fault.status!}`]);
    case 'reset':
      return 'reset';
    case 'empty-200':
      return plain(200, 'application/json', '');
    case 'html-200':
      return plain(200, 'text/html; charset=utf-8', data.loginPage);
    case 'token-expiry':
      settings.expireTokens();
      return json(401, { err: 'token expired' });
    case 'malformed-json':
      // Valid up to the last character, then a dangling comma: a JSON parser must fail.
      return { ...reply, status: 200, body: `${reply.body.slice(0, -1)},${reply.body.slice(-1)}` };
    case 'schema-drift':
      return {
        ...json(200, drifted(JSON.parse(reply.body), fault.drift!)),
        headers: reply.headers,
      };
    case 'truncate': {
      const length = Buffer.byteLength(reply.body);
      const fraction = Math.min(Math.max(fault.fraction!, 0), 0.99);
      return { truncateAt: Math.floor(length * fraction), reply: { ...reply, compressible: false } };
    }
    case 'slow':
      return reply;
  }
}

/** The body with its first report's type wrong or its `_id` missing (made up when there is none). */
function drifted(value: unknown, drift: Drift): unknown {
  if (Array.isArray(value) && value.length === 0) return drift === 'missing-id' ? [{}] : [{ repoTag: 5 }];
  const target: unknown = Array.isArray(value) ? value[0] : value;
  if (target === null || typeof target !== 'object') return value;
  const report = target as { vulnerabilities?: unknown; repoTag?: unknown; _id?: unknown };
  if (drift === 'vulnerabilities-string') report.vulnerabilities = 'x';
  else if (drift === 'repoTag-number') report.repoTag = 5;
  else delete report._id;
  return value;
}
