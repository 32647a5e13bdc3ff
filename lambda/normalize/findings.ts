import type { FindingRecord } from '../common/records.js';
import { sha256Hex } from './hash.js';
import { DESCRIPTION_MAX_CHARS, FINDING_KEY_MAX_BYTES, TEXT_MAX_CHARS } from './limits.js';
import {
  asObject,
  capText,
  field,
  finiteNumber,
  list,
  presentText,
  preview,
  type RawObject,
} from './read.js';
import { normalizeSeverity, SEVERITY_RANK } from './severity.js';
import { parseTime } from './time.js';
import type { Warnings } from './warnings.js';

/**
 * Bumped when the rules that shape a record change, so every hash changes once and the store
 * rewrites records in the new shape instead of calling them unchanged.
 */
export const NORMALIZATION_VERSION = 1;

/**
 * The key of a finding within its image: `${id}|${packageName}|${packageVersion}`.
 *
 * A `|` or `\` inside a part is escaped with `\`, so two different triples never share a key
 * (`a|b`,`c` vs `a`,`b|c`). A key over {@link FINDING_KEY_MAX_BYTES} UTF-8 bytes (a package
 * name listing hundreds of binaries) becomes its first 128 characters, `…#`, and the SHA-256 of
 * the full key: still unique, still stable, and always a valid DynamoDB key.
 *
 * @example
 * findingKey('CVE-2018-0495', 'libgcrypt20', '1.8.2-2'); // 'CVE-2018-0495|libgcrypt20|1.8.2-2'
 * findingKey('X', 'a|b', '1');                           // 'X|a\\|b|1'
 */
export function findingKey(id: string, packageName: string, packageVersion: string): string {
  const key = `${escapeKeyPart(id)}|${escapeKeyPart(packageName)}|${escapeKeyPart(packageVersion)}`;
  if (key.length * 3 <= FINDING_KEY_MAX_BYTES || Buffer.byteLength(key, 'utf8') <= FINDING_KEY_MAX_BYTES) {
    return key;
  }
  return `${capText(key, 128).text}#${sha256Hex(key)}`;
}

function escapeKeyPart(part: string): string {
  return part.includes('|') || part.includes('\\') ? part.replace(/[\\|]/g, '\\$&') : part;
}

/** One vulnerability row read from the report, before merging and capping. */
type FindingDraft = Omit<FindingRecord, 'key' | 'contentHash' | 'descriptionTruncated'>;

/** Optional text fields a merge fills from the first duplicate row that has them. */
const COALESCED_FIELDS = [
  'packageType',
  'status',
  'fixDate',
  'published',
  'link',
  'title',
  'description',
  'vector',
] as const satisfies ReadonlyArray<keyof FindingDraft>;

/** What {@link normalizeFindings} returns. */
export interface NormalizedFindings {
  findings: FindingRecord[];
  /** Raw rows read (objects), before identical and same-key rows were merged. */
  rowCount: number;
}

/**
 * Turns the report's `vulnerabilities[]` into findings: one per (vuln id, package, version),
 * sorted by key.
 *
 * - vuln id: `cve`, or `id` stringified when `cve` is empty or missing (twistcli puts the CVE
 *   in `id`; the API's numeric `id` is a rule id, used only when there is no `cve`). A row
 *   with neither gets `UNIDENTIFIED-<hash of its title, description and link>` and a warning,
 *   so it is kept rather than dropped.
 * - Identical rows collapse. Rows sharing a key but differing (status, cvss, …) merge
 *   deterministically whatever their order: the most severe row leads (then highest cvss,
 *   then canonical content), `cvss` is the highest, each other field is the leading row's or,
 *   when it has none, the next row's that has one, and `riskFactors` is the union.
 * - `vector` is `vecStr` (API) or `vector` (twistcli); `riskFactors` may be a map (its keys are
 *   the factor names) or an array.
 * - Each finding's `contentHash` covers every field including the full description, so a
 *   change beyond the description cap is still seen.
 */
