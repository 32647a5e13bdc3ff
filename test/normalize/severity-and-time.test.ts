import { describe, expect, it } from 'vitest';
import { normalizeSeverity, normalizeTime, parseTime } from '../../lambda/normalize/index.js';

describe('normalizeSeverity', () => {
  it.each([
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
  ] as const)('maps the vendor word %j to %s', (vendor, severity) => {
    expect(normalizeSeverity(vendor)).toEqual({ severity, vendorSeverity: vendor, recognized: true });
  });

  it('matches case and whitespace loosely but keeps the vendor spelling as given', () => {
    expect(normalizeSeverity(' Important ')).toEqual({
      severity: 'high',
      vendorSeverity: ' Important ',
      recognized: true,
    });
  });

  it('treats a missing severity as low with an empty vendor word', () => {
    expect(normalizeSeverity(null)).toEqual({ severity: 'low', vendorSeverity: '', recognized: true });
    expect(normalizeSeverity(undefined)).toEqual({ severity: 'low', vendorSeverity: '', recognized: true });
  });

  it('rates an unrecognized word by its cvss and flags it', () => {
    expect(normalizeSeverity('severe', 9.8)).toEqual({
      severity: 'critical',
      vendorSeverity: 'severe',
      recognized: false,
    });
    expect(normalizeSeverity('severe', 7)).toMatchObject({ severity: 'high' });
    expect(normalizeSeverity('severe', 4)).toMatchObject({ severity: 'medium' });
    expect(normalizeSeverity('severe', 3.9)).toMatchObject({ severity: 'low' });
    expect(normalizeSeverity('info', null)).toEqual({
      severity: 'low',
      vendorSeverity: 'info',
      recognized: false,
    });
  });
});

describe('normalizeTime', () => {
  it.each([
    ['Go zero time', '0001-01-01T00:00:00Z'],
    ['epoch 0', 0],
    ['epoch 0 as text', '0'],
    ['the Unix epoch in ISO form', '1970-01-01T00:00:00Z'],
    ['an empty string', ''],
    ['null', null],
    ['undefined', undefined],
    ['a negative epoch', -5],
  ])('reads %s as no time', (_label, value) => {
    expect(parseTime(value)).toEqual({ iso: null, invalid: false });
  });

  it('reads epoch seconds, including as text, and epoch milliseconds', () => {
    expect(normalizeTime(1528932540)).toBe('2018-06-13T23:29:00.000Z');
    expect(normalizeTime('1528932540')).toBe('2018-06-13T23:29:00.000Z');
    expect(normalizeTime(1528932540123)).toBe('2018-06-13T23:29:00.123Z');
  });

  it('renders ISO times as UTC with millisecond precision', () => {
    expect(normalizeTime('2019-12-30T23:08:06.611Z')).toBe('2019-12-30T23:08:06.611Z');
    expect(normalizeTime('2024-01-08T10:52:12.1Z')).toBe('2024-01-08T10:52:12.100Z');
    expect(normalizeTime('2024-01-08T10:52:12.123456789Z')).toBe('2024-01-08T10:52:12.123Z');
    expect(normalizeTime('2023-09-20T14:53:12.177+02:00')).toBe('2023-09-20T12:53:12.177Z');
    expect(normalizeTime('2023-09-20T10:53:12-0200')).toBe('2023-09-20T12:53:12.000Z');
    expect(normalizeTime('2023-09-20')).toBe('2023-09-20T00:00:00.000Z');
  });

  it('reads a zone-less ISO time as UTC, never as the machine time zone', () => {
    expect(normalizeTime('2023-09-20T12:53:12')).toBe('2023-09-20T12:53:12.000Z');
  });

  it.each([
    ['the XSOAR rendering', 'January 01, 1970 00:00:00 AM'],
    ['a day that does not exist', '2023-02-31T00:00:00Z'],
    ['an hour out of range', '2023-02-01T25:00:00Z'],
    ['an epoch past the year 9999', 1e15],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
    ['an object', { seconds: 1 }],
    ['a boolean', true],
  ])('reads %s as an invalid time, never throwing', (_label, value) => {
    expect(parseTime(value)).toEqual({ iso: null, invalid: true });
  });
});
