/**
 * `Date.prototype.toISOString` without a Date: the generator formats several timestamps per
 * report, and allocating a Date to format each one was a tenth of a compact report's cost.
 */
import type { AsciiWriter } from './ascii-writer.js';

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const DAY_MS = 86_400_000;
/** 9999-12-31T23:59:59.999Z: beyond it (or before 1970) toISOString's format changes; use it there. */
const MAX_FAST_MS = 253_402_300_799_999;

/** The fields of one instant, reused by every call (single-threaded, never held across calls). */
const fields = { year: 0, month: 0, day: 0, hours: 0, minutes: 0, seconds: 0, millis: 0 };

/** Whether {@link splitTime} handles `ms` (else fall back to Date). */
function fastRange(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 0 && ms <= MAX_FAST_MS;
}

/** Fills {@link fields} for an integer ms in [0, MAX_FAST_MS] (Howard Hinnant's civil_from_days). */
function splitTime(ms: number): typeof fields {
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  fields.hours = Math.floor(rest / 3_600_000);
  rest -= fields.hours * 3_600_000;
  fields.minutes = Math.floor(rest / 60_000);
  rest -= fields.minutes * 60_000;
  fields.seconds = Math.floor(rest / 1000);
  fields.millis = rest - fields.seconds * 1000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  fields.day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  fields.month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  fields.year = yearOfEra + era * 400 + (fields.month <= 2 ? 1 : 0);
  return fields;
}

/**
 * The ISO 8601 form of an epoch-milliseconds integer, byte-identical to
 * `new Date(ms).toISOString()` (days from the civil calendar algorithm, no Date allocated).
 *
 * @example
 * isoTime(0); // '1970-01-01T00:00:00.000Z'
 * isoTime(Date.UTC(2025, 5, 1, 12, 30, 5, 7)); // '2025-06-01T12:30:05.007Z'
 */
export function isoTime(ms: number): string {
  if (!fastRange(ms)) return new Date(ms).toISOString();
  const t = splitTime(ms);
  return `${t.year}-${TWO_DIGITS[t.month]}-${TWO_DIGITS[t.day]}T${TWO_DIGITS[t.hours]}:${TWO_DIGITS[t.minutes]}:${TWO_DIGITS[t.seconds]}.${THREE_DIGITS[t.millis]}Z`;
}

/**
 * Writes {@link isoTime}`(ms)` into `out` without building the string.
 *
 * @example
 * const out = new AsciiWriter();
 * writeIsoTime(out, 0);
 * out.toString(); // '1970-01-01T00:00:00.000Z'
 */
export function writeIsoTime(out: AsciiWriter, ms: number): void {
  if (!fastRange(ms)) {
    out.text(new Date(ms).toISOString());
    return;
  }
  const t = splitTime(ms);
  out.timestamp(t.year, t.month, t.day, t.hours, t.minutes, t.seconds, t.millis);
}
