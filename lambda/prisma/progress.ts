import { SyncError } from '../common/errors.js';
import type { ConsoleClient } from './client.js';
import { parseScanProgress, type ScanProgress } from './schema.js';

export interface ScanProgressQuery {
  /** Progress of an on-demand scan (needs `repo` and `tag` or `digest`) instead of the regular scan. */
  onDemand?: boolean;
  registry?: string;
  repo?: string;
  tag?: string;
  digest?: string;
}

/**
 * `GET /registry/progress`: whether a registry scan is ongoing, with per-registry discovery and
 * image-scan counts (the engine's `--when-scan-ongoing` policy reads `isScanOngoing`). The
 * console's own 400 rules are checked first, so a bad query costs no request: `onDemand` needs
 * `repo` and `tag` or `digest`; `registry`/`repo`/`tag`/`digest` need `onDemand`.
 * After an on-demand scan completes, the console answers once with `isScanOngoing: false`, then `[]`.
 *
 * @throws SyncError `client.options` for a query the console would refuse; the client's errors otherwise.
 * @example
 * const ongoing = (await fetchScanProgress(client)).some((entry) => entry.isScanOngoing === true);
 * await fetchScanProgress(client, { onDemand: true, repo: 'library/alpine', tag: '3.16' });
 */
export async function fetchScanProgress(
  client: ConsoleClient,
  query: ScanProgressQuery = {},
): Promise<ScanProgress[]> {
  const scoped = [query.registry, query.repo, query.tag, query.digest].some((value) => value !== undefined);
  if (
    query.onDemand === true &&
    (query.repo === undefined || (query.tag === undefined && query.digest === undefined))
  ) {
    throw new SyncError('client.options', 'on-demand scan progress needs repo and tag or digest');
  }
  if (query.onDemand !== true && scoped) {
    throw new SyncError('client.options', 'registry, repo, tag and digest only apply with onDemand');
  }
  const what = query.onDemand === true ? 'on-demand scan progress' : 'registry scan progress';
  const { body } = await client.getJson(
    '/registry/progress',
    {
      onDemand: query.onDemand === true ? true : undefined,
      registry: query.registry,
      repo: query.repo,
      tag: query.tag,
      digest: query.digest,
    },
    { what },
  );
  return parseScanProgress(body, what);
}
