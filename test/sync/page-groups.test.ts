import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type InvalidReport, parseRegistryPage } from '../../lambda/prisma/schema.js';
import {
  type NormalizedEntry,
  normalizedGroups,
  type RejectedReport,
  schemaRejection,
} from '../../lambda/sync/page-groups.js';
import { apiReport } from '../normalize/support.js';

type Json = Record<string, unknown>;

/** A report for tag `tag` whose raw JSON is about `size` characters (a long description). */
function report(tag: string, size = 500, scanTime = '2024-01-08T11:19:49.252Z'): Json {
  const base = apiReport({ repoTag: { registry: 'r.example', repo: 'team/app', tag }, tags: [], scanTime });
  const length = Math.max(0, size - JSON.stringify(base).length);
  return { ...base, description: 'x'.repeat(length) };
}

function lines() {
  const logged: Array<{ level: string; message: string; data?: Record<string, unknown> }> = [];
  return {
    logged,
    debug: (message: string, data?: Record<string, unknown>) =>
      logged.push({ level: 'debug', message, data }),
    warn: (message: string, data?: Record<string, unknown>) => logged.push({ level: 'warn', message, data }),
  };
}

/** For pages where every report is valid. */
function unexpected(report: RejectedReport): never {
  throw new Error(`unexpected rejection: ${JSON.stringify(report)}`);
}

const tagsOf = (group: NormalizedEntry[]) => group.map((e) => e.report.image.identity.tag);

