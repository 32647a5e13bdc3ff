/**
 * The pager's pure parts: report fingerprints (the identity paging de-duplicates by, and what a
 * checkpoint keeps) and the options a pager refuses before it sends anything. No console: a
 * client that is never called (constructing one opens no connection).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isSyncError, type SyncError } from '../../lambda/common/errors.js';
import { ConsoleClient } from '../../lambda/prisma/client.js';
import {
  invalidFingerprint,
  parseTotalCount,
  RegistryPager,
  type RegistryPagerOptions,
  reportFingerprint,
} from '../../lambda/prisma/pager.js';
import type { InvalidReport, RawReport } from '../../lambda/prisma/schema.js';

const raw = (id: string, registry: string, repo: string, tag: string) =>
  ({ _id: id, repoTag: { registry, repo, tag } }) as unknown as RawReport;

const client = new ConsoleClient({
  baseUrl: 'http://127.0.0.1:9',
  credentials: { username: 'u', password: 'p-unused' },
});

afterAll(() => client.close());

function refusal(options: RegistryPagerOptions): SyncError {
  try {
    new RegistryPager(client, options);
  } catch (error) {
    if (isSyncError(error)) return error;
    throw error;
  }
  throw new Error('the pager accepted the options');
}

describe('reportFingerprint', () => {
  it('tells apart one image digest pushed under several tags, repos and registries', () => {
    const prints = [
      raw('sha256:a', 'r', 'team/app', '1'),
      raw('sha256:a', 'r', 'team/app', '2'),
      raw('sha256:a', 'r', 'team/other', '1'),
      raw('sha256:a', 'q', 'team/app', '1'),
      raw('sha256:b', 'r', 'team/app', '1'),
    ].map(reportFingerprint);
    expect(new Set(prints).size).toBe(5);
    for (const print of prints) expect(print).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('does not let a component boundary move (registry "ab" + repo "c" is not "a" + "bc")', () => {
    expect(reportFingerprint(raw('x', 'ab', 'c', 't'))).not.toBe(reportFingerprint(raw('x', 'a', 'bc', 't')));
    expect(reportFingerprint(raw('x', 'r', 'ab', 'c'))).not.toBe(reportFingerprint(raw('x', 'r', 'a', 'bc')));
  });

  it('reads a report without repoTag as empty registry, repo and tag, and is stable', () => {
    const bare = { _id: 'sha256:a', repoTag: null } as unknown as RawReport;
    expect(reportFingerprint(bare)).toBe(reportFingerprint(raw('sha256:a', '', '', '')));
    expect(reportFingerprint(raw('sha256:a', 'r', 'p', 't'))).toBe(
      reportFingerprint(raw('sha256:a', 'r', 'p', 't')),
    );
  });
});

describe('invalidFingerprint', () => {
  const invalid = (readable: InvalidReport['readable'], sha256: string | null, index = 0): InvalidReport => ({
    index,
    reason: 'report[0]._id: expected string',
    paths: ['_id'],
    readable,
    sha256,
    raw: {},
  });
  const none = { id: null, registry: null, repo: null, tag: null };

  it('is the valid fingerprint of whatever of the identity is text', () => {
    expect(invalidFingerprint(invalid({ id: 'sha256:a', registry: 'r', repo: 'p', tag: 't' }, 'f'), 0)).toBe(
      reportFingerprint(raw('sha256:a', 'r', 'p', 't')),
    );
    expect(invalidFingerprint(invalid({ ...none, repo: 'p' }, 'f'), 0)).toBe(
      reportFingerprint(raw('', '', 'p', '')),
    );
  });

  it('counts any one text part of the identity as an identity, and keeps its parts apart', () => {
    for (const part of ['id', 'registry', 'repo', 'tag'] as const) {
      const readable = { ...none, [part]: 'x' };
      const expected = raw(
        readable.id ?? '',
        readable.registry ?? '',
        readable.repo ?? '',
        readable.tag ?? '',
      );
      expect(invalidFingerprint(invalid(readable, 'f'), 0), part).toBe(reportFingerprint(expected));
    }
    expect(invalidFingerprint(invalid({ ...none, registry: 'ab', repo: 'c' }, 'f'), 0)).not.toBe(
      invalidFingerprint(invalid({ ...none, registry: 'a', repo: 'bc' }, 'f'), 0),
    );
  });

  it('is 22 base64url characters on every path', () => {
    for (const print of [
      invalidFingerprint(invalid(none, 'abc'), 0),
      invalidFingerprint(invalid(none, null, 3), 10),
      invalidFingerprint(invalid({ ...none, repo: 'p' }, 'abc'), 0),
    ])
      expect(print).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('stands on the digest when no identity is text, and on the place when there is no digest either', () => {
    const byDigest = invalidFingerprint(invalid(none, 'abc'), 0);
    expect(invalidFingerprint(invalid(none, 'abc', 7), 100)).toBe(byDigest);
    expect(invalidFingerprint(invalid(none, 'abd'), 0)).not.toBe(byDigest);
    const at = (offset: number, index: number) => invalidFingerprint(invalid(none, null, index), offset);
    expect(at(50, 2)).toBe(at(51, 1));
    expect(at(50, 2)).not.toBe(at(50, 3));
    expect(at(50, 2)).not.toBe(byDigest);
  });
});

describe('parseTotalCount', () => {
  it('reads a safe whole number, with spaces, and nothing else', () => {
    expect(parseTotalCount('120')).toBe(120);
    expect(parseTotalCount(' 7 ')).toBe(7);
    expect(parseTotalCount('0')).toBe(0);
    expect(parseTotalCount('9007199254740991')).toBe(9_007_199_254_740_991);
    for (const bad of [undefined, '', '-1', '1.5', '1e3', '12abc', '9007199254740993', '1'.repeat(17)])
      expect(parseTotalCount(bad), String(bad)).toBeUndefined();
  });
});

describe('RegistryPager options', () => {
  it('accepts page sizes 2 to 50 and refuses others with client.options', () => {
    expect(() => new RegistryPager(client, { pageSize: 2 })).not.toThrow();
    expect(() => new RegistryPager(client, { pageSize: 50 })).not.toThrow();
    for (const pageSize of [1, 51, 2.5]) {
      const error = refusal({ pageSize });
      expect(error.code).toBe('client.options');
      expect(error.message).toBe(`pageSize must be a whole number from 2 to 50, got ${pageSize}`);
    }
  });

  it('refuses a query that sets the paging parameters itself, naming them', () => {
    const error = refusal({ query: { sort: 'scanTime', limit: '5', repository: 'x' } });
    expect(error.code).toBe('client.options');
    expect(error.message).toBe(
      'the pager sets limit, sort itself; drift-safe paging needs the default order',
    );
    expect(error.details).toEqual({ reserved: ['limit', 'sort'] });
  });

  it('accepts a prefetch limit of 0 and refuses a negative or unreadable one', () => {
    expect(() => new RegistryPager(client, { prefetchMaxBytes: 0 })).not.toThrow();
    for (const prefetchMaxBytes of [-1, Number.NaN]) {
      const error = refusal({ prefetchMaxBytes });
      expect(error.code).toBe('client.options');
      expect(error.message).toBe(`prefetchMaxBytes must be 0 or more, got ${prefetchMaxBytes}`);
    }
  });

  it('refuses a resume state it did not write, naming the first bad paths', () => {
    const error = refusal({ resume: { v: 1, nextOffset: 'x', pageIndex: -1 } as never });
    expect(error.code).toBe('client.options');
    expect(error.message).toBe('the pager resume state is not a state this pager wrote');
    const issues = (error.details as { issues: string[] }).issues;
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.length).toBeLessThanOrEqual(3);
    expect(issues).toContain('nextOffset');
    const nested = refusal({
      resume: {
        v: 1,
        nextOffset: 0,
        pageIndex: 0,
        boundary: null,
        behind: [7],
        ahead: [],
        emitted: 0,
        done: false,
      } as never,
    });
    expect((nested.details as { issues: string[] }).issues).toEqual(['behind.0']);
  });

  it('can be iterated once', () => {
    const pager = new RegistryPager(client, {});
    pager[Symbol.asyncIterator]();
    let second: unknown;
    try {
      pager[Symbol.asyncIterator]();
    } catch (error) {
      second = error;
    }
    expect(isSyncError(second, 'client.options')).toBe(true);
    expect((second as SyncError).message).toBe('a RegistryPager can be iterated once');
  });
});
