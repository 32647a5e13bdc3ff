import { SyncError } from '../common/errors.js';
import type { ImageIdentity, ImageRecord } from '../common/records.js';
import { asObject, field, list, presentText, type RawObject, text } from './read.js';

/** An image reference split into its parts (`registry.example.com/team/app:1.2@sha256:…`). */
export interface ParsedImageName {
  /** `''` when the name has no registry part (Docker Hub or a local image). */
  registry: string;
  repo: string;
  /** `null` when the name carries no tag. */
  tag: string | null;
  /** `null` when the name carries no `@sha256:…` part. */
  digest: string | null;
}

/**
 * Splits an image reference the way Docker does: the first path component is a registry only
 * when it looks like a host (`.` or `:` in it, or `localhost`); a tag is a `:` after the last
 * `/`; a digest follows `@`. A leading `https://` is dropped. Docker Hub names are kept as
 * given (no `library/` added, no `docker.io` removed), matching what the console reports.
 *
 * @example
 * parseImageName('library/alpine:latest');
 * // { registry: '', repo: 'library/alpine', tag: 'latest', digest: null }
 * parseImageName('registry.example.com/team/app:1.2');
 * // { registry: 'registry.example.com', repo: 'team/app', tag: '1.2', digest: null }
 */
export function parseImageName(name: string): ParsedImageName | null {
  let rest = name.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1) || null;
    rest = rest.slice(0, at);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1) || null;
    rest = rest.slice(0, colon);
  }
  let registry = '';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (rest === '' || /\s/.test(rest)) return null;
  return { registry, repo: rest, tag, digest };
}

/**
 * True for an image id or digest rather than a name: `sha256:…` or 64 hex digits.
 *
 * @example
 * isDigestLike('sha256:cc0abc53'); // true
 * isDigestLike('library/alpine:latest'); // false
 */
export function isDigestLike(value: string): boolean {
  return /^sha256:[0-9a-f]+$/i.test(value) || /^[0-9a-f]{64}$/i.test(value);
}

/**
 * The canonical key string of an image within one console: `${registry}/${repo}:${tag}`.
 *
 * An empty registry (Docker Hub, local images) keeps its slot, so the string starts with `/`
 * (`/library/alpine:3.11.2`). No repository starts with `/`, so it can never be confused with a
 * registry named like a repo's first component, and `docker.io/library/alpine:3` (a report that
 * names the registry) stays a different image from `/library/alpine:3`, as the console keeps them.
 * An empty tag likewise leaves the string ending in `:`. The console id is not part of it: the
 * store prefixes every key with the console.
 *
 * @example
 * imageKeyString({ consoleId: 'c1', registry: '', repo: 'library/alpine', tag: '3.11.2' });
 * // '/library/alpine:3.11.2'
 * imageKeyString({ consoleId: 'c1', registry: 'reg.example.com', repo: 'team/app', tag: '1.2' });
 * // 'reg.example.com/team/app:1.2'
 */
export function imageKeyString(identity: ImageIdentity): string {
  return `${identity.registry}/${identity.repo}:${identity.tag}`;
}

/** Where an identity came from, for warnings and tests. */
export type IdentitySource = 'repoTag' | '_id' | 'tags' | 'context.imageName';

export interface ResolvedIdentity {
  identity: ImageIdentity;
  source: IdentitySource;
  /** `repoTag.digest`, else a `sha256:` `_id`, else `null`. */
  digest: string | null;
}

/**
 * Finds registry/repo/tag for a report, in this order:
 * 1. `repoTag` (when it has a repo; its registry and tag may be `''`);
 * 2. `_id` when it is a name with a tag (older consoles: `library/alpine:latest`); an `_id`
 *    without a tag may be any opaque id, so it is not guessed at;
 * 3. the first `tags[]` entry that has a repo;
 * 4. `imageName` from the caller (twistcli output carries no name: the importer knows it).
 *
 * @throws SyncError `normalize.invalid` naming the fields looked at, when none gives a repo.
 */
