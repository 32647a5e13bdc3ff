import { SyncError } from '../common/errors.js';
import type { ImageRecord, NormalizedReport, Severity, SeverityCounts } from '../common/records.js';
import { normalizeCompliance } from './compliance.js';
import { NORMALIZATION_VERSION, normalizeFindings, readRiskFactors } from './findings.js';
import { canonicalJson, sha256Hex } from './hash.js';
import { imageKeyString, oddNameParts, readTags, resolveIdentity } from './identity.js';
import { IMAGE_KEY_MAX_BYTES, TEXT_MAX_CHARS } from './limits.js';
import { normalizePackages } from './packages.js';
import { asObject, capText, field, finiteNumber, presentText, preview, type RawObject } from './read.js';
import { parseTime } from './time.js';
import { Warnings } from './warnings.js';

/** What the caller knows about a report that the report itself does not say. */
export interface NormalizeContext {
  /** The console the report came from; part of every image identity. */
  consoleId: string;
  /**
   * The image name (`registry/repo:tag`) to use when the report names none: twistcli output has
   * no `repoTag`, `_id` or `tags`, but the importer knows what it scanned. Used only as the last
   * fallback (see `resolveIdentity`).
   */
  imageName?: string;
}

/**
 * Normalizes one registry scan report (a `/registry` array element, already JSON-parsed) into
 * the records the store writes. Pure: no I/O, no clock, no environment; the same input always
 * gives the same output, whatever the order of its arrays.
 *
 * - Identity from `repoTag`, else a name-like `_id`, else `tags[]`, else `context.imageName`.
 * - Findings, compliance and packages: see `normalizeFindings`, `normalizeCompliance`,
 *   `normalizePackages`. Severities: see `VENDOR_SEVERITIES`. Times: see `normalizeTime`.
 * - Counts come from the arrays, never from the console's counters (which disagree with the
 *   arrays in real data); a disagreement is a warning. A report without a vulnerability list
 *   whose counters say it has vulnerabilities (`compact=true`, trimmed) keeps empty findings and
 *   zero counts, gets a warning and sets `image.findingsIncomplete`, so the store does not take
 *   it for a clean image and resolve its findings.
 * - `image.contentHash` covers what the image is (identity, report id, digest, image id, tags,
 *   OS, every finding's key and content hash, compliance, packages, risk factor count, the
 *   incomplete flag) and nothing volatile (`VOLATILE_REPORT_FIELDS`): a rescan that found the
 *   same things hashes the same.
 *
 * @throws SyncError `normalize.invalid` when the report is not an object, the console id is
 *   empty, or no image identity can be found (`details.field` names the field).
 *
 * @example
 * const { image, findings } = normalizeReport(reports[1], { consoleId: 'console-a' });
 * image.identity;   // { consoleId: 'console-a', registry: '', repo: 'library/alpine', tag: '3.11.2' }
 * findings[0]?.key; // 'CVE-2018-0495|libgcrypt20|1.8.2-2'
 */
export function normalizeReport(raw: unknown, context: NormalizeContext): NormalizedReport {
  const report = reportObject(raw, context);
  const warnings = new Warnings();
  const { identity, digest } = imageIdentity(report, context, warnings);

  const rawVulnerabilities = field(report, 'vulnerabilities');
  const { findings, rowCount } = normalizeFindings(rawVulnerabilities, warnings);
  const compliance = normalizeCompliance(report, warnings);
  const packages = normalizePackages(report, warnings);
  const findingsIncomplete = checkCounts(report, { findings, rowCount, compliance }, warnings);

  const image = imageRecord(report, identity, digest, warnings, {
    vulnerabilityCounts: countBySeverity(findings),
    complianceCounts: countBySeverity(compliance),
    packageCount: packages.length,
  });
  if (findingsIncomplete) image.findingsIncomplete = true;
  image.contentHash = contentHashOf(image, findings, compliance, packages);
  return { image, findings, compliance, packages, warnings: warnings.list() };
}

