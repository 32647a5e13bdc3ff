/**
 * The normalizer's small parts, each against what its documentation promises: the lenient
 * readers, the warning tally, canonical JSON, time and severity edges, image names, compliance
 * keys and packages. The fixtures and properties exercise them through whole reports; these say
 * exactly which edge does what.
 */
import { describe, expect, it } from 'vitest';
import { oddNameParts, readTags } from '../../lambda/normalize/identity.js';
import {
  canonicalJson,
  isDigestLike,
  normalizeCompliance,
  normalizePackages,
  parseImageName,
  parseTime,
  severityFromCvss,
  sha256Hex,
} from '../../lambda/normalize/index.js';
import {
  asObject,
  capText,
  field,
  finiteNumber,
  presentText,
  preview,
  text,
} from '../../lambda/normalize/read.js';
import { Warnings } from '../../lambda/normalize/warnings.js';

describe('lenient readers', () => {
  it('asObject takes plain objects only', () => {
    const object = { a: 1 };
    expect(asObject(object)).toBe(object);
    for (const value of [null, undefined, [1], 'x', 3, true])
      expect(asObject(value), String(value)).toBeUndefined();
  });

  it('field reads own properties only, and nothing from no object', () => {
    expect(field({ a: 0 }, 'a')).toBe(0);
    expect(field(undefined, 'a')).toBeUndefined();
    expect(field({}, 'toString')).toBeUndefined();
    expect(field(Object.create({ a: 1 }) as Record<string, unknown>, 'a')).toBeUndefined();
  });

  it('text stringifies numbers, booleans and bigints, and nothing else', () => {
    expect(text('')).toBe('');
    expect(text(46)).toBe('46');
    expect(text(0)).toBe('0');
    expect(text(Number.NaN)).toBeNull();
    expect(text(Number.POSITIVE_INFINITY)).toBeNull();
    expect(text(false)).toBe('false');
    expect(text(10n)).toBe('10');
    for (const value of [null, undefined, {}, [], Symbol('s')]) expect(text(value)).toBeNull();
  });

  it('presentText calls blank text no value and keeps text with spaces around as sent', () => {
    expect(presentText('')).toBeNull();
    expect(presentText(' \t')).toBeNull();
    expect(presentText(' open ')).toBe(' open ');
    expect(presentText(7)).toBe('7');
    expect(presentText({})).toBeNull();
  });

  it('finiteNumber reads numbers and numeric text, nothing blank or infinite', () => {
    expect(finiteNumber(4.7)).toBe(4.7);
    expect(finiteNumber(' 4.7 ')).toBe(4.7);
    expect(finiteNumber('0')).toBe(0);
    for (const value of ['', '  ', 'abc', '1e400', Number.NaN, Number.NEGATIVE_INFINITY, null, true, {}])
      expect(finiteNumber(value), String(value)).toBeNull();
  });

  it('capText cuts at the limit plus an ellipsis and never splits a surrogate pair', () => {
    expect(capText('abc', 3)).toEqual({ text: 'abc', truncated: false });
    expect(capText('abcd', 3)).toEqual({ text: 'abc…', truncated: true });
    // '😀' is two UTF-16 units: cutting after 'a' + its first unit would leave a lone surrogate.
    expect(capText('a😀b', 2)).toEqual({ text: 'a…', truncated: true });
    expect(capText('a😀b', 3)).toEqual({ text: 'a😀…', truncated: true });
    // A low surrogate or a plain character at the cut is not moved.
    expect(capText('ab\udc00c', 3)).toEqual({ text: 'ab\udc00…', truncated: true });
    expect(capText('ab\ud7ffc', 3)).toEqual({ text: 'ab\ud7ff…', truncated: true });
    expect(capText('ab\ue000c', 3)).toEqual({ text: 'ab\ue000…', truncated: true });
    // The first and the last high surrogate.
    expect(capText('ab\ud800\udc00', 3)).toEqual({ text: 'ab…', truncated: true });
    expect(capText('ab\udbff\udfff', 3)).toEqual({ text: 'ab…', truncated: true });
  });

  it('preview quotes text, stringifies scalars and names containers', () => {
    expect(preview('January 01, 1970')).toBe('January 01, 1970');
    expect(preview(12)).toBe('12');
    expect(preview(null)).toBe('null');
    expect(preview(undefined)).toBe('undefined');
    expect(preview([1])).toBe('an array');
    expect(preview({ toString: null })).toBe('an object');
  });
});

