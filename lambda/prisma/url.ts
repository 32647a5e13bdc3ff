import { SyncError } from '../common/errors.js';

/** The newest console API version in test/simulator/reference. `v1` selects the legacy `/api/v1` paths. */
export const LATEST_API_VERSION = 'v34.04';

export type QueryValue = string | number | boolean | undefined;

/** Where a request goes: undici takes the origin and the path separately. */
export interface RequestTarget {
  origin: string;
  /** Path prefix + `/api/<version>` + endpoint + query string. */
  path: string;
}

/**
 * Validates a console base URL and API version once, and builds request targets from them.
 * The base URL may carry a path prefix (SaaS consoles: `https://host/us-1-111111111`); a
 * trailing slash is ignored.
 *
 * @example
 * const urls = new ConsoleUrls('https://us-east1.cloud.twistlock.com/us-1-111111111/', 'v34.04');
 * urls.target('/registry', { offset: 50, limit: 50, compact: undefined });
 * // { origin: 'https://us-east1.cloud.twistlock.com',
 * //   path: '/us-1-111111111/api/v34.04/registry?offset=50&limit=50' }
 */
export class ConsoleUrls {
  readonly origin: string;
  /** `/us-1-111111111/api/v34.04`, or `/api/v34.04` without a prefix. */
  readonly apiBase: string;

  constructor(baseUrl: string, apiVersion: string) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch (error) {
      throw new SyncError('client.options', 'the console URL is not a URL', {}, error);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new SyncError('client.options', `the console URL must be http(s), got ${url.protocol}`);
    }
    if (url.username !== '' || url.password !== '') {
      // Never echo the URL: it carries credentials.
      throw new SyncError('client.options', 'the console URL must not carry credentials');
    }
    if (url.search !== '' || url.hash !== '') {
      throw new SyncError('client.options', 'the console URL must not carry a query or fragment');
    }
    if (!/^v\d+(\.\d+)?$/.test(apiVersion)) {
      throw new SyncError(
        'client.options',
        `API version must look like v34.04 or v1, got ${JSON.stringify(apiVersion)}`,
      );
    }
    this.origin = url.origin;
    const prefix = url.pathname.replace(/\/+$/, '');
    this.apiBase = `${prefix}/api/${apiVersion}`;
  }

  /** The target of an endpoint (`/registry`), with `undefined` query values left out. */
  target(endpoint: string, query: Record<string, QueryValue> = {}): RequestTarget {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) params.append(name, String(value));
    }
    const search = params.toString();
    const path = `${this.apiBase}/${endpoint.replace(/^\/+/, '')}`;
    return { origin: this.origin, path: search === '' ? path : `${path}?${search}` };
  }
}
