/**
 * A page of raw reports, normalized and serialized for the store in groups bounded by bytes.
 *
 * A `/registry` page holds up to 50 reports and some reports are several MB of JSON (thousands of
 * findings), so one page can be 20 MB of JSON. Normalizing the whole page before writing it held
 * every raw report, its JSON text (which the store keeps in full) and its records at once, for as
 * long as the store took to write them (bench/results.md "Figures behind code comments"). Here each raw report is let go as soon as it is normalized and
 * serialized, and the store gets the page in groups of about `groupBytes` of raw JSON: the memory
 * a page needs is bounded by the group, not by the page. Pages of ordinary reports (about 1 MB)
 * stay one group, written exactly as before.
 */
import { isSyncError } from '../common/errors.js';
import type { ImageIdentity, NormalizedReport } from '../common/records.js';
import { imageKeyString, normalizeReport, resolveIdentity } from '../normalize/index.js';
import type { InvalidReport } from '../prisma/index.js';
import { rawDigest } from './quarantine.js';

/** Default group size: a few heavy reports, or a whole page of ordinary ones. */
export const DEFAULT_GROUP_BYTES = 4 * 1024 * 1024;

/** A report ready for `ImageStore.writeReports`. */
export interface NormalizedEntry {
  report: NormalizedReport;
  /** The raw report as JSON text: the store keeps it in full. */
  rawJson: string;
  /** Its position in the response its page was read from. */
  index: number;
}

/** A report of the page that cannot be normalized (or serialized): skipped, not fatal. */
export interface RejectedReport {
  offset: number;
  index: number;
  /** The image it names, when its identity can be read at all. */
  identity: ImageIdentity | null;
  code: string;
  reason: string;
  /** SHA-256 of its raw JSON; null when it cannot be serialized. */
  sha256: string | null;
  /** Its `_id` when that is text and no image can be told for sure: how an operator finds it in the console. */
  reportId?: string;
}

export interface PageGroupsOptions {
  consoleId: string;
  /** The offset the page was read at, to name it in errors. */
  offset: number;
  /** `positions[i]`: where `raws[i]` was in the response (the page's `positions`); default `i`. */
  positions?: readonly number[];
  /** A group is handed out once its raw JSON reaches this many characters. */
  groupBytes?: number;
  logger: {
    debug(message: string, data?: Record<string, unknown>): void;
    warn(message: string, data?: Record<string, unknown>): void;
  };
  /** Told of each report the normalizer rejects (or that is nested too deeply to serialize). */
  onRejected: (report: RejectedReport) => void;
}

/**
 * Normalizes and serializes the reports of one page, yielding them in groups of about
 * `groupBytes` of raw JSON, in page order. Takes `raws` over: each slot is cleared once its report
 * is serialized, so the caller must not read the array afterwards.
 *
 * A tag listed more than once on the page is written once, from its newest scan (the first of
 * equal ones): such twins are found before anything is yielded and held back to the last group,
 * so an older twin is never written ahead of a newer one.
 *
 * A report the normalizer rejects, or one nested too deeply to serialize, is left out of the groups
 * and handed to `onRejected` with its page offset, index, identity (when readable), reason and
 * digest: one bad report never blocks the rest of the page (SPEC §4.7).
 *
 * @example
 * for (const group of normalizedGroups(page.reports.splice(0), { consoleId, offset: page.offset, logger, onRejected })) {
 *   await stores.images.writeReports(group.map(({ report, rawJson }) => ({ normalized: report, rawJson })), context);
 * }
 */
export function* normalizedGroups(
  raws: unknown[],
  options: PageGroupsOptions,
): Generator<NormalizedEntry[], void, undefined> {
  const { consoleId, offset, logger } = options;
  const groupBytes = options.groupBytes ?? DEFAULT_GROUP_BYTES;
  const twins = listedTwice(raws, consoleId);
  const newestTwin = new Map<string, NormalizedEntry>();
  let group: NormalizedEntry[] = [];
  let bytes = 0;
  for (let index = 0; index < raws.length; index++) {
    const entry = normalizeOne(raws[index], consoleId, offset, options.positions?.[index] ?? index);
    if ('code' in entry) {
      options.onRejected(entry);
      raws[index] = undefined;
      continue;
    }
    raws[index] = undefined;
    for (const warning of entry.report.warnings) logger.debug('report warning', { offset, index, warning });
    const key = imageKeyString(entry.report.image.identity);
    if (twins.has(key)) {
      const previous = newestTwin.get(key);
      if (previous) logger.warn('duplicate image on one page; keeping the newer scan', { offset, key });
      if (!previous || (entry.report.image.scanTime ?? '') > (previous.report.image.scanTime ?? '')) {
        newestTwin.set(key, entry);
      }
      continue;
    }
    group.push(entry);
    bytes += entry.rawJson.length;
    if (bytes >= groupBytes) {
      yield group;
      group = [];
      bytes = 0;
    }
  }
  group.push(...newestTwin.values());
  if (group.length > 0) yield group;
}

