/**
 * The console client: every request to a Prisma Cloud Compute console goes through one
 * `ConsoleClient`, which paces it (rate-limiter.ts), authenticates it, retries it by the pure
 * policy in retry-policy.ts and counts it.
 *
 * Request life: limiter slot -> auth header (token fetched or refreshed first when due) -> undici
 * -> status. 2xx: the body must be JSON (else `client.invalidResponse`, retried: a truncated or
 * HTML answer from a proxy is transient). 401 on a token: one re-authentication and one resend.
 * 429: counted as throttled, the limiter pauses for the advised time, resend. 5xx, socket errors
 * and timeouts: backoff, resend. After `maxAttempts` the request fails with `client.pageFailed`
 * (a /registry page, naming its offset) or `client.requestFailed`.
 *
 * Credentials, the token and the Authorization header are never put in a message, a detail or a
 * log line: errors name the request (`GET /registry page offset=100`), never its headers.
 */
import { isUtf8 } from 'node:buffer';
import type { Agent } from 'undici';
import { ConfigError, isSyncError, SyncError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { isLoopbackHost } from '../common/net.js';
import { Redactor, untrustedText } from '../common/redact.js';
import { type Clock, MAX_TIMER_MS, systemClock } from './clock.js';
import { DEFAULT_RATE_LIMIT, SlidingWindowRateLimiter } from './rate-limiter.js';
import { computeRetryDelay, DEFAULT_MAX_RETRY_AFTER_MS, type RetryDecision } from './retry-policy.js';
import {
  createAgent,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TIMEOUTS,
  errorCodeOf,
  type HttpResponse,
  isTlsFailure,
  send,
  type TransportTimeouts,
} from './transport.js';
import { ConsoleUrls, LATEST_API_VERSION, type QueryValue, type RequestTarget } from './url.js';

export interface ConsoleClientOptions {
  /** Console base URL; may carry a path prefix: `https://host/us-1-111111111`. */
  baseUrl: string;
  /** `v34.04` by default (the newest in test/simulator/reference); `v1` selects the legacy `/api/v1` paths. */
  apiVersion?: string;
  credentials: { username: string; password: string };
  /** `token` (default): POST /authenticate, then Bearer. `basic`: `Authorization: Basic` on every request. */
  auth?: 'token' | 'basic';
  /** `caBundle`: extra CA certificates (PEM text). `insecure`: no certificate verification (warned on every creation). */
  tls?: { caBundle?: string | undefined; insecure?: boolean | undefined };
  /** One limiter for every request. Default 30 per 30,000 ms; `marginMs` see rate-limiter.ts. */
  rateLimit?: { requests: number; windowMs: number; marginMs?: number };
  /** Attempts per request (default 8) and the backoff base / cap in ms (default 500 / 30,000). */
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  timeouts?: TransportTimeouts;
  /** Refresh the token this long after it was issued. Default 25 minutes (tokens last 30). */
  tokenRefreshMs?: number;
  /** Epoch ms the run must stop by; a wait past it throws `client.deadline` instead of sleeping. */
  deadline?: () => number | undefined;
  logger?: Logger;
  clock?: Clock;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Largest decoded response body accepted, enforced as bytes arrive; not retried. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Longest `Retry-After` waited for; a longer one stops the run (`client.deadline.retryAfter`). Default 120 s. */
  maxRetryAfterMs?: number;
  /**
   * Allows credentials over plain `http://` to a host that is not loopback.
   * Off by default: the client refuses such a URL; when on, it warns on every creation.
   */
  allowHttp?: boolean;
}

/** What the client did, for the run record and metrics. Counters only grow. */
export interface ClientCounters {
  /** Every HTTP request sent to the console, authentication included. */
  requests: number;
  /** 429 answers received. */
  throttled: number;
  /** Requests sent again after a failed attempt (429, 5xx, network, invalid body, 401 refresh). */
  retries: number;
  /** Response body bytes received on the wire (compressed size when compressed). */
  bytes: number;
  /** Successful token authentications. */
  authentications: number;
}

export interface RequestContext {
  /** How to name the request in errors and logs, e.g. `page offset=100`. */
  what: string;
  /** The /registry offset: an exhausted request then fails with `client.pageFailed` naming it. */
  offset?: number;
  signal?: AbortSignal;
}

export interface JsonResponse {
  body: unknown;
  headers: Record<string, string>;
  status: number;
  /** Size of the decoded body in bytes: what the parsed `body` came from. */
  bytes: number;
}

const DEFAULT_TOKEN_REFRESH_MS = 25 * 60_000;
const EMPTY_BODY = Buffer.alloc(0);

/** A logger whose messages and string data pass through the redactor first. */
function redactingLogger(inner: Logger, redactor: Redactor): Logger {
  return {
    debug: (message, data) => inner.debug(redactor.redact(message), data && redactor.redactValue(data)),
    info: (message, data) => inner.info(redactor.redact(message), data && redactor.redactValue(data)),
    warn: (message, data) => inner.warn(redactor.redact(message), data && redactor.redactValue(data)),
    error: (message, data) => inner.error(redactor.redact(message), data && redactor.redactValue(data)),
  };
}

const stderrLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, data) => {
    process.stderr.write(`${JSON.stringify({ level: 'WARN', message, ...data })}\n`);
  },
  error: (message, data) => {
    process.stderr.write(`${JSON.stringify({ level: 'ERROR', message, ...data })}\n`);
  },
};

