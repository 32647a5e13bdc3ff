/**
 * The records `normalizeReport` produces and the store persists. Both sides import only
 * these types, never each other. Times are ISO-8601 strings; a console "zero time"
 * (`0001-01-01T00:00:00Z`, epoch 0) becomes `null`.
 */

/** Normalized severity. The vendor's own word is kept beside it (`vendorSeverity`). */
export type Severity = 'critical' | 'high' | 'medium' | 'low';

export interface SeverityCounts {
  critical: number;
  high: number;
  medium: number;
  low: number;
  total: number;
}

/** What identifies an image: console + registry + repo + tag. Digest and image id change over time. */
export interface ImageIdentity {
  consoleId: string;
  /** Empty string for Docker Hub / local images, as the console reports it. */
  registry: string;
  repo: string;
  tag: string;
}

/** One vulnerability of one package version in one image. */
export interface FindingRecord {
  /**
   * Stable within the image: `${id}|${packageName}|${packageVersion}` (a `|` or `\` inside a part
   * is escaped with `\`; a key over 512 UTF-8 bytes is a prefix plus its SHA-256: see `findingKey`).
   */
  key: string;
  /** The `cve` field, or `id` when `cve` is empty or missing. */
  id: string;
  severity: Severity;
  vendorSeverity: string;
  cvss: number | null;
  packageName: string;
  packageVersion: string;
  packageType: string | null;
  /** The console's status text, e.g. `fixed in 1.8.3-1`, `open`, `will not fix`. */
  status: string | null;
  fixDate: string | null;
  published: string | null;
  link: string | null;
  title: string | null;
  /** At most 8,192 characters (see `descriptionTruncated`); the raw report keeps the full text. */
  description: string | null;
  /** True when `description` was cut to its cap (huge vendor texts); absent otherwise. */
  descriptionTruncated?: boolean;
  vector: string | null;
  riskFactors: string[];
  /** Hash of the finding's content, so a changed finding (new status, new cvss) is detected. */
  contentHash: string;
}

/** One compliance issue of an image. */
export interface ComplianceRecord {
  /** Stable within the image: the numeric rule id as a string (plus the cause when ids repeat). */
  key: string;
  id: string;
  severity: Severity;
  vendorSeverity: string;
  title: string | null;
  cause: string | null;
  type: string | null;
}

/** One installed package of an image. */
export interface PackageRecord {
  type: string;
  name: string;
  version: string;
  license: string | null;
  path: string | null;
}

/** The current state of one image as one report describes it. */
export interface ImageRecord {
  identity: ImageIdentity;
  /** The report's `_id`: a sha256 on recent consoles, a name like `library/alpine:latest` on older ones. */
  reportId: string;
  digest: string | null;
  imageId: string | null;
  scanTime: string | null;
  /** Every repo tag the report lists for the same image (`tags[]`), kept so nothing is lost. */
  tags: Array<{ registry: string; repo: string; tag: string; digest: string | null }>;
  osDistro: string | null;
  osDistroVersion: string | null;
  scanVersion: string | null;
  vulnerabilityCounts: SeverityCounts;
  complianceCounts: SeverityCounts;
  packageCount: number;
  riskFactorCount?: number;
  /**
   * True when the report carries no vulnerability list although the console's own counters say
   * it has vulnerabilities (a `compact=true` or trimmed report). `findings` is then empty for
   * lack of data, not because the image is clean: the store must not resolve the image's open
   * findings from such a report. Absent otherwise.
   */
  findingsIncomplete?: boolean;
  /**
   * Hash of everything that matters in the report (findings, compliance, packages, digest,
   * identity) and nothing volatile (scan time, agent hostnames, counters the console recomputes).
   * Equal hashes mean "unchanged": the store writes nothing.
   */
  contentHash: string;
}

/** Everything one raw report becomes. */
export interface NormalizedReport {
  image: ImageRecord;
  findings: FindingRecord[];
  compliance: ComplianceRecord[];
  packages: PackageRecord[];
  /** Non-fatal oddities met while normalizing (counts that disagree with arrays, unknown severities). */
  warnings: string[];
}
