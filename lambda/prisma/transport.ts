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
  /** From sending the request to the end of the response headers. Default 120 s (a page of heavy reports takes a while to build). */
  headersMs?: number;
  /** Longest silence between two body chunks. Default 60 s. */
  bodyMs?: number;
}

export interface TransportTls {
  /** Extra CA certificates (PEM), trusted in addition to Node's bundled roots. */
  caBundle?: string;
  /** Turns certificate verification off. Never a default; the client warns on every creation. */
  insecure?: boolean;
}

export interface TransportOptions {
  tls?: TransportTls;
  timeouts?: TransportTimeouts;
  /** Largest decoded body accepted. Default 512 MiB (50 reports of several MB each fit). */
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

const DEFAULT_MAX_BODY = 512 * 1024 * 1024;

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
    headersTimeout: timeouts.headersMs ?? 120_000,
    bodyTimeout: timeouts.bodyMs ?? 60_000,
    connect: {
      timeout: timeouts.connectMs ?? 10_000,
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

/**
 * Runs `input` through one zlib decompressor (on the thread pool), keeping at most `maxBytes` of
 * output.
 *
 * Not `promisify(gunzip)`: that helper leaves the input chunks and the decoded result reachable
 * from the finished engine (its `buffers` and its callback), and a finished engine was measured to
 * stay alive for many seconds while the engine normalized and stored the page (bench scenario 3:
 * 40 MB of an 18 MB page, external memory, through the whole write of the page). Here the engine's
 * listeners, and with them the output, are let go as soon as it settles.
 */
function decompress(engine: Transform, input: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: unknown, output?: Buffer) => {
      if (settled) return;
      settled = true;
      parts = [];
      engine.removeAllListeners();
      // A late error of a destroyed engine must not become an uncaught 'error' event. A module-level
      // function: a closure made here would keep this scope, and the output, reachable again.
      engine.on('error', ignore);
      engine.destroy();
      if (output === undefined) reject(error);
      else resolve(output);
    };
    engine.on('data', (part: Buffer) => {
      size += part.length;
      if (size > maxBytes) {
        settle(
          new SyncError('client.invalidResponse', `the response body exceeds ${maxBytes} bytes`, {
            maxBytes,
          }),
        );
        return;
      }
      parts.push(part);
    });
    engine.once('error', (error) => settle(error));
    engine.once('end', () => settle(undefined, parts.length === 1 ? parts[0] : Buffer.concat(parts, size)));
    engine.end(input);
  });
}

/**
 * Decodes a body by its `Content-Encoding` (gzip, deflate — zlib or raw — and br), capped at
 * `maxBytes` decoded.
 *
 * @throws SyncError `client.invalidResponse` for an unknown encoding, a corrupt or truncated
 *   stream, or a body over the cap.
 * @example
 * const text = (await decodeBody(gzipSync('[]'), 'gzip', 1024)).toString('utf8'); // '[]'
 */
export async function decodeBody(
  body: Buffer,
  encoding: string | undefined,
  maxBytes: number,
): Promise<Buffer> {
  const codings = (encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let decoded = body;
  // Codings apply in order, so they come off in reverse.
  for (const coding of codings.reverse()) {
    const input = decoded;
    try {
      if (coding === 'gzip' || coding === 'x-gzip')
        decoded = await decompress(createGunzip(), input, maxBytes);
      else if (coding === 'br') decoded = await decompress(createBrotliDecompress(), input, maxBytes);
      else if (coding === 'deflate') {
        // RFC 9110 deflate is zlib-wrapped; some servers send raw deflate: accept both.
        decoded = await decompress(createInflate(), input, maxBytes).catch((error: unknown) => {
          if (error instanceof SyncError) throw error;
          return decompress(createInflateRaw(), input, maxBytes);
        });
      } else {
        throw new SyncError(
          'client.invalidResponse',
          `unsupported Content-Encoding ${JSON.stringify(coding)}`,
        );
      }
    } catch (error) {
      if (error instanceof SyncError) throw error;
      throw new SyncError(
        'client.invalidResponse',
        `the ${coding} body could not be decoded (${errorCodeOf(error) ?? 'corrupt or truncated'})`,
        { encoding: coding },
        error,
      );
    }
  }
  if (decoded.length > maxBytes) {
    throw new SyncError('client.invalidResponse', `the response body exceeds ${maxBytes} bytes`, {
      maxBytes,
    });
  }
  return decoded;
}

/**
 * Sends one request and reads the whole response. Transport failures reject with the original
 * undici/Node error (its `code` drives the retry policy); the caller wraps them.
 *
 * @example
 * const res = await send(agent, { target: urls.target('/registry', { limit: 50 }), method: 'GET', headers: {} });
 */
export function send(
  agent: Dispatcher,
  request: HttpRequest,
  maxBodyBytes = DEFAULT_MAX_BODY,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let status = 0;
    let headers: Record<string, string> = {};
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    const { signal } = request;

    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    const onAbort = () => {
      const reason = abortReason(signal!);
      if (controller !== undefined && !controller.aborted) controller.abort(reason as Error);
      fail(reason);
    };
    if (signal?.aborted) {
      fail(abortReason(signal));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(ctrl) {
        controller = ctrl;
        if (settled) {
          ctrl.abort(new SyncError('client.aborted', 'the request was aborted'));
          return;
        }
        request.onSent?.();
      },
      onResponseStart(_ctrl, statusCode, rawHeaders) {
        status = statusCode;
        headers = joinHeaders(rawHeaders as Record<string, string | string[] | undefined>);
      },
      onResponseData(ctrl, chunk) {
        wireBytes += chunk.length;
        if (wireBytes > maxBodyBytes) {
          ctrl.abort(
            new SyncError('client.invalidResponse', `the response body exceeds ${maxBodyBytes} bytes`, {
              maxBytes: maxBodyBytes,
            }),
          );
          return;
        }
        chunks.push(chunk);
      },
      onResponseEnd() {
        if (settled) return;
        const raw = Buffer.concat(chunks);
        // undici may keep this handler (and its closure) until the connection's next request.
        chunks.length = 0;
        decodeBody(raw, headers['content-encoding'], maxBodyBytes).then((body) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve({ status, headers, body, wireBytes });
        }, fail);
      },
      onResponseError(_ctrl, error) {
        fail(error);
      },
    };

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
        handler,
      );
    } catch (error) {
      fail(error);
    }
  });
}
