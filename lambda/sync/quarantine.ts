/**
 * Quarantine (SPEC §4.7): a report that fails the schema, cannot be normalized or cannot be stored
 * is skipped, not fatal. What the run keeps of it is bounded and safe to print: its identity when
 * one is known, where it was, why, and the SHA-256 of its raw JSON (to find it again in the
 * console's answer), never its text.
 */
import { createHash } from 'node:crypto';
import type { ImageIdentity } from '../common/records.js';
import { untrustedText } from '../common/redact.js';

/** Reports listed on the run record at most; `quarantined` still counts every one. */
export const MAX_QUARANTINE_LISTED = 50;
/** Characters kept of each identity part and of a reason: a 10 MB tag must not reach the run record. */
export const MAX_QUARANTINE_TEXT = 300;
/**
 * An image key longer than this cannot have been stored (a DynamoDB partition key holds at most
 * 2,048 bytes and the image key is part of it), so a quarantined report with a longer key has
 * nothing to protect from the sweep and is not recorded as seen.
 */
export const MAX_SEEN_KEY_BYTES = 2_048;

/** One quarantined report as the run record, `query runs` and `sync --json` show it. */
export interface QuarantineEntry {
  /** `registry/repo:tag` when the report named an image, else null (cut to a safe length). */
  key: string | null;
  identity: { registry: string; repo: string; tag: string } | null;
  /**
   * The report's `_id` (usually the image digest) when no image can be told for sure: how to find
   * it in the console. Absent otherwise.
   */
  reportId?: string;
  /**
   * The `/registry` offset its page was read at, and its position in that response: offset + index
   * is its place in the console's list when it was read.
   */
  offset: number;
  index: number;
  /** The error code (`client.schema`, `normalize.*`, `sync.invalidReport`, `store.*`). */
  code: string;
  reason: string;
  /** SHA-256 (hex) of the raw report as JSON; null when it cannot even be serialized (nesting too deep). */
  sha256: string | null;
  /** When the run quarantined it (ISO). */
  at: string;
}

/** SHA-256 of `rawJson`, or of the raw report's JSON; null when the report cannot be serialized. */
export function rawDigest(raw: { rawJson: string } | { raw: unknown }): string | null {
  let text: string;
  if ('rawJson' in raw) text = raw.rawJson;
  else {
    try {
      text = JSON.stringify(raw.raw) ?? 'null';
    } catch {
      return null;
    }
  }
  return createHash('sha256').update(text).digest('hex');
}

/** Makes console text fit for the run record: control characters escaped, secrets redacted, cut. */
export type TextCleaner = (text: string) => string;

/** The cleaner for a run: the client's redaction (known password, token) then `untrustedText`. */
export function textCleaner(redact: (text: string) => string = (t) => t): TextCleaner {
  return (text) => untrustedText(redact(text), undefined, MAX_QUARANTINE_TEXT);
}

/** A quarantine entry from what is known of the report; every text field goes through `clean`. */
export function quarantineEntry(
  input: Omit<QuarantineEntry, 'key' | 'identity'> & {
    identity: Pick<ImageIdentity, 'registry' | 'repo' | 'tag'> | null;
  },
  clean: TextCleaner,
): QuarantineEntry {
  const identity = input.identity
    ? {
        registry: clean(input.identity.registry),
        repo: clean(input.identity.repo),
        tag: clean(input.identity.tag),
      }
    : null;
  return {
    key: identity ? `${identity.registry}/${identity.repo}:${identity.tag}` : null,
    identity,
    ...(input.reportId === undefined ? {} : { reportId: clean(input.reportId) }),
    offset: input.offset,
    index: input.index,
    code: input.code,
    reason: clean(input.reason),
    sha256: input.sha256,
    at: input.at,
  };
}

/**
 * Adds entries to the run's list, keeping at most `MAX_QUARANTINE_LISTED` (the first ones: the
 * count says how many more) and none twice (a page re-read after a crash quarantines the same
 * report again).
 */
export function mergeQuarantine(
  listed: readonly QuarantineEntry[],
  added: readonly QuarantineEntry[],
  max = MAX_QUARANTINE_LISTED,
): QuarantineEntry[] {
  const merged = [...listed];
  const ids = new Set(listed.map(entryId));
  for (const entry of added) {
    if (merged.length >= max) break;
    const id = entryId(entry);
    if (ids.has(id)) continue;
    ids.add(id);
    merged.push(entry);
  }
  return merged;
}

function entryId(entry: QuarantineEntry): string {
  return JSON.stringify([entry.key, entry.code, entry.sha256, entry.key === null ? entry.offset : 0]);
}

/** Whether a quarantined report's image key goes into the page's seen keys (see `MAX_SEEN_KEY_BYTES`). */
export function countsAsSeen(key: string): boolean {
  return Buffer.byteLength(key, 'utf8') <= MAX_SEEN_KEY_BYTES;
}

/** Reads a run record's quarantine list back; anything malformed is dropped. */
export function quarantineFrom(value: unknown): QuarantineEntry[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (entry): entry is QuarantineEntry =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as QuarantineEntry).code === 'string' &&
      typeof (entry as QuarantineEntry).reason === 'string',
  );
}