describe('Warnings', () => {
  it('lists single lines in the order added, then tallies sorted by category with count and examples', () => {
    const warnings = new Warnings();
    warnings.tally('b things', 'x');
    warnings.add('second line');
    warnings.tally('a things');
    warnings.tally('a things');
    warnings.add('first? no, third line');
    expect(warnings.list()).toEqual([
      'second line',
      'first? no, third line',
      '2 a things',
      '1 b things (e.g. "x")',
    ]);
  });

  it('quotes the three smallest distinct examples whatever the order they came in', () => {
    const orders = [
      ['d', 'b', 'a', 'c', 'b', 'e'],
      ['e', 'c', 'a', 'b', 'd', 'a'],
      ['a', 'b', 'c', 'd', 'e', 'e'],
    ];
    const lists = orders.map((order) => {
      const warnings = new Warnings();
      for (const example of order) warnings.tally('rows', example);
      return warnings.list();
    });
    for (const list of lists) expect(list).toEqual(['6 rows (e.g. "a", "b", "c")']);
  });

  it('cuts a long example to 80 characters', () => {
    const warnings = new Warnings();
    warnings.tally('rows', 'x'.repeat(80));
    warnings.tally('rows', 'y'.repeat(81));
    expect(warnings.list()).toEqual([`2 rows (e.g. "${'x'.repeat(80)}", "${'y'.repeat(80)}…")`]);
  });
});

