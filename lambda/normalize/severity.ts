import type { Severity } from '../common/records.js';

/**
 * Every vendor spelling the console is known to use, mapped to our four levels. Matching is
 * case-insensitive and ignores surrounding whitespace.
 *
 * | vendor word                                   | severity   |
 * | --------------------------------------------- | ---------- |
 * | `critical`                                    | `critical` |
 * | `high`, `important`                           | `high`     |
 * | `medium`, `moderate`                          | `medium`   |
 * | `low`, `unimportant`, `negligible`, `unknown`, `''`, missing | `low` |
 *
 * `important`/`moderate`/`unimportant`/`negligible` are the distro feeds' words (Red Hat,
 * Ubuntu, Debian) that the console passes through unchanged.
 */
export const VENDOR_SEVERITIES: ReadonlyMap<string, Severity> = new Map<string, Severity>([
  ['critical', 'critical'],
  ['high', 'high'],
  ['important', 'high'],
  ['medium', 'medium'],
  ['moderate', 'medium'],
  ['low', 'low'],
  ['unimportant', 'low'],
  ['negligible', 'low'],
  ['unknown', 'low'],
  ['', 'low'],
]);

/** Ordering of severities, most severe highest: used to merge duplicates and to sort. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { critical: 3, high: 2, medium: 1, low: 0 };

/** The normalized level and the vendor's own word, kept as given. */
export interface NormalizedSeverity {
  severity: Severity;
  /** The console's spelling exactly as sent (`''` when missing), so nothing is lost. */
  vendorSeverity: string;
  /** False when the word is not in {@link VENDOR_SEVERITIES}; the caller records a warning. */
  recognized: boolean;
}

/**
 * Maps a vendor severity word to `critical|high|medium|low` (see {@link VENDOR_SEVERITIES}).
 *
 * A word we do not know (a new console version, another feed) is not silently called `low`
 * when a CVSS score says more: with `cvss > 0` the CVSS v3 qualitative scale decides
 * (>= 9 critical, >= 7 high, >= 4 medium, else low); without one it is `low`. Either way
 * `recognized` is false so the caller can warn.
 *
 * @example
 * normalizeSeverity('important');  // { severity: 'high', vendorSeverity: 'important', recognized: true }
 * normalizeSeverity(null);         // { severity: 'low', vendorSeverity: '', recognized: true }
 * normalizeSeverity('severe', 9.8); // { severity: 'critical', vendorSeverity: 'severe', recognized: false }
 */
export function normalizeSeverity(
  vendor: string | null | undefined,
  cvss?: number | null,
): NormalizedSeverity {
  const vendorSeverity = vendor ?? '';
  const known = VENDOR_SEVERITIES.get(vendorSeverity.trim().toLowerCase());
  if (known !== undefined) return { severity: known, vendorSeverity, recognized: true };
  return { severity: severityFromCvss(cvss), vendorSeverity, recognized: false };
}

/**
 * The CVSS v3 qualitative rating of a score (`null`, 0 and negatives are `low`).
 *
 * @example
 * severityFromCvss(7.5); // 'high'
 */
export function severityFromCvss(cvss: number | null | undefined): Severity {
  if (cvss === null || cvss === undefined || !(cvss > 0)) return 'low';
  if (cvss >= 9) return 'critical';
  if (cvss >= 7) return 'high';
  if (cvss >= 4) return 'medium';
  return 'low';
}
