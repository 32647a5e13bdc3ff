/**
 * The store's key formats, written out. They are the layout of data already stored: a changed
 * separator, prefix or padding orphans every item written before it (the sweep, the queries and
 * the next run would no longer find them), so each format is pinned here literally, beside the
 * rules of the one key component function (escaping, the byte limit, the hash).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHANGE_FEED_SHARDS,
  changeGroupSk,
  changePk,
  changeShard,
  consolePk,
  currentImageKeys,
  findingSk,
  historySk,
  identityPk,
  imageKeyString,
  imagePk,
  keyPart,
  MAX_KEY_PART,
  monthOf,
  monthsBetween,
  openFindingKeys,
  rawPrefix,
  rawSk,
  runSeenPk,
  runSk,
  seenSk,
} from '../../lambda/store/keys.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const image = { registry: 'reg#1', repo: 'team/app%x', tag: 'v1#2' };

describe('keyPart', () => {
  it('percent-escapes % and # and keeps everything else', () => {
    expect(keyPart('a%b#c')).toBe('a%25b%23c');
    expect(keyPart('%23')).toBe('%2523');
    expect(keyPart('docker.io/library/alpine:3.19 é')).toBe('docker.io/library/alpine:3.19 é');
  });

  it('keeps a component of exactly MAX_KEY_PART UTF-8 bytes, and hashes one byte more', () => {
    expect(MAX_KEY_PART).toBe(256);
    const ascii = 'a'.repeat(MAX_KEY_PART);
    expect(keyPart(ascii)).toBe(ascii);
    expect(keyPart(`${ascii}a`)).toBe(`~sha256:${sha256(`${ascii}a`)}`);
    // 2 bytes per character: 128 fit, 129 do not (the limit is bytes, not characters).
    const twoByte = 'é'.repeat(MAX_KEY_PART / 2);
    expect(keyPart(twoByte)).toBe(twoByte);
    expect(keyPart(`${twoByte}é`)).toBe(`~sha256:${sha256(`${twoByte}é`)}`);
  });

  it('hashes a long component from its unescaped text, as lowercase hex', () => {
    const long = `${'#'.repeat(100)}x`; // 101 characters, 301 once escaped
    expect(keyPart(long)).toMatch(/^~sha256:[0-9a-f]{64}$/);
    expect(keyPart(long)).toBe(`~sha256:${sha256(long)}`);
    expect(keyPart('x'.repeat(300))).toBe(`~sha256:${sha256('x'.repeat(300))}`);
    expect(keyPart('x'.repeat(768))).toBe(`~sha256:${sha256('x'.repeat(768))}`);
  });
});

describe('image identity keys', () => {
  it('builds the image partition key from the console and the escaped registry, repo and tag', () => {
    expect(imagePk('con#1', image)).toBe('I#con%231#reg%231#team/app%25x#v1%232');
    expect(identityPk({ consoleId: 'con#1', ...image })).toBe('I#con%231#reg%231#team/app%25x#v1%232');
  });

  it('names an image registry/repo:tag, unescaped', () => {
    expect(imageKeyString(image)).toBe('reg#1/team/app%x:v1#2');
  });
});

describe('item sort keys', () => {
  it('pins the finding, history and raw chunk sort keys', () => {
    expect(findingSk('CVE-1#pkg')).toBe('F#CVE-1%23pkg');
    expect(historySk('2024-05-01T00:00:00.000Z', 'h#1')).toBe('H#2024-05-01T00:00:00.000Z#h%231');
    const raw = 'ab'.repeat(32);
    expect(rawPrefix('h#1', raw)).toBe('h%231#abababababababab#');
    expect(rawSk('h#1', raw, 0)).toBe('h%231#abababababababab#00000');
    expect(rawSk('h#1', raw, 42)).toBe('h%231#abababababababab#00042');
  });

  it('sorts raw chunks in index order as strings', () => {
    const keys = [0, 1, 9, 10, 99, 100, 12_345].map((i) => rawSk('h', 'f'.repeat(64), i));
    expect([...keys].sort()).toEqual(keys);
  });

  it('pins the index keys of a current image and of an open finding', () => {
    expect(currentImageKeys('con#1', image)).toEqual({
      curPk: 'con%231',
      curSk: 'reg%231#team/app%25x#v1%232',
      repoPk: 'con%231#team/app%25x',
      repoSk: 'reg%231#v1%232',
    });
    expect(openFindingKeys('con#1', image, 'CVE-2024-1', 'CVE-2024-1#openssl#3')).toEqual({
      vulnPk: 'con%231#CVE-2024-1',
      vulnSk: 'reg%231#team/app%25x#v1%232#CVE-2024-1%23openssl%233',
    });
  });

  it('pins the runs table keys', () => {
    expect(consolePk('con#1')).toBe('C#con%231');
    expect(runSk('20240501T000000Z-ab#c')).toBe('RUN#20240501T000000Z-ab%23c');
    expect(runSeenPk('con#1', 'r#1')).toBe('C#con%231#RUN#r%231');
    expect(seenSk(12, 3)).toBe('SEEN#12#3');
  });
});

describe('the change feed keys', () => {
  it('pins the change partition and sort keys', () => {
    expect(changePk('con#1', '2024-05', 3)).toBe('CHG#con%231#2024-05#3');
    expect(changeGroupSk('2024-05-01T00:00:00.000Z', 'r/x:1#a', 'resolved', 2)).toBe(
      '2024-05-01T00:00:00.000Z#r/x:1%23a#resolved#002',
    );
  });

  it('buckets by the month of an ISO time', () => {
    expect(monthOf('2024-05-31T23:59:59.999Z')).toBe('2024-05');
  });

  it('puts an image on a stable shard, and spreads images over every shard', () => {
    // Pinned: a different shard function would split one image's changes over two partitions.
    expect(changeShard('docker.io/library/alpine:3.19')).toBe(0);
    expect(changeShard('r/x:1')).toBe(3);
    expect(changeShard('r/x:2')).toBe(2);
    const counts = new Array<number>(CHANGE_FEED_SHARDS).fill(0);
    for (let i = 0; i < 400; i++) {
      const shard = changeShard(`registry/repo-${i}:latest`);
      expect(Number.isInteger(shard) && shard >= 0 && shard < CHANGE_FEED_SHARDS).toBe(true);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(60);
  });
});

describe('monthsBetween', () => {
  it('pads years before 1000 to four digits', () => {
    expect(monthsBetween('0999-11-01T00:00:00Z', '1000-01-31T00:00:00Z')).toEqual([
      '0999-11',
      '0999-12',
      '1000-01',
    ]);
  });

  it('ends after 100,000 months when the end is not a date (bad input cannot loop forever)', () => {
    const months = monthsBetween('2024-01-01T00:00:00Z', '\uffff');
    expect(months).toHaveLength(100_000);
    expect(months[0]).toBe('2024-01');
  });
});