/** The report as an object, for a console id that is not empty. */
function reportObject(raw: unknown, context: NormalizeContext): RawObject {
  const report = asObject(raw);
  if (report === undefined) {
    const kind = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw;
    throw new SyncError('normalize.invalid', `scan report is ${kind}, not a JSON object`, {
      field: '(report)',
    });
  }
  if (typeof context.consoleId !== 'string' || context.consoleId.trim() === '') {
    throw new SyncError('normalize.invalid', 'console id is empty', { field: 'consoleId' });
  }
  return report;
}

/** The image's identity and digest; warns about a fallback source or an odd name, refuses an overlong key. */
function imageIdentity(
  report: RawObject,
  context: NormalizeContext,
  warnings: Warnings,
): Pick<ReturnType<typeof resolveIdentity>, 'identity' | 'digest'> {
  const { identity, source, digest } = resolveIdentity(report, context.consoleId, context.imageName);
  if (source !== 'repoTag')
    warnings.add(`image identity taken from ${source}: the report has no repoTag.repo`);
  for (const part of oddNameParts(identity)) {
    warnings.add(
      `${part} ${JSON.stringify(capText(identity[part], 80).text)} has surrounding whitespace or control characters: kept as sent, a distinct image from the trimmed name`,
    );
  }
  const imageKey = imageKeyString(identity);
  if (Buffer.byteLength(imageKey, 'utf8') > IMAGE_KEY_MAX_BYTES) {
    throw new SyncError('normalize.invalid', `image name is longer than ${IMAGE_KEY_MAX_BYTES} bytes`, {
      field: source,
      imageKey: capText(imageKey, 120).text,
    });
  }
  return { identity, digest };
}

/**
 * Compares what was read with the console's counters (warnings only); true when the report has no
 * vulnerability list although its counters say it has vulnerabilities (a compact or trimmed report).
 */
function checkCounts(
  report: RawObject,
  read: { findings: readonly unknown[]; rowCount: number; compliance: readonly unknown[] },
  warnings: Warnings,
): boolean {
  const rawVulnerabilities = field(report, 'vulnerabilities');
  const hasVulnerabilityList = Array.isArray(rawVulnerabilities);
  if (rawVulnerabilities !== undefined && rawVulnerabilities !== null && !hasVulnerabilityList) {
    warnings.add(`vulnerabilities is ${typeof rawVulnerabilities}, not an array: no findings read from it`);
  }
  const vulnerabilityClaims = consoleCounters(report, 'vulnerabilitiesCount', 'vulnerabilityDistribution');
  const findingsIncomplete = !hasVulnerabilityList && vulnerabilityClaims.some((claim) => claim.value > 0);
  if (findingsIncomplete) {
    warnings.add(
      `vulnerabilities is ${rawVulnerabilities === undefined ? 'missing' : rawVulnerabilities === null ? 'null' : 'not a list'} although ${describe(vulnerabilityClaims)}: ` +
        'a compact or trimmed report; findings are empty and findingsIncomplete is set',
    );
  } else {
    warnDisagreement(warnings, vulnerabilityClaims, read.findings.length, read.rowCount, 'vulnerabilities');
  }
  const complianceRows = countRows(report, 'complianceIssues') + countRows(report, 'compliances');
  warnDisagreement(
    warnings,
    consoleCounters(report, 'complianceIssuesCount', 'complianceDistribution'),
    read.compliance.length,
    complianceRows,
    'compliance issues',
  );
  return findingsIncomplete;
}

