import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import type { Stores } from '../../lambda/store/index.js';
import { finding, type Harness, harness, input, manualClock, report } from './support.js';

describe('QueryStore', () => {
  let h: Harness;
  let a: Stores;
  let b: Stores;
  const clock = manualClock('2024-08-15T00:00:00.000Z');

  beforeAll(async () => {
    h = await harness('query');
    a = h.storesFor('console-a', { now: clock.now });
    b = h.storesFor('console-b', { now: clock.now });
    const write = (
      stores: Stores,
      consoleId: string,
      rows: Array<[string, string, string, string[]]>,
      seenAt: string,
      scanTime: string,
    ) =>
      stores.images.writeReports(
        rows.map(([registry, repo, tag, cves]) =>
          input(
            report({ consoleId, registry, repo, tag, scanTime, findings: cves.map((id) => finding(id)) }),
          ),
        ),
        { runId: `run-${seenAt}`, seenAt },
      );
    await write(
      a,
      'console-a',
      [
        ['reg', 'team/api', '1.0', ['CVE-1', 'CVE-2']],
        ['reg', 'team/api', '2.0', ['CVE-2']],
        ['reg', 'team/web', '1.0', []],
        ['reg2', 'team/api', '1.0', ['CVE-1']],
        ['', 'library/alpine', '3.19', ['CVE-1']],
        ['odd#reg', 'we%ird#repo', 't#1', ['CVE-#']],
      ],
      '2024-06-20T00:00:00.000Z',
      '2024-06-19T00:00:00.000Z',
    );
    // July: CVE-2 fixed in team/api:1.0.
    await write(
      a,
      'console-a',
      [['reg', 'team/api', '1.0', ['CVE-1']]],
      '2024-07-05T00:00:00.000Z',
      '2024-07-04T00:00:00.000Z',
    );
    // August: CVE-3 appears in team/web.
    await write(
      a,
      'console-a',
      [['reg', 'team/web', '1.0', ['CVE-3']]],
      '2024-08-01T00:00:00.000Z',
      '2024-07-31T00:00:00.000Z',
    );
    // Console B has the same image names and CVEs.
    await write(
      b,
      'console-b',
      [['reg', 'team/api', '1.0', ['CVE-1', 'CVE-9']]],
      '2024-06-20T00:00:00.000Z',
      '2024-06-19T00:00:00.000Z',
    );
    h.calls.reset();
  });

  afterAll(() => {
    // Every answer came from GetItem/Query/BatchGetItem: the client would have thrown on a Scan.
    expect(h.calls.commands.has('ScanCommand')).toBe(false);
    const reads = [...h.calls.commands.keys()].filter((name) => !/Put|Update|Delete|Write/.test(name)).sort();
    expect(reads).toEqual(['BatchGetItemCommand', 'GetItemCommand', 'QueryCommand']);
  });

  it('answers query image with the SPEC shape, open findings only', async () => {
    const view = await a.queries.image({ registry: 'reg', repo: 'team/api', tag: '1.0' });
    expect(view).toMatchObject({
      registry: 'reg',
      repo: 'team/api',
      tag: '1.0',
      digest: 'sha256:aaaa',
      imageId: 'sha256:aaaa',
      scanTime: '2024-07-04T00:00:00.000Z',
      removed: false,
      vulnerabilityCounts: { critical: 0, high: 1, medium: 0, low: 0, total: 1 },
      findings: [
        {
          id: 'CVE-1',
          severity: 'high',
          cvss: 7.5,
          packageName: 'pkg-CVE-1',
          packageVersion: '1.0.0',
          status: 'fixed in 1.0.1',
          firstSeen: '2024-06-19T00:00:00.000Z',
          lastSeen: '2024-07-04T00:00:00.000Z',
        },
      ],
    });
    expect(await a.queries.image({ registry: 'reg', repo: 'team/api', tag: 'nope' })).toBeUndefined();
  });

  it('lists current images of the console, a registry, a repo, or both', async () => {
    const names = (rows: Array<{ registry: string; repo: string; tag: string }>) =>
      rows.map((r) => `${r.registry}/${r.repo}:${r.tag}`);
    expect(names(await a.queries.images())).toEqual([
      '/library/alpine:3.19',
      'odd#reg/we%ird#repo:t#1',
      'reg/team/api:1.0',
      'reg/team/api:2.0',
      'reg/team/web:1.0',
      'reg2/team/api:1.0',
    ]);
    // `reg` must not match `reg2` (and `odd#reg` is escaped, not a separator).
    expect(names(await a.queries.images({ registry: 'reg' }))).toEqual([
      'reg/team/api:1.0',
      'reg/team/api:2.0',
      'reg/team/web:1.0',
    ]);
    expect(names(await a.queries.images({ registry: 'odd#reg' }))).toEqual(['odd#reg/we%ird#repo:t#1']);
    expect(names(await a.queries.images({ registry: '' }))).toEqual(['/library/alpine:3.19']);
    expect(names(await a.queries.images({ repo: 'team/api' }))).toEqual([
      'reg/team/api:1.0',
      'reg/team/api:2.0',
      'reg2/team/api:1.0',
    ]);
    expect(names(await a.queries.images({ registry: 'reg2', repo: 'team/api' }))).toEqual([
      'reg2/team/api:1.0',
    ]);
    expect(await a.queries.images({ repo: 'nothing/here' })).toEqual([]);
  });

  it('finds the images currently affected by a vulnerability', async () => {
    const hits = await a.queries.cve('CVE-1');
    expect(hits.map((hit) => `${hit.registry}/${hit.repo}:${hit.tag}`).sort()).toEqual([
      '/library/alpine:3.19',
      'reg/team/api:1.0',
      'reg2/team/api:1.0',
    ]);
    expect(hits[0]).toEqual({
      registry: expect.any(String),
      repo: expect.any(String),
      tag: expect.any(String),
      digest: 'sha256:aaaa',
      packageName: 'pkg-CVE-1',
      packageVersion: '1.0.0',
      severity: 'high',
    });
    // CVE-2 left team/api:1.0 in July; only 2.0 still has it.
    expect((await a.queries.cve('CVE-2')).map((hit) => hit.tag)).toEqual(['2.0']);
    expect((await a.queries.cve('CVE-#')).map((hit) => hit.repo)).toEqual(['we%ird#repo']);
  });

  it('returns an image history in time order', async () => {
    const history = await a.queries.history({ registry: 'reg', repo: 'team/api', tag: '1.0' });
    expect(history.map((entry) => [entry.scanTime, entry.vulnerabilityCounts.total])).toEqual([
      ['2024-06-19T00:00:00.000Z', 2],
      ['2024-07-04T00:00:00.000Z', 1],
    ]);
  });

  it('returns finding changes since a time, across month buckets', async () => {
    const since = await a.queries.changes('2024-07-01T00:00:00Z');
    expect(
      since.map((c) => ({
        change: c.change,
        id: c.id,
        registry: c.registry,
        repo: c.repo,
        tag: c.tag,
        at: c.at,
      })),
    ).toEqual([
      {
        change: 'resolved',
        id: 'CVE-2',
        registry: 'reg',
        repo: 'team/api',
        tag: '1.0',
        at: '2024-07-05T00:00:00.000Z',
      },
      {
        change: 'new',
        id: 'CVE-3',
        registry: 'reg',
        repo: 'team/web',
        tag: '1.0',
        at: '2024-08-01T00:00:00.000Z',
      },
    ]);
    expect(await a.queries.changes('2024-08-02T00:00:00Z')).toEqual([]);
    expect(await a.queries.changes('2024-01-01T00:00:00Z')).toHaveLength(8);
    await expect(a.queries.changes('last tuesday')).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.invalidInput'),
    );
  });

  it('lists runs most recent first, limited', async () => {
    for (const [runId, startedAt] of [
      ['r-b', '2024-06-02T00:00:00.000Z'],
      ['r-a', '2024-06-03T00:00:00.000Z'],
      ['r-c', '2024-06-01T00:00:00.000Z'],
    ] as const) {
      await a.runs.createRun({ runId, startedAt, trigger: 'schedule', options: {} });
    }
    await a.runs.updateRun('r-a', { status: 'completed', images: 6 });
    const runs = await a.queries.runs(2);
    expect(runs.map((run) => run.runId)).toEqual(['r-a', 'r-b']);
    expect(runs[0]).toMatchObject({ runId: 'r-a', status: 'completed', images: 6, consoleId: 'console-a' });
    expect(runs[0]).not.toHaveProperty('pk');
    expect((await a.queries.runs()).map((run) => run.runId)).toEqual(['r-a', 'r-b', 'r-c']);
  });

  it('keeps two consoles apart in every query', async () => {
    const key = { registry: 'reg', repo: 'team/api', tag: '1.0' };
    expect((await b.queries.image(key))?.findings.map((f) => f.id)).toEqual(['CVE-1', 'CVE-9']);
    expect((await b.queries.images()).map((i) => i.repo)).toEqual(['team/api']);
    expect((await b.queries.cve('CVE-1')).map((hit) => hit.registry)).toEqual(['reg']);
    expect(await a.queries.cve('CVE-9')).toEqual([]);
    expect(await b.queries.history(key)).toHaveLength(1);
    expect((await b.queries.changes('2024-01-01T00:00:00Z')).map((c) => c.id)).toEqual(['CVE-1', 'CVE-9']);
    expect(await b.queries.runs()).toEqual([]);
    expect(await a.queries.consoles()).toEqual(['console-a', 'console-b']);
  });
});
