/**
 * The console client: paced, authenticated, retrying HTTP to a Prisma Cloud Compute console,
 * drift-safe paging of `/registry`, and `/registry/progress`. See README.md in this folder.
 *
 * @example
 * import { ConsoleClient, RegistryPager } from './prisma/index.js';
 * const client = new ConsoleClient({ baseUrl, credentials: { username, password } });
 * for await (const page of new RegistryPager(client)) console.log(page.offset, page.reports.length);
 * await client.close();
 */

export {
  type ClientCounters,
  ConsoleClient,
  type ConsoleClientOptions,
  type JsonResponse,
  type RequestContext,
} from './client.js';
export { type Clock, systemClock } from './clock.js';
export {
  DEFAULT_PREFETCH_MAX_BYTES,
  invalidFingerprint,
  MAX_PAGE_SIZE,
  type PagerCounters,
  type PagerState,
  type RegistryPage,
  RegistryPager,
  type RegistryPagerOptions,
  reportFingerprint,
} from './pager.js';
export { fetchScanProgress, type ScanProgressQuery } from './progress.js';
export { DEFAULT_RATE_LIMIT, type RateLimitSettings, SlidingWindowRateLimiter } from './rate-limiter.js';
export { computeRetryDelay, parseRetryAfter, type RetryDecision } from './retry-policy.js';
export {
  type InvalidReport,
  type PageItem,
  parseRegistryPage,
  parseScanProgress,
  type RawReport,
  rawReportSchema,
  type ScanProgress,
  scanProgressSchema,
  vulnerabilitySchema,
} from './schema.js';
export { ConsoleUrls, LATEST_API_VERSION } from './url.js';