export function normalizeFindings(rawVulnerabilities: unknown, warnings: Warnings): NormalizedFindings {
  const groups = new Map<string, FindingDraft[]>();
  let rowCount = 0;
  for (const entry of list(rawVulnerabilities)) {
    const row = asObject(entry);
    if (row === undefined) {
      warnings.tally('vulnerabilities[] entries that are not objects were ignored', preview(entry));
      continue;
    }
    rowCount += 1;
    const draft = readDraft(row, warnings);
    const key = findingKey(draft.id, draft.packageName, draft.packageVersion);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [draft]);
    else group.push(draft);
  }

  const findings: FindingRecord[] = [];
  for (const [key, drafts] of groups) {
    const merged = drafts.length === 1 ? (drafts[0] as FindingDraft) : mergeDrafts(key, drafts, warnings);
    findings.push(toRecord(key, merged, warnings));
  }
  findings.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { findings, rowCount };
}

/**
 * A CVSS score: 0 to 10. Anything else (`1e308`, `-1`, `NaN` spelled as text) is not a score: it
 * would rank the finding critical and is beyond what the store can hold, so it is dropped with a
 * warning and the vendor severity decides.
 */
function readCvss(row: RawObject, warnings: Warnings): number | null {
  const raw = field(row, 'cvss');
  const cvss = finiteNumber(raw);
  if (cvss !== null && cvss >= 0 && cvss <= 10) return cvss;
  if (raw !== null && raw !== undefined && raw !== '') {
    warnings.tally('vulnerabilities with a cvss that is not a score from 0 to 10 (ignored)', String(raw));
  }
  return null;
}

function readDraft(row: RawObject, warnings: Warnings): FindingDraft {
  const cvss = readCvss(row, warnings);
  const vendor = presentText(field(row, 'severity')) ?? '';
  const { severity, vendorSeverity, recognized } = normalizeSeverity(vendor, cvss);
  const packageName = presentText(field(row, 'packageName')) ?? '';
  const packageVersion = presentText(field(row, 'packageVersion')) ?? '';
  const title = presentText(field(row, 'title'));
  const description = presentText(field(row, 'description'));
  const link = presentText(field(row, 'link'));

  let id = presentText(field(row, 'cve'))?.trim() ?? presentText(field(row, 'id'))?.trim() ?? null;
  if (id === null) {
    id = `UNIDENTIFIED-${sha256Hex(JSON.stringify([title, description, link])).slice(0, 16)}`;
    warnings.tally('vulnerabilities without cve or id were kept under a content-derived id', id);
  }
  if (!recognized) warnings.tally('vulnerabilities with an unrecognized severity', vendor);

  return {
    id,
    severity,
    vendorSeverity,
    cvss,
    packageName,
    packageVersion,
    packageType: presentText(field(row, 'packageType')),
    status: presentText(field(row, 'status')),
    fixDate: readTime(row, 'fixDate', warnings),
    published: readTime(row, 'published', warnings),
    link,
    title,
    description,
    vector: presentText(field(row, 'vecStr')) ?? presentText(field(row, 'vector')),
    riskFactors: readRiskFactors(field(row, 'riskFactors')),
  };
}

function readTime(row: RawObject, name: string, warnings: Warnings): string | null {
  const value = field(row, name);
  const parsed = parseTime(value);
  if (parsed.invalid)
    warnings.tally(`vulnerabilities with an unreadable ${name} (kept as null)`, preview(value));
  return parsed.iso;
}

/**
 * Risk factor names from a map (`{"Has fix": {}}`, the API) or an array; sorted and unique.
 *
 * @example
 * readRiskFactors({ 'Has fix': {}, 'Critical severity': {} }); // ['Critical severity', 'Has fix']
 */
