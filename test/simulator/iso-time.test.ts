import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsciiWriter } from '../../simulator/ascii-writer.js';
import { isoTime, writeIsoTime } from '../../simulator/iso-time.js';

function written(ms: number): string {
  const out = new AsciiWriter(8);
  writeIsoTime(out, ms);
  return out.toString();
}

const edges = [
  0,
  1,
  Date.UTC(1970, 11, 31, 23, 59, 59, 999),
  Date.UTC(2000, 1, 29, 12, 0, 0, 5), // leap day of a century divisible by 400
  Date.UTC(2100, 1, 28, 23, 59, 59, 999), // 2100 is not a leap year
  Date.UTC(2100, 2, 1),
  Date.UTC(2024, 11, 31, 23, 59, 59, 999),
  Date.UTC(2025, 0, 1),
  253_402_300_799_999, // 9999-12-31T23:59:59.999Z, the last four-digit year
];

describe('isoTime', () => {
  it('formats like Date#toISOString at calendar edges', () => {
    for (const ms of edges) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(written(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('formats like Date#toISOString for any integer time from 1970 to year 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        const expected = new Date(ms).toISOString();
        return isoTime(ms) === expected && written(ms) === expected;
      }),
      { numRuns: 20_000, seed: 42 },
    );
  });

  it('falls back to Date outside its fast range (before 1970, after 9999, fractions)', () => {
    for (const ms of [-1, -86_400_000 * 365, 253_402_300_800_000, 1.5]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(written(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