export function resolveIdentity(report: RawObject, consoleId: string, imageName?: string): ResolvedIdentity {
  const reportId = presentText(field(report, '_id'))?.trim() ?? null;
  const repoTag = asObject(field(report, 'repoTag'));
  const fromRepoTag = tagEntry(repoTag);
  const digest =
    presentText(field(repoTag, 'digest')) ??
    (reportId !== null && /^sha256:/i.test(reportId) ? reportId : null);
  const identity = (parts: Omit<ImageIdentity, 'consoleId'>): ImageIdentity => ({ consoleId, ...parts });

  if (fromRepoTag !== null) return { identity: identity(fromRepoTag), source: 'repoTag', digest };

  if (reportId !== null && !isDigestLike(reportId)) {
    const parsed = parseImageName(reportId);
    if (parsed !== null && parsed.tag !== null) {
      return {
        identity: identity({ registry: parsed.registry, repo: parsed.repo, tag: parsed.tag }),
        source: '_id',
        digest: digest ?? parsed.digest,
      };
    }
  }

  for (const entry of list(field(report, 'tags'))) {
    const fromTags = tagEntry(asObject(entry));
    if (fromTags !== null) return { identity: identity(fromTags), source: 'tags', digest };
  }

  if (imageName !== undefined) {
    const parsed = parseImageName(imageName);
    if (parsed !== null) {
      return {
        identity: identity({ registry: parsed.registry, repo: parsed.repo, tag: parsed.tag ?? 'latest' }),
        source: 'context.imageName',
        digest: digest ?? parsed.digest,
      };
    }
  }

  throw new SyncError(
    'normalize.invalid',
    'report has no image identity: repoTag.repo is missing, _id is not an image name with a tag, and tags[] has no repo',
    { field: 'repoTag.repo', reportId, imageId: presentText(field(report, 'id')) },
  );
}

/**
 * The report's `tags[]`, each a `{registry, repo, tag, digest}`, de-duplicated and sorted so
 * the console's ordering never reads as a change. Entries without a repo are dropped (they
 * name no image).
 */
export function readTags(report: RawObject): ImageRecord['tags'] {
  const byKey = new Map<string, ImageRecord['tags'][number]>();
  for (const entry of list(field(report, 'tags'))) {
    const object = asObject(entry);
    const parts = tagEntry(object);
    if (parts === null) continue;
    const tag = { ...parts, digest: presentText(field(object, 'digest')) };
    byKey.set(JSON.stringify([tag.registry, tag.repo, tag.tag, tag.digest]), tag);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, tag]) => tag);
}

/**
 * Registry, repo and tag exactly as the console sent them: `alpine ` and `alpine` are two images
 * to the console, so they stay two here (trimming merged them into one, and one of them was lost).
 * normalizeReport warns about such names.
 */
function tagEntry(object: RawObject | undefined): Omit<ImageIdentity, 'consoleId'> | null {
  const repo = presentText(field(object, 'repo'));
  if (repo === null) return null;
  return {
    registry: text(field(object, 'registry')) ?? '',
    repo,
    tag: text(field(object, 'tag')) ?? '',
  };
}

/**
 * The identity parts that carry leading or trailing whitespace or control characters: kept as
 * sent (see tagEntry), but worth a warning, since a person reading the name cannot tell them apart.
 *
 * @example
 * oddNameParts({ consoleId: 'c', registry: '', repo: 'alpine ', tag: '3' }); // ['repo']
 */
export function oddNameParts(identity: ImageIdentity): Array<'registry' | 'repo' | 'tag'> {
  const parts = ['registry', 'repo', 'tag'] as const;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
  return parts.filter((part) => /^\s|\s$|[\u0000-\u001f\u007f-\u009f]/.test(identity[part]));
}