export function readRiskFactors(value: unknown): string[] {
  const object = asObject(value);
  const names = object !== undefined ? Object.keys(object) : list(value).map((item) => presentText(item));
  const unique = new Set<string>();
  for (const name of names) if (name !== null && name.trim() !== '') unique.add(name);
  return [...unique].sort();
}

function mergeDrafts(key: string, drafts: FindingDraft[], warnings: Warnings): FindingDraft {
  const ranked = drafts
    .map((draft) => ({ draft, canonical: JSON.stringify(hashInput(key, draft)) }))
    .sort(
      (a, b) =>
        compareDrafts(a.draft, b.draft) ||
        (a.canonical < b.canonical ? -1 : a.canonical > b.canonical ? 1 : 0),
    );
  const first = ranked[0] as (typeof ranked)[number];
  if (ranked.some((entry) => entry.canonical !== first.canonical)) {
    warnings.tally('findings merged from rows that share a key but differ', key);
  }
  const merged: FindingDraft = { ...first.draft, riskFactors: [...first.draft.riskFactors] };
  for (const { draft } of ranked) {
    if (draft.cvss !== null && (merged.cvss === null || draft.cvss > merged.cvss)) merged.cvss = draft.cvss;
    for (const name of COALESCED_FIELDS) if (merged[name] === null) merged[name] = draft[name];
  }
  merged.riskFactors = [...new Set(ranked.flatMap(({ draft }) => draft.riskFactors))].sort();
  return merged;
}

/** Most severe first, then highest cvss (a missing cvss last). */
function compareDrafts(a: FindingDraft, b: FindingDraft): number {
  const bySeverity = SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity];
  if (bySeverity !== 0) return bySeverity;
  return (b.cvss ?? Number.NEGATIVE_INFINITY) - (a.cvss ?? Number.NEGATIVE_INFINITY) || 0;
}

/** Every field of a finding in a fixed key order: `JSON.stringify` of it is canonical. */
function hashInput(key: string, draft: FindingDraft): unknown[] {
  return [
    NORMALIZATION_VERSION,
    key,
    draft.id,
    draft.severity,
    draft.vendorSeverity,
    draft.cvss,
    draft.packageName,
    draft.packageVersion,
    draft.packageType,
    draft.status,
    draft.fixDate,
    draft.published,
    draft.link,
    draft.title,
    draft.description,
    draft.vector,
    draft.riskFactors,
  ];
}

function toRecord(key: string, draft: FindingDraft, warnings: Warnings): FindingRecord {
  const contentHash = sha256Hex(JSON.stringify(hashInput(key, draft)));
  const short = (value: string): string => {
    const capped = capText(value, TEXT_MAX_CHARS);
    if (capped.truncated)
      warnings.tally(`finding fields longer than ${TEXT_MAX_CHARS} characters were cut`, key);
    return capped.text;
  };
  const shortOrNull = (value: string | null): string | null => (value === null ? null : short(value));
  const record: FindingRecord = {
    key,
    id: short(draft.id),
    severity: draft.severity,
    vendorSeverity: short(draft.vendorSeverity),
    cvss: draft.cvss,
    packageName: short(draft.packageName),
    packageVersion: short(draft.packageVersion),
    packageType: shortOrNull(draft.packageType),
    status: shortOrNull(draft.status),
    fixDate: draft.fixDate,
    published: draft.published,
    link: shortOrNull(draft.link),
    title: shortOrNull(draft.title),
    description: draft.description,
    vector: shortOrNull(draft.vector),
    riskFactors: draft.riskFactors.map(short),
    contentHash,
  };
  if (draft.description !== null) {
    const capped = capText(draft.description, DESCRIPTION_MAX_CHARS);
    if (capped.truncated) {
      record.description = capped.text;
      record.descriptionTruncated = true;
      warnings.tally(`finding descriptions longer than ${DESCRIPTION_MAX_CHARS} characters were cut`, key);
    }
  }
  return record;
}