describe('normalizedGroups', () => {
  it('hands a page out in groups of about groupBytes of raw JSON, in page order', () => {
    const raws: unknown[] = ['a', 'b', 'c', 'd', 'e'].map((tag) => report(tag, 1_000));
    const groups = [
      ...normalizedGroups(raws, {
        consoleId: 'c1',
        offset: 0,
        groupBytes: 2_000,
        logger: lines(),
        onRejected: unexpected,
      }),
    ];
    expect(groups.map(tagsOf)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    for (const entry of groups.flat()) expect(entry.rawJson.length).toBeGreaterThanOrEqual(1_000);
  });

  it('keeps a page of ordinary reports in one group by default', () => {
    const raws: unknown[] = Array.from({ length: 50 }, (_, i) => report(`t${i}`, 20_000));
    const groups = [
      ...normalizedGroups(raws, { consoleId: 'c1', offset: 0, logger: lines(), onRejected: unexpected }),
    ];
    expect(groups).toHaveLength(1);
    expect(groups[0]).toHaveLength(50);
  });

  it('keeps the raw report as JSON text and lets go of each raw object once serialized', () => {
    const raws: unknown[] = [report('a', 800), report('b', 800), report('c', 800)];
    const originals = [...raws];
    const groups = normalizedGroups(raws, {
      consoleId: 'c1',
      offset: 0,
      groupBytes: 800,
      logger: lines(),
      onRejected: unexpected,
    });
    const first = groups.next();
    expect(first.done).toBe(false);
    expect(first.value && tagsOf(first.value)).toEqual(['a']);
    expect(raws).toEqual([undefined, report('b', 800), report('c', 800)]);
    const rest = [...groups].flat();
    expect(raws).toEqual([undefined, undefined, undefined]);
    expect([...(first.value ?? []), ...rest].map((e) => JSON.parse(e.rawJson))).toEqual(originals);
  });

  it('writes a tag listed twice once, from its newer scan, even when the twins are groups apart', () => {
    const older = report('twin', 1_000, '2024-01-01T00:00:00.000Z');
    const newer = report('twin', 1_000, '2024-02-01T00:00:00.000Z');
    const log = lines();
    for (const raws of [
      [newer, report('a', 1_000), report('b', 1_000), older],
      [older, report('a', 1_000), report('b', 1_000), newer],
    ]) {
      log.logged.length = 0;
      const groups = [
        ...normalizedGroups([...raws], {
          consoleId: 'c1',
          offset: 50,
          groupBytes: 1_000,
          logger: log,
          onRejected: unexpected,
        }),
      ];
      const entries = groups.flat();
      expect(entries.map((e) => e.report.image.identity.tag).sort()).toEqual(['a', 'b', 'twin']);
      expect(entries.find((e) => e.report.image.identity.tag === 'twin')?.report.image.scanTime).toBe(
        '2024-02-01T00:00:00.000Z',
      );
      expect(log.logged.filter((l) => l.level === 'warn')).toEqual([
        {
          level: 'warn',
          message: 'duplicate image on one page; keeping the newer scan',
          data: { offset: 50, key: 'r.example/team/app:twin' },
        },
      ]);
    }
  });

  it('leaves out a report the normalizer rejects, naming its offset, index, identity, reason and digest', () => {
    const noName = { _id: 'sha256:ab', repoTag: null, tags: [] };
    const longName = {
      ...report('x'),
      repoTag: { registry: 'r.example', repo: 'team/app', tag: 't'.repeat(5_000) },
    };
    const raws: unknown[] = [report('a'), noName, report('b'), longName];
    const rejected: RejectedReport[] = [];
    const groups = [
      ...normalizedGroups([...raws], {
        consoleId: 'c1',
        offset: 49,
        logger: lines(),
        onRejected: (r) => rejected.push(r),
      }),
    ];
    expect(groups.flat().map((e) => e.report.image.identity.tag)).toEqual(['a', 'b']);
    expect(rejected.map((r) => r.index)).toEqual([1, 3]);
    expect(rejected[0]).toMatchObject({ offset: 49, index: 1, identity: null, sha256: sha256(noName) });
    expect(rejected[1]).toMatchObject({
      offset: 49,
      index: 3,
      code: 'normalize.invalid',
      sha256: sha256(longName),
    });
    expect(rejected[1]?.reason).toMatch(/longer than 768 bytes/);
    for (const r of rejected) expect(r.code).toMatch(/^(normalize|sync)\./);
    // Entries keep their position on the page.
    for (const entry of groups.flat()) expect(raws[entry.index]).toBeDefined();
  });

  it('rejects a report nested too deeply to serialize, with no digest', () => {
    let nested: unknown = 'leaf';
    for (let i = 0; i < 20_000; i++) nested = { deeper: [nested] };
    const deep = { ...report('deep'), nestedUnknownField: nested };
    const rejected: RejectedReport[] = [];
    const groups = [
      ...normalizedGroups([report('a'), deep], {
        consoleId: 'c1',
        offset: 0,
        logger: lines(),
        onRejected: (r) => rejected.push(r),
      }),
    ];
    expect(groups.flat().map((e) => e.report.image.identity.tag)).toEqual(['a']);
    expect(rejected).toMatchObject([
      { index: 1, code: 'sync.invalidReport', sha256: null, identity: { tag: 'deep' } },
    ]);
    expect(rejected[0]?.reason).toMatch(/nested too deeply/);
  });
});

function sha256(raw: unknown): string {
  return createHash('sha256').update(JSON.stringify(raw)).digest('hex');
}

describe('schemaRejection', () => {
  /** The client's InvalidReport for `raw` at index 4 of a page read at offset 98. */
  function invalid(raw: Json): InvalidReport {
    const [item] = parseRegistryPage([0, 1, 2, 3, raw], 'page offset=98').slice(4);
    if (item?.kind !== 'invalid') throw new Error('expected the report to fail the schema');
    return item.invalid;
  }
  const repoTag = { registry: 'r.example', repo: 'team/app', tag: '1' };

  it('keeps the identity when repoTag is intact, whatever else is broken (no _id, vulnerabilities a string)', () => {
    const noId = invalid({ repoTag, tags: [] });
    expect(schemaRejection(noId, 'c', 98)).toEqual({
      offset: 98,
      index: 4,
      identity: { consoleId: 'c', ...repoTag },
      code: 'client.schema',
      reason: 'report[4]._id: expected string, got nothing (missing)',
      sha256: createHash('sha256')
        .update(JSON.stringify({ repoTag, tags: [] }))
        .digest('hex'),
    });
    const lists = invalid({ _id: 'sha256:1', repoTag, vulnerabilities: 'none' });
    expect(schemaRejection(lists, 'c', 98).identity).toEqual({ consoleId: 'c', ...repoTag });
  });

  it('names no image when repoTag is broken, even when tags would name one, and keeps the _id to find it by', () => {
    const broken = invalid({ _id: 'sha256:2', repoTag: 7, tags: [repoTag] });
    expect(schemaRejection(broken, 'c', 98)).toMatchObject({
      identity: null,
      reportId: 'sha256:2',
      reason: 'report[4].repoTag: expected object, got number',
    });
    const repoNumber = invalid({ _id: 'sha256:3', repoTag: { ...repoTag, repo: 9 } });
    expect(schemaRejection(repoNumber, 'c', 98)).toMatchObject({ identity: null, reportId: 'sha256:3' });
  });

  it('trusts tags only when neither _id nor tags is broken, and an _id image name whatever tags hold', () => {
    const fromTags = invalid({ _id: 5, tags: [repoTag] });
    expect(schemaRejection(fromTags, 'c', 98)).toMatchObject({ identity: null });
    expect(schemaRejection(fromTags, 'c', 98)).not.toHaveProperty('reportId');
    const tagsIntact = invalid({ _id: 'sha256:4', tags: [repoTag], complianceIssues: 'x' });
    expect(schemaRejection(tagsIntact, 'c', 98).identity).toEqual({ consoleId: 'c', ...repoTag });
    const fromName = invalid({ _id: 'r.example/team/app:2', tags: 'x' });
    expect(schemaRejection(fromName, 'c', 98).identity).toEqual({
      consoleId: 'c',
      registry: 'r.example',
      repo: 'team/app',
      tag: '2',
    });
  });

  it('names no image for a report that is not an object', () => {
    expect(schemaRejection(invalid('x' as unknown as Json), 'c', 98)).toMatchObject({
      identity: null,
      reason: 'report[4]: expected object, got string',
    });
  });
});