/** The image item, but for its content hash (the caller's, once the record is complete). */
function imageRecord(
  report: RawObject,
  identity: ImageRecord['identity'],
  digest: string | null,
  warnings: Warnings,
  counts: Pick<ImageRecord, 'vulnerabilityCounts' | 'complianceCounts' | 'packageCount'>,
): ImageRecord {
  const scanTime = parseTime(field(report, 'scanTime'));
  if (scanTime.invalid)
    warnings.add(
      `scanTime ${JSON.stringify(capText(preview(field(report, 'scanTime')), 80).text)} is not a time`,
    );

  const short = (value: string | null): string | null =>
    value === null ? null : capText(value, TEXT_MAX_CHARS).text;
  return {
    identity,
    reportId: short(presentText(field(report, '_id'))?.trim() ?? null) ?? '',
    digest: short(digest),
    imageId: short(presentText(field(report, 'id'))?.trim() ?? null),
    scanTime: scanTime.iso,
    tags: readTags(report),
    osDistro: short(textField(report, 'osDistro', warnings) ?? textField(report, 'distro', warnings)),
    osDistroVersion: short(
      textField(report, 'osDistroVersion', warnings) ?? textField(report, 'osDistroRelease', warnings),
    ),
    scanVersion: short(textField(report, 'scanVersion', warnings)),
    vulnerabilityCounts: counts.vulnerabilityCounts,
    complianceCounts: counts.complianceCounts,
    packageCount: counts.packageCount,
    riskFactorCount: readRiskFactors(field(report, 'riskFactors')).length,
    contentHash: '',
  };
}

/** What the image is (see {@link normalizeReport}), hashed: nothing volatile. */
function contentHashOf(
  image: ImageRecord,
  findings: NormalizedReport['findings'],
  compliance: NormalizedReport['compliance'],
  packages: NormalizedReport['packages'],
): string {
  return sha256Hex(
    canonicalJson({
      v: NORMALIZATION_VERSION,
      identity: image.identity,
      reportId: image.reportId,
      digest: image.digest,
      imageId: image.imageId,
      tags: image.tags,
      osDistro: image.osDistro,
      osDistroVersion: image.osDistroVersion,
      findings: findings.map((finding) => [finding.key, finding.contentHash]),
      compliance,
      packages,
      riskFactorCount: image.riskFactorCount,
      findingsIncomplete: image.findingsIncomplete ?? false,
    }),
  );
}

/**
 * A descriptive text field the product does not key on, read leniently: text as it is, a value of
 * another type (`osDistro: 12`, an object) is absent, with a warning naming the field.
 */
function textField(report: RawObject, name: string, warnings: Warnings): string | null {
  const value = field(report, name);
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    warnings.add(`${name} is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not text: ignored`);
    return null;
  }
  return presentText(value);
}

/**
 * Counts per severity; `total` is their sum.
 *
 * @example
 * countBySeverity([{ severity: 'low' }, { severity: 'high' }]); // { critical: 0, high: 1, medium: 0, low: 1, total: 2 }
 */
export function countBySeverity(items: ReadonlyArray<{ severity: Severity }>): SeverityCounts {
  const counts: SeverityCounts = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  for (const { severity } of items) counts[severity] += 1;
  counts.total = counts.critical + counts.high + counts.medium + counts.low;
  return counts;
}

interface CounterClaim {
  name: string;
  value: number;
}

/** The console's own counters for a list, where present: `<count>` and `<distribution>.total`. */
function consoleCounters(report: RawObject, countField: string, distributionField: string): CounterClaim[] {
  const claims: CounterClaim[] = [];
  const count = finiteNumber(field(report, countField));
  if (count !== null) claims.push({ name: countField, value: count });
  const total = finiteNumber(field(asObject(field(report, distributionField)), 'total'));
  if (total !== null) claims.push({ name: `${distributionField}.total`, value: total });
  return claims;
}

function warnDisagreement(
  warnings: Warnings,
  claims: readonly CounterClaim[],
  distinct: number,
  rows: number,
  what: string,
): void {
  const disagreeing = claims.filter((claim) => claim.value !== distinct && claim.value !== rows);
  if (disagreeing.length === 0) return;
  const listed = rows === distinct ? `${distinct}` : `${rows} rows, ${distinct} distinct`;
  warnings.add(`${describe(disagreeing)} but the report lists ${listed} ${what}; counts come from the list`);
}

function describe(claims: readonly CounterClaim[]): string {
  return claims.map((claim) => `${claim.name} says ${claim.value}`).join(' and ');
}

function countRows(report: RawObject, name: string): number {
  const value = field(report, name);
  return Array.isArray(value) ? value.length : 0;
}
