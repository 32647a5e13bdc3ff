/**
 * Normalization: raw console scan reports in, the records of `lambda/common/records.ts` out.
 * Pure functions only (no I/O, no clock, no environment), so they are property-tested directly.
 */
export { normalizeCompliance } from './compliance.js';
export { extractReports, type ReportDialect } from './extract-reports.js';
export { findingKey, NORMALIZATION_VERSION, normalizeFindings, readRiskFactors } from './findings.js';
export { canonicalJson, sha256Hex } from './hash.js';
export {
  imageKeyString,
  isDigestLike,
  type ParsedImageName,
  parseImageName,
  resolveIdentity,
} from './identity.js';
export {
  DESCRIPTION_MAX_CHARS,
  FINDING_KEY_MAX_BYTES,
  IMAGE_KEY_MAX_BYTES,
  TEXT_MAX_CHARS,
} from './limits.js';
export { countBySeverity, type NormalizeContext, normalizeReport } from './normalize-report.js';
export { normalizePackages } from './packages.js';
export {
  type NormalizedSeverity,
  normalizeSeverity,
  SEVERITY_RANK,
  severityFromCvss,
  VENDOR_SEVERITIES,
} from './severity.js';
export { normalizeTime, type ParsedTime, parseTime } from './time.js';
export { COUNTER_FIELDS, VOLATILE_FINDING_FIELDS, VOLATILE_REPORT_FIELDS } from './volatile.js';
