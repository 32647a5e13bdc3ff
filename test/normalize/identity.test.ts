import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { imageKeyString, normalizeReport, parseImageName } from '../../lambda/normalize/index.js';
import { apiReport } from './support.js';

const context = { consoleId: 'console-a' };

describe('parseImageName', () => {
  it.each([
    ['library/alpine:latest', { registry: '', repo: 'library/alpine', tag: 'latest', digest: null }],
    [
      'registry.example.com/team/app:1.2',
      { registry: 'registry.example.com', repo: 'team/app', tag: '1.2', digest: null },
    ],
    ['localhost:5000/app:dev', { registry: 'localhost:5000', repo: 'app', tag: 'dev', digest: null }],
    ['localhost/app', { registry: 'localhost', repo: 'app', tag: null, digest: null }],
    ['alpine', { registry: '', repo: 'alpine', tag: null, digest: null }],
    [
      'https://reg.example.com/ubuntu:latest',
      { registry: 'reg.example.com', repo: 'ubuntu', tag: 'latest', digest: null },
    ],
    ['app@sha256:abcd', { registry: '', repo: 'app', tag: null, digest: 'sha256:abcd' }],
    ['reg.io:443/a/b:c@sha256:ef', { registry: 'reg.io:443', repo: 'a/b', tag: 'c', digest: 'sha256:ef' }],
  ])('splits %s', (name, parsed) => {
    expect(parseImageName(name)).toEqual(parsed);
  });

  it('refuses names without a repository', () => {
    expect(parseImageName('')).toBeNull();
    expect(parseImageName(':latest')).toBeNull();
    expect(parseImageName('has space:1')).toBeNull();
  });
});

describe('imageKeyString', () => {
  it('keeps the empty registry slot as a leading slash', () => {
    expect(imageKeyString({ consoleId: 'c', registry: '', repo: 'library/alpine', tag: '3.11.2' })).toBe(
      '/library/alpine:3.11.2',
    );
    expect(
      imageKeyString({ consoleId: 'c', registry: 'reg.example.com', repo: 'team/app', tag: '1.2' }),
    ).toBe('reg.example.com/team/app:1.2');
  });
});

describe('image identity in normalizeReport', () => {
  it('prefers repoTag and takes the digest from repoTag.digest', () => {
    const { image } = normalizeReport(apiReport({ _id: 'other/name:9' }), context);
    expect(image.identity).toEqual({
      consoleId: 'console-a',
      registry: 'registry.example.com',
      repo: 'team/app',
      tag: '1.2',
    });
    expect(image.digest).toBe('sha256:aaaa');
  });

  it('parses an _id that is a name when repoTag is absent', () => {
    const { image, warnings } = normalizeReport(
      apiReport({ repoTag: undefined, tags: null, _id: 'registry.example.com/team/app:1.2' }),
      context,
    );
    expect(image.identity).toMatchObject({ registry: 'registry.example.com', repo: 'team/app', tag: '1.2' });
    expect(image.reportId).toBe('registry.example.com/team/app:1.2');
    expect(image.digest).toBeNull();
    expect(warnings).toContain('image identity taken from _id: the report has no repoTag.repo');
  });

  it('falls back to the first tags[] entry with a repo when _id is a digest', () => {
    const { image } = normalizeReport(
      apiReport({
        repoTag: { registry: '', repo: '', tag: '' },
        _id: 'sha256:2222',
        tags: [
          null,
          { registry: 'r', repo: '', tag: 'x' },
          { registry: '', repo: 'library/nginx', tag: '1.25' },
        ],
      }),
      context,
    );
    expect(image.identity).toMatchObject({ registry: '', repo: 'library/nginx', tag: '1.25' });
    expect(image.digest).toBe('sha256:2222');
  });

  it('does not guess an identity from an _id without a tag', () => {
    expect(() => normalizeReport(apiReport({ repoTag: null, tags: [], _id: 'some_id' }), context)).toThrow(
      /no image identity/,
    );
  });

  it('reads a numeric tag as text', () => {
    const { image } = normalizeReport(apiReport({ repoTag: { registry: '', repo: 'app', tag: 3 } }), context);
    expect(image.identity.tag).toBe('3');
  });

  it('throws normalize.invalid for a report that is not an object or has no console id', () => {
    for (const raw of [null, [], 'report', 42]) {
      expect(() => normalizeReport(raw, context)).toThrow(/not a JSON object/);
    }
    let thrown: unknown;
    try {
      normalizeReport(apiReport(), { consoleId: '' });
    } catch (error) {
      thrown = error;
    }
    expect(isSyncError(thrown, 'normalize.invalid') && thrown.details.field).toBe('consoleId');
  });

  it('refuses an image name too long to be a key', () => {
    expect(() =>
      normalizeReport(apiReport({ repoTag: { registry: '', repo: 'a'.repeat(2000), tag: '1' } }), context),
    ).toThrow(/longer than 768 bytes/);
  });

  it('keeps tags[] de-duplicated and sorted', () => {
    const { image } = normalizeReport(
      apiReport({
        tags: [
          { registry: 'b', repo: 'app', tag: '1' },
          { registry: 'a', repo: 'app', tag: '2', digest: 'sha256:d' },
          { registry: 'b', repo: 'app', tag: '1' },
        ],
      }),
      context,
    );
    expect(image.tags).toEqual([
      { registry: 'a', repo: 'app', tag: '2', digest: 'sha256:d' },
      { registry: 'b', repo: 'app', tag: '1', digest: null },
    ]);
  });
});