describe('canonicalJson and sha256Hex', () => {
  it('leaves undefined members out, writes undefined array items as null, and scalars as JSON', () => {
    expect(canonicalJson({ b: undefined, a: [undefined, 1], c: { z: 1, y: [] } })).toBe(
      '{"a":[null,1],"c":{"y":[],"z":1}}',
    );
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson({})).toBe('{}');
  });

  it('hashes UTF-8 text to hex SHA-256', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('time edges', () => {
  it('reads the epoch threshold between seconds and milliseconds, and truncates fractions', () => {
    // 1e11 - 1 is seconds (year 5138), 1e11 is milliseconds (1973).
    expect(parseTime(99_999_999_999).iso).toBe('5138-11-16T09:46:39.000Z');
    expect(parseTime(100_000_000_000).iso).toBe('1973-03-03T09:46:40.000Z');
    expect(parseTime(-100_000_000_000)).toEqual({ iso: null, invalid: false });
    expect(parseTime(1.9).iso).toBe('1970-01-01T00:00:01.900Z');
    expect(parseTime('1.5').iso).toBe('1970-01-01T00:00:01.500Z');
    expect(parseTime(0.0001)).toEqual({ iso: null, invalid: false });
  });

  it('takes the last millisecond of year 9999 and refuses the next one', () => {
    expect(parseTime(253_402_300_799_999).iso).toBe('9999-12-31T23:59:59.999Z');
    expect(parseTime(253_402_300_800_000)).toEqual({ iso: null, invalid: true });
    expect(parseTime('9999-12-31T23:59:59.999Z').iso).toBe('9999-12-31T23:59:59.999Z');
  });

  it('reads every ISO spelling the console and proxies use', () => {
    expect(parseTime('2023-09-20t10:53Z').iso).toBe('2023-09-20T10:53:00.000Z');
    expect(parseTime('2023-09-20 10:53:12,5z').iso).toBe('2023-09-20T10:53:12.500Z');
    expect(parseTime('  2023-09-20T10:53:12+05:30  ').iso).toBe('2023-09-20T05:23:12.000Z');
    expect(parseTime('2023-09-20T10:53:12-08').iso).toBe('2023-09-20T18:53:12.000Z');
    expect(parseTime('2023-09-20T10:53:12 +0130').iso).toBe('2023-09-20T09:23:12.000Z');
    // A leap second is read as :59.
    expect(parseTime('2016-12-31T23:59:60Z').iso).toBe('2016-12-31T23:59:59.000Z');
    expect(parseTime('2023-12-31T23:59:59Z').iso).toBe('2023-12-31T23:59:59.000Z');
    expect(parseTime('2023-01-01T00:00:00Z').iso).toBe('2023-01-01T00:00:00.000Z');
    expect(parseTime('2023-01-31').iso).toBe('2023-01-31T00:00:00.000Z');
  });

  it('reads a signed epoch and any number of decimals as epoch text', () => {
    expect(parseTime('+5').iso).toBe('1970-01-01T00:00:05.000Z');
    expect(parseTime('-5')).toEqual({ iso: null, invalid: false });
    expect(parseTime('1.25').iso).toBe('1970-01-01T00:00:01.250Z');
  });

  it.each([
    '2023-00-10',
    '2023-13-10',
    '2023-01-00',
    '2023-01-32',
    '2023-01-10T24:00:00Z',
    '2023-01-10T10:60:00Z',
    '2023-04-31',
    '23-01-10',
    '2023-01-10T10',
    'x2023-01-10',
    '2023-01-10Tx',
  ])('reads %j as an invalid time', (value) => {
    expect(parseTime(value)).toEqual({ iso: null, invalid: true });
  });
});

describe('severity from cvss', () => {
  it('uses the CVSS v3 scale at its exact boundaries', () => {
    expect(
      [10, 9, 8.9, 7, 6.9, 4, 3.9, 0.1, 0, -1, null, undefined, Number.NaN].map(severityFromCvss),
    ).toEqual([
      'critical',
      'critical',
      'high',
      'high',
      'medium',
      'medium',
      'low',
      'low',
      'low',
      'low',
      'low',
      'low',
      'low',
    ]);
  });
});

describe('image names', () => {
  it.each([
    [
      'https://registry.example.com/team/app:1',
      { registry: 'registry.example.com', repo: 'team/app', tag: '1', digest: null },
    ],
    ['oci+https://r.example/app', { registry: 'r.example', repo: 'app', tag: null, digest: null }],
    ['localhost/app', { registry: 'localhost', repo: 'app', tag: null, digest: null }],
    ['localhost:5000/app:2', { registry: 'localhost:5000', repo: 'app', tag: '2', digest: null }],
    ['team/app', { registry: '', repo: 'team/app', tag: null, digest: null }],
    ['app:', { registry: '', repo: 'app', tag: null, digest: null }],
    ['app@', { registry: '', repo: 'app', tag: null, digest: null }],
    ['r.example/app@sha256:ab', { registry: 'r.example', repo: 'app', tag: null, digest: 'sha256:ab' }],
    ['r.example:5000/app', { registry: 'r.example:5000', repo: 'app', tag: null, digest: null }],
    ['/app:1', { registry: '', repo: '/app', tag: '1', digest: null }],
    ['  app:1  ', { registry: '', repo: 'app', tag: '1', digest: null }],
    ['r.example', { registry: '', repo: 'r.example', tag: null, digest: null }],
  ] as const)('parses %j', (name, parsed) => {
    expect(parseImageName(name)).toEqual(parsed);
  });

  it('refuses a registry with no repository, a bare digest and a repository with a space', () => {
    expect(parseImageName('r.example/')).toBeNull();
    expect(parseImageName('@sha256:ab')).toBeNull();
    expect(parseImageName('a b')).toBeNull();
    expect(parseImageName('ab\t:1')).toBeNull();
  });

  it('tells digests and image ids from names', () => {
    expect(isDigestLike('sha256:CC0abc53')).toBe(true);
    expect(isDigestLike('a'.repeat(64))).toBe(true);
    expect(isDigestLike('a'.repeat(63))).toBe(false);
    expect(isDigestLike('a'.repeat(65))).toBe(false);
    expect(isDigestLike(`x${'a'.repeat(64)}`)).toBe(false);
    expect(isDigestLike('sha256:')).toBe(false);
    expect(isDigestLike('xsha256:ab')).toBe(false);
    expect(isDigestLike('sha256:abg')).toBe(false);
    expect(isDigestLike('library/alpine:latest')).toBe(false);
  });

  it('flags name parts with whitespace at either end or control characters', () => {
    const identity = { consoleId: 'c', registry: ' r', repo: 'a\u0007b', tag: '1 ' };
    expect(oddNameParts(identity)).toEqual(['registry', 'repo', 'tag']);
    expect(oddNameParts({ ...identity, registry: 'r', repo: 'a\u009fb', tag: 'a b' })).toEqual(['repo']);
    expect(oddNameParts({ ...identity, registry: '', repo: 'a~b', tag: '' })).toEqual([]);
  });

  it('reads tags[] without entries that name no repo, keeping digests, sorted and unique', () => {
    const tags = readTags({
      tags: [
        { registry: 'r', repo: 'b', tag: '1', digest: 'sha256:1' },
        { registry: 'r', repo: 'a', tag: 2 },
        'not an object',
        { registry: 'r', repo: '', tag: '1' },
        { registry: 'r', repo: 'b', tag: '1', digest: 'sha256:1' },
        { repo: 'c' },
      ],
    });
    expect(tags).toEqual([
      { registry: '', repo: 'c', tag: '', digest: null },
      { registry: 'r', repo: 'a', tag: '2', digest: null },
      { registry: 'r', repo: 'b', tag: '1', digest: 'sha256:1' },
    ]);
  });
});

describe('compliance keys', () => {
  it('keys by rule id, then by title without one, appending the cause and a position on collisions', () => {
    const warnings = new Warnings();
    const records = normalizeCompliance(
      {
        complianceIssues: [
          { id: 41, severity: 'high', title: 'root user', cause: 'user a' },
          { id: 41, severity: 'high', title: 'root user', cause: 'user b' },
          { id: 7, severity: 'low', title: 'x', cause: 'same' },
          { id: 7, severity: 'medium', title: 'x', cause: 'same' },
          { id: 9, severity: 'critical', title: 'lone' },
          'not an object',
        ],
        compliances: [{ title: 'a|b', severity: 'medium' }],
      },
      warnings,
    );
    expect(records.map((r) => [r.key, r.severity])).toEqual([
      ['41|user a', 'high'],
      ['41|user b', 'high'],
      ['7|same|1', 'low'],
      ['7|same|2', 'medium'],
      ['9', 'critical'],
      ['a\\|b', 'medium'],
    ]);
    expect(records.find((r) => r.key === '9')).toEqual({
      key: '9',
      id: '9',
      severity: 'critical',
      vendorSeverity: 'critical',
      title: 'lone',
      cause: null,
      type: null,
    });
    expect(warnings.list()).toEqual([
      '1 compliance entries that are not objects were ignored (e.g. "not an object")',
    ]);
  });

  it('numbers colliding issues in canonical order whatever the report order, and reads cause, type and a missing severity', () => {
    const warnings = new Warnings();
    const records = normalizeCompliance(
      {
        complianceIssues: [
          { id: 7, severity: 'medium', title: 'x', cause: 'same', type: 'image' },
          { id: 7, severity: 'low', title: 'x', cause: 'same' },
          { id: 8, title: 'no cause' },
          { id: 8, title: 'with cause', cause: 'c' },
        ],
        compliances: [{ severity: 'low' }],
      },
      warnings,
    );
    expect(records.map((r) => [r.key, r.vendorSeverity, r.type])).toEqual([
      ['', 'low', null],
      ['7|same|1', 'low', null],
      ['7|same|2', 'medium', 'image'],
      ['8|', '', null],
      ['8|c', '', null],
    ]);
    expect(warnings.list()).toEqual([]);
  });

  it('collapses identical rows and warns about an unknown severity and cut text', () => {
    const warnings = new Warnings();
    const row = { id: ' 5 ', severity: 'info', title: 't'.repeat(1_100) };
    const records = normalizeCompliance({ complianceIssues: [row, row] }, warnings);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ key: '5', id: '5', severity: 'low', vendorSeverity: 'info' });
    expect(records[0]!.title).toBe(`${'t'.repeat(1_024)}…`);
    expect(warnings.list()).toEqual([
      '2 compliance fields longer than 1024 characters were cut',
      '2 compliance issues with an unrecognized severity (e.g. "info")',
    ]);
  });
});

