/**
 * One HTTP exchange with the console over an undici Agent: keep-alive connections, connect /
 * headers / body timeouts, TLS verification on unless explicitly turned off, extra CA
 * certificates, compressed responses.
 *
 * Requests go through `Agent.dispatch` with a small handler rather than `request()`, for three
 * reasons: `onRequestStart` fires when undici writes the request to the socket (the rate limiter
 * counts that moment, see rate-limiter.ts); the handler counts the bytes that really crossed the
 * wire; and decompression is ours (node:zlib, on the thread pool, with a size cap) because
 * undici 7's `interceptors.decompress` prints an ExperimentalWarning on first use and hides the
 * compressed size.
 */
import type { Transform } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import { SyncError } from '../common/errors.js';
import { abortReason } from './clock.js';
import type { RequestTarget } from './url.js';

export interface TransportTimeouts {
  /** TCP + TLS connect. Default 10 s. */
  connectMs?: number;
  /** From sending the request to the end of the response headers. Default 60 s. */
  headersMs?: number;
  /** Longest silence between two body chunks. Default 30 s. */
  bodyMs?: number;
  /**
   * Whole exchange, first byte sent to last byte read, whatever trickles in between (a body sent
   * one byte every few seconds, a stream of `103 Early Hints`). Default 90 s. The client enforces
   * it (and the run's deadline) with an abort signal; undici's timeouts above are idle timeouts.
   */
  totalMs?: number;
}

/** Defaults of {@link TransportTimeouts}: the longest single request is `totalMs`. */
export const DEFAULT_TIMEOUTS = {
  connectMs: 10_000,
  headersMs: 60_000,
  bodyMs: 30_000,
  totalMs: 90_000,
} as const;

export interface TransportTls {
  /** Extra CA certificates (PEM), trusted in addition to Node's bundled roots. */
  caBundle?: string;
  /** Turns certificate verification off. Never a default; the client warns on every creation. */
  insecure?: boolean;
}

export interface TransportOptions {
  tls?: TransportTls;
  timeouts?: TransportTimeouts;
  /** Largest decoded body accepted. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
}

export interface HttpRequest {
  target: RequestTarget;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Called when undici writes the request to the socket (may repeat if undici re-sends it). */
  onSent?: () => void;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The decoded body. */
  body: Buffer;
  /** Body bytes as received (before decompression). */
  wireBytes: number;
}

/**
 * Default largest decoded page: 64 MiB. A page of 50 heavy reports is up to 20 MB; the decoded
 * bytes, their text and the parsed objects together stay a few hundred MB below a 1024 MB Lambda.
 * Configurable: the setting `maxPageBytes`.
 */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Node/OpenSSL codes of a certificate or handshake failure: not retryable, a configuration matter. */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME_MISMATCH/;

/**
 * Creates the keep-alive Agent every request of one client goes through.
 *
 * @example
 * const agent = createAgent({ tls: { caBundle: readFileSync('ca.pem', 'utf8') }, timeouts: { connectMs: 5000 } });
 */
export function createAgent(options: TransportOptions = {}): Agent {
  const tls = options.tls ?? {};
  const timeouts = options.timeouts ?? {};
  return new Agent({
    connections: 4,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: timeouts.headersMs ?? DEFAULT_TIMEOUTS.headersMs,
    bodyTimeout: timeouts.bodyMs ?? DEFAULT_TIMEOUTS.bodyMs,
    connect: {
      timeout: timeouts.connectMs ?? DEFAULT_TIMEOUTS.connectMs,
      rejectUnauthorized: tls.insecure !== true,
      // `ca` replaces Node's trust store, so the bundled roots are passed along with the extra ones.
      ...(tls.caBundle === undefined ? {} : { ca: [...rootCertificates, tls.caBundle] }),
    },
  });
}

/** The error code a transport failure carries (`ECONNRESET`, `UND_ERR_SOCKET`, ...). */
export function errorCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when a transport failure is a certificate or TLS handshake problem. */
export function isTlsFailure(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code !== undefined && TLS_CODE.test(code);
}

function joinHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** An 'error' listener that holds nothing. */
function ignore(): void {}

