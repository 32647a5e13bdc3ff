/**
 * A reference reader of a raw console report's findings, written from SPEC.md alone and sharing no
 * code with lambda/normalize: the oracle tests compare what the product stored with. Kept small on
 * purpose, so it can be checked by eye.
 *
 * SPEC §5: a finding is identified by vulnerability id (`cve`, or `id` when `cve` is empty) +
 * package name + package version. SPEC §3: severities are `critical|high|medium|low`; the distro
 * words map as `important` → high, `moderate` → medium, `unimportant`/`negligible` → low. A word
 * outside that list falls back on the CVSS v3 rating of the row's score (lambda/normalize/README.md
 * documents the same rule), none at all is `low`. A CVSS score is a number from 0 to 10; anything
 * else is no score. The same key twice in one report is one finding with the most severe severity
 * and the highest score.
 */

export type ReferenceSeverity = 'critical' | 'high' | 'medium' | 'low';

export interface ReferenceFinding {
  id: string;
  packageName: string;
  packageVersion: string;
  severity: ReferenceSeverity;
  cvss: number | null;
}

const WORDS: Record<string, ReferenceSeverity> = {
  critical: 'critical',
  high: 'high',
  important: 'high',
  medium: 'medium',
  moderate: 'medium',
  low: 'low',
  unimportant: 'low',
  negligible: 'low',
  unknown: 'low',
  '': 'low',
};
const RANK: Record<ReferenceSeverity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function severityOf(word: unknown, cvss: number | null): ReferenceSeverity {
  const known = WORDS[typeof word === 'string' ? word.trim().toLowerCase() : ''];
  if (known) return known;
  if (cvss === null || cvss <= 0) return 'low';
  return cvss >= 9 ? 'critical' : cvss >= 7 ? 'high' : cvss >= 4 ? 'medium' : 'low';
}

/** The findings of one raw report, one per (id, package, version), as SPEC defines them. */
export function referenceFindings(report: unknown): ReferenceFinding[] {
  const rows = (report as { vulnerabilities?: unknown } | null)?.vulnerabilities;
  const byKey = new Map<string, ReferenceFinding>();
  for (const row of Array.isArray(rows) ? rows : []) {
    if (row === null || typeof row !== 'object') continue;
    const r = row as Record<string, unknown>;
    const id = text(r.cve) ?? text(r.id);
    if (id === undefined) continue; // an unidentified row: compared by count, not by key
    const cvss = typeof r.cvss === 'number' && r.cvss >= 0 && r.cvss <= 10 ? r.cvss : null;
    const finding: ReferenceFinding = {
      id,
      packageName: typeof r.packageName === 'string' ? r.packageName : '',
      packageVersion: typeof r.packageVersion === 'string' ? r.packageVersion : '',
      severity: severityOf(r.severity, cvss),
      cvss,
    };
    const key = JSON.stringify([finding.id, finding.packageName, finding.packageVersion]);
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, finding);
      continue;
    }
    if (RANK[finding.severity] > RANK[seen.severity]) seen.severity = finding.severity;
    if (finding.cvss !== null && (seen.cvss === null || finding.cvss > seen.cvss)) seen.cvss = finding.cvss;
  }
  return [...byKey.values()];
}

/** One comparable line per finding: id, package, version, severity, score. */
export function findingLines(
  findings: ReadonlyArray<
    Pick<ReferenceFinding, 'id' | 'packageName' | 'packageVersion' | 'severity' | 'cvss'>
  >,
): string[] {
  return findings
    .map((f) => JSON.stringify([f.id, f.packageName, f.packageVersion, f.severity, f.cvss]))
    .sort();
}