describe('packages', () => {
  it('reads both shapes, falls back to the group type, then unknown, and sorts', () => {
    const warnings = new Warnings();
    const packages = normalizePackages(
      {
        packages: [
          {
            pkgsType: 'os',
            pkgs: [{ name: 'zlib', version: '1' }, { name: 'bash', type: 'shell', version: '5' }, 3],
          },
          { type: 'nodejs', name: 'left-pad', version: '1.3.0', path: '/app/node_modules/left-pad' },
          { name: 'bare' },
          { pkgsType: 'python', name: 'six', version: '1.16' },
          { pkgs: [{ version: '2' }] },
          'not a group',
        ],
      },
      warnings,
    );
    expect(packages).toEqual([
      {
        type: 'nodejs',
        name: 'left-pad',
        version: '1.3.0',
        license: null,
        path: '/app/node_modules/left-pad',
      },
      { type: 'os', name: 'zlib', version: '1', license: null, path: null },
      { type: 'python', name: 'six', version: '1.16', license: null, path: null },
      { type: 'shell', name: 'bash', version: '5', license: null, path: null },
      { type: 'unknown', name: 'bare', version: '', license: null, path: null },
    ]);
    expect(warnings.list()).toEqual(['1 packages without a name were ignored']);
  });

  it('keeps one package per type, name, version, path and license', () => {
    const warnings = new Warnings();
    const pkg = { type: 'os', name: 'z', version: '1' };
    const packages = normalizePackages(
      {
        packages: [
          pkg,
          pkg,
          { ...pkg, path: '/a' },
          { ...pkg, path: '/b' },
          { ...pkg, license: 'MIT' },
          { ...pkg, license: 'GPL-2.0' },
          { ...pkg, name: 'n'.repeat(1_100) },
        ],
      },
      warnings,
    );
    expect(packages).toHaveLength(6);
    expect(warnings.list()).toEqual(['1 package fields longer than 1024 characters were cut']);
  });
});