/** The error of a body over the limit: deterministic, so never retried (retry-policy.ts). */
export function bodyTooLarge(maxBytes: number, what: 'decoded' | 'received'): SyncError {
  return new SyncError(
    'client.bodyTooLarge',
    `the response body exceeds ${maxBytes} bytes ${what} (setting maxPageBytes)`,
    { maxBytes, setting: 'maxPageBytes' },
  );
}

/** The codings of a `Content-Encoding` header in the order they come off (the last applied first). */
function codingsOf(encoding: string | undefined): string[] {
  return (encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
    .reverse();
}

/** True when `first` two bytes are a zlib header (RFC 1950): CM 8 and a valid check. */
function isZlibHeader(bytes: Buffer): boolean {
  if (bytes.length < 2) return true;
  const cmf = bytes[0]!;
  const flg = bytes[1]!;
  return (cmf & 0x0f) === 8 && (cmf * 256 + flg) % 31 === 0;
}

function engineFor(coding: string, firstBytes: Buffer): Transform {
  if (coding === 'gzip' || coding === 'x-gzip') return createGunzip();
  if (coding === 'br') return createBrotliDecompress();
  // RFC 9110 deflate is zlib-wrapped; some servers send raw deflate: the first bytes tell which.
  if (coding === 'deflate') return isZlibHeader(firstBytes) ? createInflate() : createInflateRaw();
  throw new SyncError('client.invalidResponse', `unsupported Content-Encoding ${JSON.stringify(coding)}`, {
    encoding: coding,
  });
}

/**
 * A body decoder fed as bytes arrive: the decoded size is checked on every decoded chunk, so a
 * gzip bomb or an endless body stops at `maxBytes`, not after it was all held in memory.
 *
 * The zlib engines run on the thread pool. Their listeners, and with them the output, are let go
 * as soon as the decoder settles: a finished engine can otherwise stay alive for many seconds,
 * holding whatever its closures reach.
 */
class BodyDecoder {
  private engines: Transform[] = [];
  private parts: Buffer[] = [];
  private size = 0;
  private settled = false;
  private started = false;

  constructor(
    private readonly codings: string[],
    private readonly maxBytes: number,
    private readonly done: (error: unknown, body?: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.settled) return;
    if (this.codings.length === 0) {
      this.take(chunk, 'received');
      return;
    }
    if (!this.started) this.start(chunk);
    this.engines[0]?.write(chunk);
  }

  end(): void {
    if (this.settled) return;
    if (this.codings.length === 0) {
      this.finish(undefined, this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size));
      return;
    }
    if (!this.started) this.start(Buffer.alloc(0));
    this.engines[0]?.end();
  }

  /** Stops decoding and drops what was decoded (the request failed or was aborted). */
  abandon(): void {
    this.finish(new SyncError('client.aborted', 'the request was aborted'));
  }

  private start(firstBytes: Buffer): void {
    this.started = true;
    try {
      this.engines = this.codings.map((coding) => engineFor(coding, firstBytes));
    } catch (error) {
      this.finish(error);
      return;
    }
    for (let i = 0; i < this.engines.length; i++) {
      const engine = this.engines[i]!;
      const coding = this.codings[i]!;
      engine.once('error', (error) => this.finish(corrupt(coding, error)));
      const next = this.engines[i + 1];
      if (next !== undefined) engine.pipe(next);
    }
    const last = this.engines[this.engines.length - 1]!;
    last.on('data', (part: Buffer) => this.take(part, 'decoded'));
    last.once('end', () =>
      this.finish(undefined, this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size)),
    );
  }

  private take(part: Buffer, what: 'decoded' | 'received'): void {
    if (this.settled) return;
    this.size += part.length;
    if (this.size > this.maxBytes) {
      this.finish(bodyTooLarge(this.maxBytes, what));
      return;
    }
    this.parts.push(part);
  }

  private finish(error: unknown, body?: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    this.parts = [];
    for (const engine of this.engines) {
      engine.removeAllListeners();
      // A late error of a destroyed engine must not become an uncaught 'error' event. A module-level
      // function: a closure made here would keep this decoder, and the output, reachable again.
      engine.on('error', ignore);
      engine.destroy();
    }
    this.engines = [];
    if (body === undefined) this.done(error);
    else this.done(undefined, body);
  }
}

