/**
 * zod schemas for the parts of the console's answers the product reads: `shared.ImageScanResult`
 * (with `vuln.Vulnerability`, `shared.ImageTag`, `shared.Packages`, `vuln.Distribution`) from
 * `/registry`, and `shared.RegistryScanProgress` from `/registry/progress`
 * (shared/reference/prisma-compute-openapi-34.04-registry.json).
 *
 * Loose by design: every object is `.loose()`, so unknown and newer fields pass through; every
 * field but `_id` is optional and nullable, because real consoles omit fields and send `null`
 * (`vulnerabilities: null` on a clean image, `complianceIssues`/`packages: null` on agentless
 * scans, `riskFactors: null` in compliance issues). What a field holds when present is checked:
 * a wrong type there (`repoTag: 5`, `vulnerabilities: "x"`) fails the page with its path.
 * Where real data and the OpenAPI disagree, the real data wins: vulnerability `id` is a rule
 * number in API reports but a CVE string in twistcli output; `published`/`fixDate` are epoch
 * seconds, accepted as strings too (the normalizer reads both).
 *
 * The validated value is the console's own object, not a copy: nothing is dropped or rewritten.
 */
import { z } from 'zod';
import { SyncError } from '../common/errors.js';

const text = z.string().nullish();
const count = z.number().nullish();
/** A rule number (`46`) in API reports, a CVE id (`"CVE-2013-7459"`) in twistcli output. */
const numberOrText = z.union([z.number(), z.string()]).nullish();

/** `shared.ImageTag`: registry (`''` for Docker Hub), repo, tag, digest. */
export const imageTagSchema = z
  .object({ registry: text, repo: text, tag: text, digest: text, id: text })
  .loose();

/** `vuln.Vulnerability`, used for `vulnerabilities[]` and `complianceIssues[]`. */
export const vulnerabilitySchema = z
  .object({
    cve: text,
    id: numberOrText,
    severity: text,
    cvss: count,
    packageName: text,
    packageVersion: text,
    packageType: text,
    status: text,
    fixDate: numberOrText,
    published: numberOrText,
    discovered: text,
    title: text,
    description: text,
    link: text,
    vecStr: text,
    cause: text,
    type: text,
    riskFactors: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose();

/** `shared.Package`. */
export const packageSchema = z
  .object({ name: text, version: text, license: text, path: text, cveCount: count })
  .loose();

/** `shared.Packages`: one group per package type. */
export const packagesGroupSchema = z
  .object({ pkgsType: text, pkgs: z.array(packageSchema).nullish() })
  .loose();

/** `vuln.Distribution`. */
export const distributionSchema = z
  .object({ critical: count, high: count, medium: count, low: count, total: count })
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
    id: text,
    type: text,
    repoTag: imageTagSchema.nullish(),
    tags: z.array(imageTagSchema).nullish(),
    scanTime: text,
    firstScanTime: text,
    creationTime: text,
    hostname: text,
    scanVersion: text,
    osDistro: text,
    osDistroRelease: text,
    osDistroVersion: text,
    distro: text,
    vulnerabilities: z.array(vulnerabilitySchema).nullish(),
    complianceIssues: z.array(vulnerabilitySchema).nullish(),
    packages: z.array(packagesGroupSchema).nullish(),
    vulnerabilitiesCount: count,
    complianceIssuesCount: count,
    vulnerabilityDistribution: distributionSchema.nullish(),
    complianceDistribution: distributionSchema.nullish(),
    repoDigests: z.array(z.string()).nullish(),
    labels: z.array(z.string()).nullish(),
    collections: z.array(z.string()).nullish(),
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
 * Validates one `/registry` response body: a JSON array of reports.
 *
 * @param where how to name the page in an error, e.g. `page offset=100`
 * @throws SyncError `client.schema` naming the page, the report index and the field path:
 *   `page offset=100 report[3].repoTag.repo: expected string, got number`.
 * @example
 * const reports = parseRegistryPage(JSON.parse(text), 'page offset=0');
 */
export function parseRegistryPage(body: unknown, where: string): RawReport[] {
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
  for (let index = 0; index < body.length; index++) {
    const result = rawReportSchema.safeParse(body[index]);
    if (!result.success) {
      const [first] = result.error.issues;
      const path = formatPath([index, ...(first?.path ?? [])]);
      const problem = first === undefined ? 'invalid report' : describeIssue(first, body[index]);
      const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more)` : '';
      throw new SyncError('client.schema', `${where} report${path}: ${problem}${more}`, {
        where,
        reportIndex: index,
        path: `report${path}`,
        issues: result.error.issues.slice(0, 5).map((issue) => ({
          path: `report${formatPath([index, ...issue.path])}`,
          message: describeIssue(issue, body[index]),
        })),
      });
    }
  }
  // The validated value is the input itself: the schemas transform nothing, so no copy is made.
  return body as RawReport[];
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
