/**
 * zod schemas for the parts of the console's answers the product reads: `shared.ImageScanResult`
 * (with `vuln.Vulnerability`, `shared.ImageTag`, `shared.Packages`, `vuln.Distribution`) from
 * `/registry`, and `shared.RegistryScanProgress` from `/registry/progress`
 * (test/simulator/reference/prisma-compute-openapi-34.04-registry.json).
 *
 * Loose by design: every object is `.loose()`, so unknown and newer fields pass through; every
 * field but `_id` is optional and nullable, because real consoles omit fields and send `null`
 * (`vulnerabilities: null` on a clean image, `complianceIssues`/`packages: null` on agentless
 * scans, `riskFactors: null` in compliance issues). What a key field holds when present is
 * checked (`_id`, `repoTag`, `tags`, the lists, a finding's cve/id/package): a wrong type there
 * (`repoTag: 5`, `vulnerabilities: "x"`) makes that one report invalid, named by its path; the
 * rest of the page stands. Every other field is
 * typed as documented but unchecked (`osDistro: 12`, `cvss: "high"` pass): the normalizer reads
 * such a value as absent and warns. Read the typed fields of a `RawReport` as `unknown`.
 * Where real data and the OpenAPI disagree, the real data wins: vulnerability `id` is a rule
 * number in API reports but a CVE string in twistcli output; `published`/`fixDate` are epoch
 * seconds, accepted as strings too (the normalizer reads both).
 *
 * The validated value is the console's own object, not a copy: nothing is dropped or rewritten.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SyncError } from '../common/errors.js';

const text = z.string().nullish();
const count = z.number().nullish();
/** A rule number (`46`) in API reports, a CVE id (`"CVE-2013-7459"`) in twistcli output. */
const numberOrText = z.union([z.number(), z.string()]).nullish();

/**
 * A field the product does not key on: typed as documented, never checked. A wrong type there
 * (`osDistro: 12`, `cvss: "high"`) must not cost the page: the normalizer reads it as absent and
 * warns. (`catch` only changes zod's output, which is discarded: the console's object is returned.)
 */
function unchecked<T extends z.ZodType>(schema: T) {
  return schema.catch(undefined as z.output<T>);
}
const lenientText = unchecked(text);
const lenientCount = unchecked(count);
const lenientNumberOrText = unchecked(numberOrText);

/** `shared.ImageTag`: registry (`''` for Docker Hub), repo, tag, digest. */
export const imageTagSchema = z
  .object({ registry: text, repo: text, tag: text, digest: text, id: text })
  .loose();

/**
 * `vuln.Vulnerability`, used for `vulnerabilities[]` and `complianceIssues[]`. Checked: what a
 * finding is keyed on (`cve`/`id`, `packageName`, `packageVersion`); the rest is unchecked.
 */
export const vulnerabilitySchema = z
  .object({
    cve: text,
    id: numberOrText,
    severity: lenientText,
    cvss: lenientCount,
    packageName: text,
    packageVersion: text,
    packageType: lenientText,
    status: lenientText,
    fixDate: lenientNumberOrText,
    published: lenientNumberOrText,
    discovered: lenientText,
    title: lenientText,
    description: lenientText,
    link: lenientText,
    vecStr: lenientText,
    cause: lenientText,
    type: lenientText,
    riskFactors: unchecked(z.record(z.string(), z.unknown()).nullish()),
  })
  .loose();

/** `shared.Package`: nothing in it is a key. */
export const packageSchema = z
  .object({
    name: lenientText,
    version: lenientText,
    license: lenientText,
    path: lenientText,
    cveCount: lenientCount,
  })
  .loose();

/** `shared.Packages`: one group per package type. */
export const packagesGroupSchema = z
  .object({ pkgsType: lenientText, pkgs: unchecked(z.array(packageSchema).nullish()) })
  .loose();

