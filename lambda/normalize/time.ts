/**
 * Times in reports come as ISO-8601 strings (`scanTime`, Go's nanosecond precision), as epoch
 * seconds (`published`, `fixDate`, `layerTime`), and as "no value" spelled Go's zero time
 * `0001-01-01T00:00:00Z` or epoch `0`. Everything becomes one form: a UTC ISO string with
 * millisecond precision (`2019-12-30T23:08:06.611Z`, always 24 characters, so string order is
 * time order for the store's freshness conditions), or `null`.
 */

/** Epoch values at or above this are milliseconds: 1e11 seconds would be the year 5138. */
const EPOCH_MILLISECONDS_THRESHOLD = 1e11;
/** Largest time `toISOString` renders with a four-digit year (9999-12-31T23:59:59.999Z). */
const MAX_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** What {@link parseTime} found. */
export interface ParsedTime {
  /** The time as ISO-8601 UTC with milliseconds, or `null` for "no time". */
  iso: string | null;
  /** True when a value was present but is not a time we can read (the caller warns). */
  invalid: boolean;
}

/**
 * Reads a console time. "No time" (`null`, missing, `''`, zero time, epoch `0`, anything at or
 * before 1970-01-01T00:00:00Z — no real scan, publication or fix predates Unix time) is
 * `{ iso: null, invalid: false }`; unreadable text (`"January 01, 1970 00:00:00 AM"`, the
 * XSOAR rendering) is `{ iso: null, invalid: true }`.
 *
 * Only ISO-8601 and epoch numbers are read, never `Date.parse` on free text: its legacy formats
 * depend on the machine's time zone, and normalization must be pure. A zone-less ISO time is
 * read as UTC (the console always writes `Z`).
 *
 * @example
 * parseTime('0001-01-01T00:00:00Z'); // { iso: null, invalid: false }
 * parseTime(1528932540);             // { iso: '2018-06-13T23:29:00.000Z', invalid: false }
 */
export function parseTime(value: unknown): ParsedTime {
  if (value === null || value === undefined) return { iso: null, invalid: false };
  if (typeof value === 'number') return fromEpoch(value);
  if (typeof value !== 'string') return { iso: null, invalid: true };
  const trimmed = value.trim();
  if (trimmed === '') return { iso: null, invalid: false };
  if (/^[+-]?\d+(\.\d+)?$/.test(trimmed)) return fromEpoch(Number(trimmed));
  return fromIso(trimmed);
}

/**
 * A console time as ISO-8601 UTC (millisecond precision), or `null` for zero time, epoch 0,
 * `''`, missing, or unreadable values (see {@link parseTime}).
 *
 * @example
 * normalizeTime('0001-01-01T00:00:00Z');          // null
 * normalizeTime(0);                               // null
 * normalizeTime(1577215212);                      // '2019-12-24T19:20:12.000Z'
 * normalizeTime('2024-01-08T10:52:12.1Z');        // '2024-01-08T10:52:12.100Z'
 * normalizeTime('2023-09-20T14:53:12.177+02:00'); // '2023-09-20T12:53:12.177Z'
 */
export function normalizeTime(value: unknown): string | null {
  return parseTime(value).iso;
}

function fromEpoch(epoch: number): ParsedTime {
  if (!Number.isFinite(epoch)) return { iso: null, invalid: true };
  const ms = Math.abs(epoch) >= EPOCH_MILLISECONDS_THRESHOLD ? epoch : epoch * 1000;
  return fromMilliseconds(Math.trunc(ms));
}

function fromIso(value: string): ParsedTime {
  const match = ISO_TIME.exec(value);
  if (match === null) return { iso: null, invalid: true };
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Math.min(Number(s), 59); // a leap second (:60) is read as :59
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return { iso: null, invalid: true };
  }
  const millisecond = Number(fraction.slice(0, 3).padEnd(3, '0'));
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millisecond);
  if (utc.getUTCDate() !== day) return { iso: null, invalid: true }; // 2023-02-31 rolled over
  return fromMilliseconds(utc.getTime() - zoneOffsetMinutes(zone) * 60_000);
}

function zoneOffsetMinutes(zone: string): number {
  if (zone === 'Z' || zone === 'z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
}

function fromMilliseconds(ms: number): ParsedTime {
  if (ms <= 0) return { iso: null, invalid: false };
  if (ms > MAX_FOUR_DIGIT_YEAR_MS) return { iso: null, invalid: true };
  return { iso: new Date(ms).toISOString(), invalid: false };
}