function corrupt(coding: string, error: unknown): SyncError {
  if (error instanceof SyncError) return error;
  return new SyncError(
    'client.invalidResponse',
    `the ${coding} body could not be decoded (${errorCodeOf(error) ?? 'corrupt or truncated'})`,
    { encoding: coding },
    error,
  );
}

/**
 * Decodes a whole body by its `Content-Encoding` (gzip, deflate — zlib or raw — and br), capped at
 * `maxBytes` decoded.
 *
 * @throws SyncError `client.invalidResponse` for an unknown encoding or a corrupt or truncated
 *   stream, `client.bodyTooLarge` for a body over the cap.
 * @example
 * const text = (await decodeBody(gzipSync('[]'), 'gzip', 1024)).toString('utf8'); // '[]'
 */
export function decodeBody(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const decoder = new BodyDecoder(codingsOf(encoding), maxBytes, (error, decoded) => {
      if (decoded === undefined) reject(error);
      else resolve(decoded);
    });
    decoder.write(body);
    decoder.end();
  });
}

/**
 * Sends one request and reads the whole response, decoding the body as it arrives and cutting it
 * at `maxBodyBytes` decoded. Transport failures reject with the original undici/Node error (its
 * `code` drives the retry policy); the caller wraps them. `request.signal` ends the exchange at
 * any stage (connect, headers, body, decoding): the client aborts it at the per-request limit and
 * at the run's deadline.
 *
 * @example
 * const res = await send(agent, { target: urls.target('/registry', { limit: 50 }), method: 'GET', headers: {} });
 */
export function send(
  agent: Dispatcher,
  request: HttpRequest,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const exchange = new ExchangeHandler(request, maxBodyBytes, resolve, reject);
    if (!exchange.followSignal()) return;
    try {
      agent.dispatch(
        {
          origin: request.target.origin,
          path: request.target.path,
          method: request.method,
          headers: request.headers,
          body: request.body ?? null,
          idempotent: request.method === 'GET',
        },
        exchange,
      );
    } catch (error) {
      exchange.fail(error);
    }
  });
}

/**
 * The undici handler of one exchange: collects the status and headers, feeds the body to a
 * {@link BodyDecoder} and settles the caller's promise exactly once (answer, failure or abort).
 */
class ExchangeHandler implements Dispatcher.DispatchHandler {
  private wireBytes = 0;
  private status = 0;
  private headers: Record<string, string> = {};
  private decoder: BodyDecoder | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  private readonly onAbort = () => this.fail(abortReason(this.request.signal!));

  constructor(
    private readonly request: HttpRequest,
    private readonly maxBodyBytes: number,
    private readonly resolve: (response: HttpResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  /** Ends the exchange when the request's signal aborts; false when it already has (the exchange failed). */
  followSignal(): boolean {
    const { signal } = this.request;
    if (signal?.aborted) {
      this.fail(abortReason(signal));
      return false;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    return true;
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.request.signal?.removeEventListener('abort', this.onAbort);
    this.decoder?.abandon();
    this.decoder = undefined;
    if (this.controller !== undefined && !this.controller.aborted) this.controller.abort(error as Error);
    this.reject(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) {
      controller.abort(new SyncError('client.aborted', 'the request was aborted'));
      return;
    }
    this.request.onSent?.();
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    rawHeaders: Record<string, string | string[] | undefined>,
  ): void {
    // An informational answer (`103 Early Hints`) is not the response; a stream of them is cut
    // by the caller's per-request limit (undici refreshes its headers timeout on each one).
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = joinHeaders(rawHeaders);
    this.decoder = new BodyDecoder(
      codingsOf(this.headers['content-encoding']),
      this.maxBodyBytes,
      (error, body) => {
        this.decoder = undefined;
        if (body === undefined) this.fail(error);
        else this.succeed(body);
      },
    );
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.wireBytes += chunk.length;
    // Compressed bytes are capped too: a body that never ends is cut whatever it decodes to.
    if (this.wireBytes > this.maxBodyBytes) {
      this.fail(bodyTooLarge(this.maxBodyBytes, 'received'));
      return;
    }
    this.decoder?.write(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.decoder?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private succeed(body: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    this.request.signal?.removeEventListener('abort', this.onAbort);
    this.resolve({ status: this.status, headers: this.headers, body, wireBytes: this.wireBytes });
  }
}