/** `vuln.Distribution`: the console's own counts, only compared with the lists. */
export const distributionSchema = z
  .object({
    critical: lenientCount,
    high: lenientCount,
    medium: lenientCount,
    low: lenientCount,
    total: lenientCount,
  })
  .loose();

/**
 * One registry image scan report (`shared.ImageScanResult`), as `/registry` serves it.
 *
 * @example
 * rawReportSchema.parse({ _id: 'sha256:ab', repoTag: { registry: '', repo: 'library/alpine', tag: '3' }, vulnerabilities: null, extra: 1 });
 * // passes, `extra` kept
 */
export const rawReportSchema = z
  .object({
    _id: z.string(),
    id: lenientText,
    type: lenientText,
    repoTag: imageTagSchema.nullish(),
    tags: z.array(imageTagSchema).nullish(),
    scanTime: lenientText,
    firstScanTime: lenientText,
    creationTime: lenientText,
    hostname: lenientText,
    scanVersion: lenientText,
    osDistro: lenientText,
    osDistroRelease: lenientText,
    osDistroVersion: lenientText,
    distro: lenientText,
    vulnerabilities: z.array(vulnerabilitySchema).nullish(),
    complianceIssues: z.array(vulnerabilitySchema).nullish(),
    packages: z.array(packagesGroupSchema).nullish(),
    vulnerabilitiesCount: lenientCount,
    complianceIssuesCount: lenientCount,
    vulnerabilityDistribution: unchecked(distributionSchema.nullish()),
    complianceDistribution: unchecked(distributionSchema.nullish()),
    repoDigests: unchecked(z.array(z.string()).nullish()),
    labels: unchecked(z.array(z.string()).nullish()),
    collections: unchecked(z.array(z.string()).nullish()),
  })
  .loose();

/** A validated report: the fields above typed, every other field kept as the console sent it. */
export type RawReport = z.infer<typeof rawReportSchema>;

/** `shared.Progress`: one step of a registry scan. */
export const progressStepSchema = z
  .object({
    id: text,
    type: text,
    discovery: z.boolean().nullish(),
    onDemand: z.boolean().nullish(),
    total: count,
    scanned: count,
    title: text,
    hostname: text,
    scanTime: text,
    error: text,
  })
  .loose();

/** `shared.RegistryScanProgress`: one entry of `/registry/progress`. */
export const scanProgressSchema = z
  .object({
    isScanOngoing: z.boolean().nullish(),
    discovery: progressStepSchema.nullish(),
    imageScan: progressStepSchema.nullish(),
    specScanStartTime: text,
  })
  .loose();

export type ScanProgress = z.infer<typeof scanProgressSchema>;

/** `typeof` as a person would say it: `null` and `array` are not `object`. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The value at a zod issue path inside `root`. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Object.hasOwn(current, key) ? (current as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return current;
}

/** `report[3].repoTag.repo`, `report[0].vulnerabilities[12].cvss`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** `expected string, got number`: zod 4 names what it wanted; the raw value says what came. */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const got = valueAt(root, issue.path);
  if (issue.code === 'invalid_type') {
    return `expected ${issue.expected}, got ${got === undefined ? 'nothing (missing)' : describeType(got)}`;
  }
  if (issue.code === 'invalid_union') return `expected number or string, got ${describeType(got)}`;
  return issue.message;
}

/**
 * A report of a `/registry` page that fails the schema (a key field of the wrong type, no `_id`).
 * It is handed on, not fatal: it keeps its slot on the page, and the engine quarantines it.
 */