/** Why an attempt failed, as the retry loop sees it. */
interface AttemptFailure {
  error: SyncError;
  status?: number;
  errorCode?: string;
  retryAfter?: string | null;
}

/** One request as the retry loop carries it from attempt to attempt. */
interface Exchange {
  method: 'GET' | 'POST';
  target: RequestTarget;
  /** How errors and logs name it: `GET /registry (page offset=100)`. */
  label: string;
  context: RequestContext;
  authenticated: boolean;
  body: string | undefined;
}

/** What one attempt came to: an answer, a token to renew (resend at once), or a failure to decide on. */
type AttemptOutcome =
  | { kind: 'answered'; response: JsonResponse }
  | { kind: 'tokenRejected' }
  | { kind: 'failed'; failure: AttemptFailure };

/**
 * A paced, authenticated, retrying client for one console.
 *
 * @example
 * const client = new ConsoleClient({ baseUrl: sim.url, credentials: { username: 'demo', password: 'demo' } });
 * const { body, headers } = await client.getJson('/registry', { offset: 0, limit: 50 }, { what: 'page offset=0', offset: 0 });
 * client.counters; // { requests: 2, throttled: 0, retries: 0, bytes: ..., authentications: 1 }
 * await client.close();
 */
export class ConsoleClient {
  readonly counters: ClientCounters = { requests: 0, throttled: 0, retries: 0, bytes: 0, authentications: 0 };
  readonly urls: ConsoleUrls;
  private readonly agent: Agent;
  private readonly limiter: SlidingWindowRateLimiter;
  private readonly clock: Clock;
  private readonly random: () => number;
  /** The logger this client reports to (the pager logs drift recoveries through it). */
  readonly logger: Logger;
  private readonly deadline: () => number | undefined;
  private readonly authMode: 'token' | 'basic';
  private readonly credentials: { readonly username: string; readonly password: string };
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly tokenRefreshMs: number;
  private readonly maxBodyBytes: number;
  private readonly maxRetryAfterMs: number;
  private readonly requestTimeoutMs: number;
  /** Every secret this client knows (password, Basic value, issued tokens): scrubbed from its errors and logs. */
  private readonly redactor: Redactor;
  private token: { value: string; issuedAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;
  private closed = false;

  constructor(options: ConsoleClientOptions) {
    this.urls = new ConsoleUrls(options.baseUrl, options.apiVersion ?? LATEST_API_VERSION);
    const { username, password } = options.credentials;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
      throw new SyncError('client.options', 'console credentials need a username and a password');
    }
    // Kept off `this`'s enumerable surface so a logged or inspected client shows no secret.
    this.credentials = Object.freeze({ username, password });
    Object.defineProperty(this, 'credentials', { enumerable: false });
    this.redactor = new Redactor([
      password,
      `${username}:${password}`,
      Buffer.from(`${username}:${password}`).toString('base64'),
    ]);
    Object.defineProperty(this, 'redactor', { enumerable: false });
    this.authMode = options.auth ?? 'token';
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.logger = redactingLogger(options.logger ?? stderrLogger, this.redactor);
    this.deadline = options.deadline ?? (() => undefined);
    this.maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 8);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 500;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 30_000;
    this.tokenRefreshMs = options.tokenRefreshMs ?? DEFAULT_TOKEN_REFRESH_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.requestTimeoutMs = options.timeouts?.totalMs ?? DEFAULT_TIMEOUTS.totalMs;
    this.refuseCleartext(options.allowHttp === true);
    const rate = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.limiter = new SlidingWindowRateLimiter({ ...rate, clock: this.clock, deadline: this.deadline });
    const tls = {
      ...(options.tls?.caBundle === undefined ? {} : { caBundle: options.tls.caBundle }),
      insecure: options.tls?.insecure === true,
    };
    if (tls.insecure) {
      this.logger.warn(
        'TLS certificate verification is OFF (setting insecureTls): the console is not authenticated and the traffic can be intercepted',
        { origin: this.urls.origin, setting: 'insecureTls' },
      );
    }
    this.agent = createAgent({
      tls,
      ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
    });
  }

  /**
   * Refuses to send credentials in clear text over the network: `http://` is fine to loopback (the
   * simulator, a local tunnel), elsewhere only with `allowHttp`, and then loudly.
   */
  private refuseCleartext(allowHttp: boolean): void {
    const url = new URL(this.urls.origin);
    if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return;
    if (!allowHttp) {
      throw new ConfigError(
        `consoleUrl: ${this.urls.origin} is plain http:// to a host that is not loopback: the password and token would cross the network in clear text; use https:// (or allow it with setting allowHttp, accepting the risk)`,
        { setting: 'allowHttp' },
      );
    }
    this.logger.warn(
      'PLAIN HTTP (setting allowHttp): the console password and token are sent UNENCRYPTED and can be read by anyone on the path',
      { origin: this.urls.origin, setting: 'allowHttp' },
    );
  }

  /**
   * Text with every secret this client knows (password, Basic value, issued tokens) replaced by
   * `[REDACTED]`: for callers that print, log or store text that came from the console.
   *
   * @example
   * client.redact(error.message);
   */
  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /**
   * GETs a console endpoint (`/registry`, `/registry/progress`) and parses its JSON body,
   * with pacing, authentication and retries.
   *
   * @throws SyncError `client.auth`, `client.http` (a non-retryable status), `client.tls`,
   *   `client.deadline`, `client.pageFailed` / `client.requestFailed` (attempts exhausted).
   * @example
   * const { body } = await client.getJson('/registry/progress', {}, { what: 'registry scan progress' });
   */
  async getJson(
    path: string,
    query: Record<string, QueryValue>,
    context: RequestContext,
  ): Promise<JsonResponse> {
    try {
      return await this.exchange('GET', path, query, context, true);
    } catch (error) {
      // Console text can echo the request (password, token): nothing leaves the client unscrubbed.
      throw this.redactor.redactError(error);
    }
  }

  /** Closes the connection pool. The client cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }

  private async exchange(
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, QueryValue>,
    context: RequestContext,
    authenticated: boolean,
    body?: string,
  ): Promise<JsonResponse> {
    if (this.closed) throw new SyncError('client.closed', 'the console client is closed');
    const request: Exchange = {
      method,
      target: this.urls.target(path, query),
      label: `${method} ${path} (${context.what})`,
      context,
      authenticated,
      body,
    };
    let refreshedOn401 = false;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(request, attempt, refreshedOn401);
      if (outcome.kind === 'answered') return outcome.response;
      if (outcome.kind === 'tokenRejected') {
        // One fresh token, one resend, no backoff: it does not use up an attempt.
        refreshedOn401 = true;
        attempt--;
        continue;
      }
      await this.retryOrThrow(request, attempt, outcome.failure);
    }
  }

  /** One attempt: headers, send, and what its answer means. */
  private async attempt(
    request: Exchange,
    attempt: number,
    refreshedOn401: boolean,
  ): Promise<AttemptOutcome> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'accept-encoding': 'gzip, deflate',
      'user-agent': 'prisma-registry-sync',
    };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (request.authenticated) headers.authorization = await this.authorization();

    const sent = await this.sendOnce(request, headers, attempt);
    if ('failure' in sent) return { kind: 'failed', failure: sent.failure };
    const { response } = sent;
    const { status } = response;
    if (status === 401) return this.unauthorized(request, headers, refreshedOn401);
    if (status === 429) this.counters.throttled++;
    if (status >= 200 && status < 300) return this.answered(response, request.label);
    return {
      kind: 'failed',
      failure: {
        error: httpError(response, request.label, this.redactor),
        status,
        retryAfter: response.headers['retry-after'] ?? null,
      },
    };
  }

  /**
   * Sends one attempt through the limiter, within its time limit. A network failure comes back
   * as a failure to decide on; an abort, the run's deadline and a TLS failure are thrown.
   */
  private async sendOnce(
    request: Exchange,
    headers: Record<string, string>,
    attempt: number,
  ): Promise<{ response: HttpResponse } | { failure: AttemptFailure }> {
    const { context, label } = request;
    const slot = await this.limiter.acquire(context.signal);
    this.counters.requests++;
    const startedAt = this.clock.now();
    const limit = this.attemptLimit(label, context.signal);
    let response: HttpResponse;
    try {
      response = await send(
        this.agent,
        {
          target: request.target,
          method: request.method,
          headers,
          ...(request.body === undefined ? {} : { body: request.body }),
          signal: limit.signal,
          onSent: () => slot.markSent(this.clock.now()),
        },
        this.maxBodyBytes,
      );
    } catch (error) {
      if (context.signal?.aborted) throw error;
      // The run's deadline came during the request: stop (partial), do not retry.
      if (isSyncError(error, 'client.deadline')) throw error;
      const failure = this.transportFailure(error, label);
      if (isTlsFailure(error)) throw failure.error;
      return { failure };
    } finally {
      limit.dispose();
    }
    this.counters.bytes += response.wireBytes;
    this.logger.debug('console request', {
      request: label,
      status: response.status,
      ms: this.clock.now() - startedAt,
      bytes: response.wireBytes,
      attempt,
    });
    return { response };
  }

  /** A 401: wrong credentials, or an expired token worth one fresh one. */
  private unauthorized(
    request: Exchange,
    headers: Record<string, string>,
    refreshedOn401: boolean,
  ): AttemptOutcome {
    const { label } = request;
    const status = 401;
    if (!request.authenticated) {
      throw new SyncError(
        'client.auth',
        `the console rejected the credentials (HTTP 401 on ${label}); check the credentials (setting credentials)`,
        { status, request: label, setting: 'credentials' },
      );
    }
    if (this.authMode === 'token' && !refreshedOn401) {
      // The token expired or was revoked, unless a concurrent request already replaced the token this one carried.
      if (this.token !== undefined && headers.authorization === `Bearer ${this.token.value}`) {
        this.token = undefined;
      }
      this.counters.retries++;
      this.logger.info('token rejected; authenticating again', { request: label });
      return { kind: 'tokenRejected' };
    }
    throw new SyncError(
      'client.auth',
      this.authMode === 'basic'
        ? `the console rejected the Basic credentials (HTTP 401 on ${label})`
        : `the console rejected a freshly issued token (HTTP 401 on ${label})`,
      { status, request: label },
    );
  }

  /** A 2xx: its JSON, or a failure when the body is not JSON (retried: a proxy's page is transient). */
  private answered(response: HttpResponse, label: string): AttemptOutcome {
    const { status } = response;
    const bytes = response.body.length;
    if (!isUtf8(response.body)) {
      // Decoding replaces each bad sequence by U+FFFD: say so rather than store altered text silently.
      this.logger.warn('the console sent invalid UTF-8; bad bytes are read as U+FFFD', {
        request: label,
        bytes,
      });
    }
    const text = response.body.toString('utf8');
    // The decoded bytes are not needed once they are text: let them go before parsing (a page
    // of heavy reports is 20 MB, held twice over while JSON.parse builds its objects otherwise).
    response.body = EMPTY_BODY;
    try {
      const body = parseJsonBody(text, bytes, status, response.headers, label);
      return { kind: 'answered', response: { body, headers: response.headers, status, bytes } };
    } catch (error) {
      return { kind: 'failed', failure: { error: error as SyncError, errorCode: 'client.invalidResponse' } };
    }
  }

  /** After a failed attempt: waits for the next one, or throws when the failure is final. */
  private async retryOrThrow(request: Exchange, attempt: number, failure: AttemptFailure): Promise<void> {
    const { label, context } = request;
    const decision = this.decide(attempt, failure);
    if (decision.retryAfterTooLong) {
      const stop = this.retryAfterTooLong(label, decision, failure);
      // Said here too, whatever the caller makes of the stop: the operator sees why the run ended.
      this.logger.warn(stop.message, { request: label, status: failure.status });
      throw stop;
    }
    if (failure.status === 429 && decision.retry) this.limiter.backOff(this.clock.now() + decision.delayMs);
    if (!decision.retry) throw failure.error;
    if (attempt >= this.maxAttempts) throw this.exhausted(label, context, attempt, decision, failure);
    await this.retryAfterWait(label, attempt, decision, context.signal);
  }

  private decide(attempt: number, failure: AttemptFailure): RetryDecision {
    return computeRetryDelay({
      attempt,
      ...(failure.status === undefined ? {} : { status: failure.status }),
      ...(failure.errorCode === undefined ? {} : { errorCode: failure.errorCode }),
      retryAfter: failure.retryAfter ?? null,
      now: this.clock.now(),
      random: this.random,
      base: this.baseDelayMs,
      max: this.maxDelayMs,
      maxRetryAfter: this.maxRetryAfterMs,
    });
  }

  /**
   * An abort signal for one attempt: it fires at the per-request limit (`timeouts.totalMs`, a
   * retryable `client.requestTimeout`), at the run's deadline (`client.deadline`: the run stops
   * partial), or when the caller's signal aborts. Every stage of the exchange ends by then.
   */
  private attemptLimit(
    label: string,
    outer: AbortSignal | undefined,
  ): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const now = this.clock.now();
    const deadline = this.deadline();
    const byDeadline = deadline !== undefined && deadline - now < this.requestTimeoutMs;
    const ms = byDeadline ? Math.max(0, deadline - now) : this.requestTimeoutMs;
    const reason = byDeadline
      ? new SyncError(
          'client.deadline',
          `${label}: the run's deadline came while the request was in flight`,
          {
            request: label,
          },
        )
      : new SyncError(
          'client.requestTimeout',
          `${label}: no complete response within ${this.requestTimeoutMs} ms (a trickling or never-ending answer)`,
          { request: label, timeoutMs: this.requestTimeoutMs },
        );
    // A real timer even under a fake clock: it bounds real I/O.
    const timer = setTimeout(() => controller.abort(reason), Math.min(ms, MAX_TIMER_MS));
    const onOuter = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    else outer?.addEventListener('abort', onOuter, { once: true });
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuter);
      },
    };
  }

  private retryAfterTooLong(label: string, decision: RetryDecision, last: AttemptFailure): SyncError {
    const header = untrustedText(String(last.retryAfter ?? ''), this.redactor, 64);
    return new SyncError(
      'client.deadline.retryAfter',
      `${label}: the console asked to wait before retrying (HTTP ${last.status}, Retry-After: ${header}), longer than the ${Math.round(this.maxRetryAfterMs / 1000)} s maximum (setting maxRetryAfter); the run stops here and resumes on the next run`,
      {
        request: label,
        ...(last.status === undefined ? {} : { status: last.status }),
        retryAfter: header,
        maxRetryAfterMs: this.maxRetryAfterMs,
        setting: 'maxRetryAfter',
        waitMs: decision.delayMs,
      },
      last.error,
    );
  }

  private async retryAfterWait(
    label: string,
    attempt: number,
    decision: RetryDecision,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const deadline = this.deadline();
    if (deadline !== undefined && this.clock.now() + decision.delayMs > deadline) {
      throw new SyncError(
        'client.deadline',
        `${label}: waiting ${decision.delayMs} ms before retrying (${decision.reason}) would pass the run's deadline`,
        { request: label, waitMs: decision.delayMs, reason: decision.reason },
      );
    }
    this.counters.retries++;
    this.logger.warn('retrying console request', {
      request: label,
      attempt,
      reason: decision.reason,
      delayMs: decision.delayMs,
    });
    await this.clock.sleep(decision.delayMs, signal);
  }

  private transportFailure(error: unknown, label: string): AttemptFailure {
    if (error instanceof SyncError) return { error, errorCode: error.code };
    const code = errorCodeOf(error);
    if (isTlsFailure(error)) {
      return {
        error: new SyncError(
          'client.tls',
          `TLS failure talking to ${this.urls.origin} (${code}) on ${label}: if the console uses a private CA, set setting caBundle to its PEM certificate`,
          { code, request: label, setting: 'caBundle' },
          error,
        ),
        ...(code === undefined ? {} : { errorCode: code }),
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    return {
      error: new SyncError(
        'client.network',
        `${label}: ${code ?? 'network error'} (${message})`,
        { code, request: label },
        error,
      ),
      ...(code === undefined ? {} : { errorCode: code }),
    };
  }

  private exhausted(
    label: string,
    context: RequestContext,
    attempts: number,
    decision: RetryDecision,
    last: AttemptFailure,
  ): SyncError {
    if (!decision.retry) return last.error;
    const details = {
      request: label,
      attempts,
      lastError: last.error.code,
      ...(last.status === undefined ? {} : { lastStatus: last.status }),
    };
    if (context.offset !== undefined) {
      return new SyncError(
        'client.pageFailed',
        `GET /registry offset=${context.offset} failed after ${attempts} attempts: ${last.error.message}`,
        { ...details, offset: context.offset },
        last.error,
      );
    }
    return new SyncError(
      'client.requestFailed',
      `${label} failed after ${attempts} attempts: ${last.error.message}`,
      details,
      last.error,
    );
  }

  /** The Authorization header value: Basic, or a Bearer token fetched or refreshed when due. */
  private async authorization(): Promise<string> {
    if (this.authMode === 'basic') {
      const { username, password } = this.credentials;
      return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    const token = this.token;
    if (token !== undefined && this.clock.now() - token.issuedAt < this.tokenRefreshMs)
      return `Bearer ${token.value}`;
    // One authentication at a time: concurrent requests (the prefetch) share it.
    // Not tied to the caller's abort signal: a cancelled prefetch must not fail the others.
    this.pendingToken ??= this.authenticate().finally(() => {
      this.pendingToken = undefined;
    });
    return `Bearer ${await this.pendingToken}`;
  }

  private async authenticate(): Promise<string> {
    const { username, password } = this.credentials;
    const { body } = await this.exchange(
      'POST',
      '/authenticate',
      {},
      { what: 'authenticate' },
      false,
      JSON.stringify({ username, password }),
    );
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token === '') {
      throw new SyncError('client.invalidResponse', 'POST /authenticate answered without a token');
    }
    this.redactor.add(token);
    this.token = { value: token, issuedAt: this.clock.now() };
    this.counters.authentications++;
    return token;
  }
}

/**
 * The JSON of a 2xx body.
 *
 * @throws SyncError `client.invalidResponse` for an empty body, an HTML page, or malformed JSON
 *   (a truncated body is malformed JSON).
 */
function parseJsonBody(
  text: string,
  bytes: number,
  status: number,
  headers: Record<string, string>,
  label: string,
): unknown {
  const trimmed = text.trimStart();
  if (trimmed === '') {
    throw new SyncError('client.invalidResponse', `${label}: HTTP ${status} with an empty body`, {
      request: label,
      problem: 'empty',
    });
  }
  const type = headers['content-type'] ?? '';
  if (trimmed.startsWith('<') || /html/i.test(type)) {
    throw new SyncError(
      'client.invalidResponse',
      `${label}: HTTP ${status} with an HTML page instead of JSON (a login page or a proxy error?)`,
      { request: label, problem: 'html', contentType: type },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SyncError(
      'client.invalidResponse',
      `${label}: malformed JSON in a ${bytes}-byte body (${untrustedText((error as Error).message, undefined, 200)})`,
      { request: label, problem: 'malformed', bytes },
      error,
    );
  }
}

/** A short, safe description of a non-2xx answer: the status and the console's `err` text if any. */
function httpError(response: HttpResponse, label: string, redactor: Redactor): SyncError {
  const text = response.body.toString('utf8', 0, Math.min(response.body.length, 2048));
  let detail = '';
  if (/^\s*</.test(text)) detail = ' (HTML error page)';
  else {
    try {
      const parsed = JSON.parse(text) as { err?: unknown };
      if (typeof parsed?.err === 'string') detail = `: ${untrustedText(parsed.err, redactor, 200)}`;
    } catch {
      // A non-JSON error body: the status says enough.
    }
  }
  return new SyncError('client.http', `${label}: HTTP ${response.status}${detail}`, {
    request: label,
    status: response.status,
  });
}