function normalizeOne(
  raw: unknown,
  consoleId: string,
  offset: number,
  index: number,
): NormalizedEntry | RejectedReport {
  let report: NormalizedReport;
  try {
    report = normalizeReport(raw, { consoleId });
  } catch (cause) {
    const code = isSyncError(cause) ? cause.code : 'sync.invalidReport';
    const reason = cause instanceof Error ? cause.message : String(cause);
    return rejected(raw, consoleId, { offset, index, code, reason, sha256: rawDigest({ raw }) });
  }
  try {
    return { report, rawJson: JSON.stringify(raw), index };
  } catch (cause) {
    // JSON.parse takes any depth but JSON.stringify overflows the stack past a few thousand levels.
    const reason = `the report is nested too deeply to store (${cause instanceof Error ? cause.message : String(cause)})`;
    return rejected(raw, consoleId, { offset, index, code: 'sync.invalidReport', reason, sha256: null });
  }
}

function rejected(raw: unknown, consoleId: string, what: Omit<RejectedReport, 'identity'>): RejectedReport {
  return { ...what, identity: identityOf(raw, consoleId) };
}

/** The identity a raw report names, by the normalizer's own rule; null when it names none. */
function identityOf(raw: unknown, consoleId: string): ImageIdentity | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  try {
    return resolveIdentity(raw as Readonly<Record<string, unknown>>, consoleId).identity;
  } catch {
    // No identity: the rejection says so by its null identity.
    return null;
  }
}

/**
 * Image keys that more than one report of the page names, by the normalizer's own identity rule.
 * A report without an identity is left to `normalizeOne`, which rejects it with its index.
 */
function listedTwice(raws: readonly unknown[], consoleId: string): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const raw of raws) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    let key: string;
    try {
      key = imageKeyString(resolveIdentity(raw as Readonly<Record<string, unknown>>, consoleId).identity);
    } catch {
      // No identity: normalizeOne rejects this report with its page and index.
      continue;
    }
    if (seen.has(key)) twice.add(key);
    seen.add(key);
  }
  return twice;
}

/** Top-level fields the normalizer reads an image's identity from, in its order of precedence. */
const IDENTITY_FIELDS = ['repoTag', '_id', 'tags'] as const;

/**
 * A report that failed the client's schema, as a rejection to quarantine. Its identity is the
 * normalizer's own (the key a stored copy has) only when no field that identity could come from
 * is broken: a broken `repoTag` hides what the image is called (it decides first); a broken `_id`
 * (it might have been an image name) or `tags` matters only when the identity would come from tags. Otherwise the identity is null,
 * and `reportId` keeps the `_id` when it is text.
 *
 * @example
 * schemaRejection(invalid, 'prod', 49); // { offset: 49, index: 21, code: 'client.schema', reason: 'report[21].repoTag.repo: expected string, got number', identity: null, ... }
 */
export function schemaRejection(invalid: InvalidReport, consoleId: string, offset: number): RejectedReport {
  const identity = schemaRejectIdentity(invalid, consoleId);
  return {
    offset,
    index: invalid.index,
    identity,
    code: 'client.schema',
    reason: invalid.reason,
    sha256: invalid.sha256,
    ...(identity === null && invalid.readable.id !== null ? { reportId: invalid.readable.id } : {}),
  };
}

function schemaRejectIdentity(invalid: InvalidReport, consoleId: string): ImageIdentity | null {
  const broken = new Set(
    invalid.paths.map((path) =>
      IDENTITY_FIELDS.find(
        (field) => path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`),
      ),
    ),
  );
  // A report that is not an object at all (path ''), or whose repoTag is broken: nothing is certain.
  if (broken.has('repoTag') || invalid.paths.includes('')) return null;
  if (typeof invalid.raw !== 'object' || invalid.raw === null || Array.isArray(invalid.raw)) return null;
  let resolved: ReturnType<typeof resolveIdentity>;
  try {
    resolved = resolveIdentity(invalid.raw as Readonly<Record<string, unknown>>, consoleId);
  } catch {
    // No identity at all: the rejection says so by its null identity.
    return null;
  }
  // repoTag and an `_id` that names an image come before tags: what broke after them cannot matter.
  if (resolved.source !== 'tags') return resolved.identity;
  return broken.has('_id') || broken.has('tags') ? null : resolved.identity;
}