export interface InvalidReport {
  /** Its position in the response (the response's offset + index = its place in the console's list). */
  index: number;
  /** The first problem with its path, e.g. `report[3].repoTag.repo: expected string, got number (+1 more)`. */
  reason: string;
  /** The report's own paths of its problems (`repoTag.repo`, `_id`), at most five. */
  paths: string[];
  /** What of the identity is text: `_id` and `repoTag` registry/repo/tag, each null when it is not. */
  readable: { id: string | null; registry: string | null; repo: string | null; tag: string | null };
  /** SHA-256 (hex) of the report as JSON; null when it cannot be serialized (nesting too deep). */
  sha256: string | null;
  /** The console's value itself, unread: the engine reads what identity it can by the normalizer's rule. */
  raw: unknown;
}

/** One slot of a `/registry` page, in console order. */
export type PageItem = { kind: 'report'; report: RawReport } | { kind: 'invalid'; invalid: InvalidReport };

/**
 * Validates one `/registry` response body: a JSON array of reports. Each report is checked on its
 * own: a report that fails the schema becomes an `invalid` item in its slot, the others are
 * returned as they came (SPEC §4.7: one bad report never costs the page).
 *
 * @param where how to name the page in an error, e.g. `page offset=100`
 * @throws SyncError `client.schema` when the body is not an array (the whole page is unusable).
 * @example
 * const items = parseRegistryPage(JSON.parse(text), 'page offset=0');
 * items.filter((i) => i.kind === 'invalid'); // [{ kind: 'invalid', invalid: { index: 3, reason: 'report[3].repoTag.repo: expected string, got number', ... } }]
 */
export function parseRegistryPage(body: unknown, where: string): PageItem[] {
  if (!Array.isArray(body)) {
    throw new SyncError(
      'client.schema',
      `${where}: expected a JSON array of reports, got ${describeType(body)}`,
      {
        where,
        path: '',
      },
    );
  }
  const items: PageItem[] = [];
  for (let index = 0; index < body.length; index++) {
    const raw: unknown = body[index];
    const result = rawReportSchema.safeParse(raw);
    // The validated value is the input itself: the schemas transform nothing, so no copy is made.
    if (result.success) items.push({ kind: 'report', report: raw as RawReport });
    else items.push({ kind: 'invalid', invalid: invalidReport(raw, index, result.error.issues) });
  }
  return items;
}

function invalidReport(raw: unknown, index: number, issues: readonly z.core.$ZodIssue[]): InvalidReport {
  const [first] = issues;
  const path = formatPath([index, ...(first?.path ?? [])]);
  const problem = first === undefined ? 'invalid report' : describeIssue(first, raw);
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
  return {
    index,
    reason: `report${path}: ${problem}${more}`,
    paths: issues.slice(0, 5).map((issue) => formatPath(issue.path)),
    readable: readableIdentity(raw),
    sha256: digestOf(raw),
    raw,
  };
}

/** `_id` and `repoTag` registry/repo/tag, each where it is text. */
function readableIdentity(raw: unknown): InvalidReport['readable'] {
  const textAt = (path: readonly string[]): string | null => {
    const value = valueAt(raw, path);
    return typeof value === 'string' ? value : null;
  };
  return {
    id: textAt(['_id']),
    registry: textAt(['repoTag', 'registry']),
    repo: textAt(['repoTag', 'repo']),
    tag: textAt(['repoTag', 'tag']),
  };
}

function digestOf(raw: unknown): string | null {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? 'null';
  } catch {
    // JSON.stringify overflows the stack past a few thousand levels of nesting.
    return null;
  }
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Validates one `/registry/progress` response body.
 *
 * @throws SyncError `client.schema` with the entry index and field path.
 */
export function parseScanProgress(body: unknown, where: string): ScanProgress[] {
  const result = z.array(scanProgressSchema).safeParse(body);
  if (!result.success) {
    const [first] = result.error.issues;
    const path = first === undefined ? '' : formatPath(first.path);
    const problem = first === undefined ? 'invalid' : describeIssue(first, body);
    throw new SyncError('client.schema', `${where} entry${path === '' ? '' : path}: ${problem}`, {
      where,
      path: `entry${path}`,
    });
  }
  return body as ScanProgress[];
}
