import { createHash } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { queryAll } from '../../lambda/store/batch.js';
import { ITEM_BUDGET_BYTES, itemSize } from '../../lambda/store/items.js';
import { consolePk, FIRST_WRITES_SK, imagePk } from '../../lambda/store/keys.js';
import { CONSOLE, finding, type Harness, harness, input, rawOf, report } from './support.js';

const seen = (iso: string, runId = 'run-1') => ({ runId, seenAt: iso });

describe('ImageStore.writeReports', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('img');
  });

  it('writes a new image with its findings, history, change feed and raw report, image item last', async () => {
    const r = report({ repo: 'new/one' });
    const result = await h.stores.images.writeReports([input(r)], seen('2024-06-01T00:00:00.000Z'));
    expect(result.images).toEqual([{ key: 'registry.example.com/new/one:latest', outcome: 'new' }]);
    // 2 findings + 1 change-feed item (both findings) + 1 history + 1 raw chunk + 1 image + 1 console
    // registry item, and the first write noted in the console's first-writes set before them and cleared
    // after the image item.
    expect(result.itemsWritten).toBe(9);
    const view = await h.stores.queries.image({
      registry: 'registry.example.com',
      repo: 'new/one',
      tag: 'latest',
    });
    expect(view?.findings.map((f) => f.id).sort()).toEqual(['CVE-2024-0001', 'CVE-2024-0002']);
    expect(view?.findings.every((f) => f.firstSeen === '2024-05-01T10:00:00.000Z')).toBe(true);
    expect(
      await h.stores.queries.rawReport({ registry: 'registry.example.com', repo: 'new/one', tag: 'latest' }),
    ).toBe(rawOf(r));
  });

  it('writes nothing at all when the same batch is written again', async () => {
    const batch = [
      report({ repo: 'same/a' }),
      report({ repo: 'same/b' }),
      report({ repo: 'same/c', findings: [] }),
    ];
    await h.stores.images.writeReports(batch.map(input), seen('2024-06-01T00:00:00.000Z'));
    h.calls.reset();
    const again = await h.stores.images.writeReports(
      batch.map(input),
      seen('2024-06-02T00:00:00.000Z', 'run-2'),
    );
    expect(again.itemsWritten).toBe(0);
    expect(again.images.map((i) => i.outcome)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    // One consistent BatchGetItem for the page, nothing else.
    expect([...h.calls.commands]).toEqual([['BatchGetItemCommand', 1]]);
  });

  it('updates only the scan time when an unchanged image was scanned again', async () => {
    const key = { registry: 'registry.example.com', repo: 'rescanned/app', tag: 'latest' };
    await h.stores.images.writeReports([input(report({ repo: key.repo }))], seen('2024-06-01T00:00:00.000Z'));
    const later = report({ repo: key.repo, scanTime: '2024-05-08T10:00:00.000Z' });
    const result = await h.stores.images.writeReports(
      [input(later)],
      seen('2024-06-02T00:00:00.000Z', 'run-2'),
    );
    expect(result).toEqual({
      itemsWritten: 1,
      images: [{ key: 'registry.example.com/rescanned/app:latest', outcome: 'unchanged' }],
      quarantined: [],
    });
    const view = await h.stores.queries.image(key);
    expect(view?.scanTime).toBe('2024-05-08T10:00:00.000Z');
    // lastSeen of an open finding follows the image's latest scan; firstSeen stays.
    expect(
      view?.findings.every(
        (f) => f.lastSeen === '2024-05-08T10:00:00.000Z' && f.firstSeen === '2024-05-01T10:00:00.000Z',
      ),
    ).toBe(true);
    expect(await h.stores.queries.history(key)).toHaveLength(1);
  });

  it('resolves no finding from a compact report that lists none but counts some', async () => {
    const key = { registry: 'registry.example.com', repo: 'compact/app', tag: 'latest' };
    const full = report({
      repo: key.repo,
      scanTime: '2024-05-01T00:00:00.000Z',
      findings: [finding('CVE-KEEP')],
    });
    await h.stores.images.writeReports([input(full)], seen('2024-06-01T00:00:00.000Z'));
    const compact = report({ repo: key.repo, scanTime: '2024-05-02T00:00:00.000Z', findings: [] });
    compact.image.findingsIncomplete = true;
    compact.image.contentHash = `${compact.image.contentHash}-incomplete`;
    await h.stores.images.writeReports([input(compact)], seen('2024-06-02T00:00:00.000Z'));
    const view = await h.stores.queries.image(key);
    expect(view?.findings.map((f) => f.id)).toEqual(['CVE-KEEP']);
    expect(await h.stores.queries.cve('CVE-KEEP')).toHaveLength(1);
  });

  it('skips an older scan as stale and keeps the newer state', async () => {
    const key = { registry: 'registry.example.com', repo: 'race/app', tag: 'latest' };
    const newer = report({
      repo: key.repo,
      scanTime: '2024-05-10T00:00:00.000Z',
      digest: 'sha256:new',
      findings: [finding('CVE-NEW')],
    });
    const older = report({
      repo: key.repo,
      scanTime: '2024-05-01T00:00:00.000Z',
      digest: 'sha256:old',
      findings: [finding('CVE-OLD')],
    });
    await h.stores.images.writeReports([input(newer)], seen('2024-06-01T00:00:00.000Z'));
    const result = await h.stores.images.writeReports([input(older)], seen('2024-06-01T00:01:00.000Z'));
    expect(result).toEqual({
      itemsWritten: 0,
      images: [{ key: 'registry.example.com/race/app:latest', outcome: 'stale' }],
      quarantined: [],
    });
    const view = await h.stores.queries.image(key);
    expect(view?.digest).toBe('sha256:new');
    expect(view?.findings.map((f) => f.id)).toEqual(['CVE-NEW']);
  });

  it('keeps the newer of two reports of one image in the same batch', async () => {
    const newer = report({ repo: 'dup/app', scanTime: '2024-05-10T00:00:00.000Z', digest: 'sha256:n' });
    const older = report({ repo: 'dup/app', scanTime: '2024-05-01T00:00:00.000Z', digest: 'sha256:o' });
    const result = await h.stores.images.writeReports(
      [input(newer), input(older)],
      seen('2024-06-01T00:00:00.000Z'),
    );
    expect(result.images.map((i) => i.outcome)).toEqual(['new', 'stale']);
    expect(
      (await h.stores.queries.image({ registry: 'registry.example.com', repo: 'dup/app', tag: 'latest' }))
        ?.digest,
    ).toBe('sha256:n');
  });

  it('follows a finding through new, resolved and reappearing, with the change feed and the CVE index', async () => {
    const key = { registry: 'registry.example.com', repo: 'life/app', tag: 'latest' };
    const a = finding('CVE-LIFE-A');
    const b = finding('CVE-LIFE-B');
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, scanTime: '2024-05-01T00:00:00.000Z', findings: [a, b] }))],
      seen('2024-06-01T00:00:00.000Z'),
    );
    // B fixed.
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, scanTime: '2024-05-02T00:00:00.000Z', findings: [a] }))],
      seen('2024-06-02T00:00:00.000Z'),
    );
    expect((await h.stores.queries.image(key))?.findings.map((f) => f.id)).toEqual(['CVE-LIFE-A']);
    expect(await h.stores.queries.cve('CVE-LIFE-B')).toEqual([]);
    // B back (a regression): it is new again, from the scan that saw it.
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, scanTime: '2024-05-03T00:00:00.000Z', findings: [a, b] }))],
      seen('2024-06-03T00:00:00.000Z'),
    );
    const view = await h.stores.queries.image(key);
    expect(view?.findings.find((f) => f.id === 'CVE-LIFE-B')?.firstSeen).toBe('2024-05-03T00:00:00.000Z');
    expect(view?.findings.find((f) => f.id === 'CVE-LIFE-A')?.firstSeen).toBe('2024-05-01T00:00:00.000Z');
    expect(await h.stores.queries.cve('CVE-LIFE-B')).toEqual([
      {
        registry: key.registry,
        repo: key.repo,
        tag: 'latest',
        digest: 'sha256:aaaa',
        packageName: 'pkg-CVE-LIFE-B',
        packageVersion: '1.0.0',
        severity: 'high',
      },
    ]);
    const changes = (await h.stores.queries.changes('2024-06-01T00:00:00.000Z')).filter(
      (c) => c.repo === key.repo,
    );
    expect(changes.map((c) => [c.change, c.id, c.at])).toEqual([
      ['new', 'CVE-LIFE-A', '2024-06-01T00:00:00.000Z'],
      ['new', 'CVE-LIFE-B', '2024-06-01T00:00:00.000Z'],
      ['resolved', 'CVE-LIFE-B', '2024-06-02T00:00:00.000Z'],
      ['new', 'CVE-LIFE-B', '2024-06-03T00:00:00.000Z'],
    ]);
    const history = await h.stores.queries.history(key);
    expect(history).toHaveLength(3);
    // Every version's raw report stays readable through its history entry.
    const first = JSON.parse((await h.stores.queries.rawReport(key, history[0]?.raw ?? undefined)) ?? '{}');
    expect(first.vulnerabilities.map((v: { cve: string }) => v.cve)).toEqual(['CVE-LIFE-A', 'CVE-LIFE-B']);
    const second = JSON.parse((await h.stores.queries.rawReport(key, history[1]?.raw ?? undefined)) ?? '{}');
    expect(second.vulnerabilities.map((v: { cve: string }) => v.cve)).toEqual(['CVE-LIFE-A']);
  });

  it('updates a finding whose content changed and keeps its firstSeen', async () => {
    const key = { registry: 'registry.example.com', repo: 'status/app', tag: 'latest' };
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, findings: [finding('CVE-S', { status: 'open' })] }))],
      seen('2024-06-01T00:00:00.000Z'),
    );
    const result = await h.stores.images.writeReports(
      [
        input(
          report({
            repo: key.repo,
            scanTime: '2024-05-09T00:00:00.000Z',
            findings: [finding('CVE-S', { status: 'fixed in 2.0' })],
          }),
        ),
      ],
      seen('2024-06-02T00:00:00.000Z'),
    );
    // 1 finding + 1 history + 1 raw + 1 image; no change-feed entry (still the same open finding).
    expect(result).toMatchObject({ itemsWritten: 4, images: [{ outcome: 'changed' }] });
    const [f] = (await h.stores.queries.image(key))?.findings ?? [];
    expect(f).toMatchObject({
      status: 'fixed in 2.0',
      firstSeen: '2024-05-01T10:00:00.000Z',
      lastSeen: '2024-05-09T00:00:00.000Z',
    });
  });

  /** Fails the next transaction that writes the image item of `repo`, once: a crash before it lands. */
  function crashBeforeImageItem(repo: string, name: string): void {
    let armed = true;
    h.client.middlewareStack.add(
      (next, context) => async (args) => {
        // Low-level input: attribute values as DynamoDB's wire maps ({ S: '...' }).
        type Put = { Put?: { Item?: { sk?: { S?: string }; repo?: { S?: string } } } };
        const operations = (args.input as { TransactItems?: Put[] }).TransactItems ?? [];
        const image = operations.find((op) => op.Put?.Item?.sk?.S === 'IMAGE')?.Put?.Item;
        if (armed && context.commandName === 'TransactWriteItemsCommand' && image?.repo?.S === repo) {
          armed = false;
          throw Object.assign(new Error('connection reset'), { name: 'TimeoutError' });
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
  }

  it('redoes a write that crashed before its image item without a second change-feed entry', async () => {
    const key = { registry: 'registry.example.com', repo: 'crash/app', tag: 'latest' };
    crashBeforeImageItem(key.repo, 'crashOnce');
    const r = report({ repo: key.repo });
    await expect(
      h.stores.images.writeReports([input(r)], seen('2024-06-01T00:00:00.000Z')),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.writeFailed'));
    expect(await h.stores.queries.image(key)).toBeUndefined();
    const rerun = await h.stores.images.writeReports([input(r)], seen('2024-06-01T00:05:00.000Z'));
    expect(rerun.images[0]?.outcome).toBe('new');
    expect((await h.stores.queries.image(key))?.findings).toHaveLength(2);
    const changes = (await h.stores.queries.changes('2024-06-01T00:00:00.000Z')).filter(
      (c) => c.repo === key.repo,
    );
    expect(changes).toHaveLength(2);
  });

  it('reads what a crashed first write left, so a finding gone from the next report is not left open', async () => {
    const key = { registry: 'registry.example.com', repo: 'crash/first-write', tag: 'latest' };
    crashBeforeImageItem(key.repo, 'crashFirstWrite');
    await expect(
      h.stores.images.writeReports([input(report({ repo: key.repo }))], seen('2024-06-01T00:00:00.000Z')),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.writeFailed'));
    const firstWrites = async () => {
      const { Items = [] } = await h.doc.send(
        new QueryCommand({
          TableName: `${h.prefix}-runs`,
          KeyConditionExpression: 'pk = :pk AND sk = :sk',
          ExpressionAttributeValues: { ':pk': consolePk(CONSOLE), ':sk': FIRST_WRITES_SK },
          ConsistentRead: true,
        }),
      );
      return [...((Items[0]?.pks as Set<string> | undefined) ?? [])];
    };
    // The crash left both findings without an image item; the console's first-writes set says so.
    expect(await firstWrites()).toEqual([imagePk(CONSOLE, key)]);
    // The next scan lost CVE-2024-0002: the re-run must resolve the finding the crash left behind.
    const rescanned = report({
      repo: key.repo,
      scanTime: '2024-05-02T00:00:00.000Z',
      findings: [finding('CVE-2024-0001')],
    });
    const rerun = await h.stores.images.writeReports([input(rescanned)], seen('2024-06-02T00:00:00.000Z'));
    expect(rerun.images[0]?.outcome).toBe('new');
    expect((await h.stores.queries.image(key))?.findings.map((f) => f.id)).toEqual(['CVE-2024-0001']);
    const open = await queryAll(h.doc, {
      TableName: `${h.prefix}-images`,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :f)',
      FilterExpression: 'attribute_not_exists(resolvedAt)',
      ExpressionAttributeValues: { ':pk': imagePk(CONSOLE, key), ':f': 'F#' },
    });
    expect(open.map((item) => item.id)).toEqual(['CVE-2024-0001']);
    expect(await firstWrites()).toEqual([]);
  });

  it('resolves a finding with an over-long key in place instead of leaving a second item', async () => {
    const key = { registry: 'registry.example.com', repo: 'long/key', tag: 'latest' };
    const long = finding('CVE-LONG', { packageName: 'p'.repeat(200_000) });
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, findings: [long] }))],
      seen('2024-06-01T00:00:00.000Z'),
    );
    await h.stores.images.writeReports(
      [input(report({ repo: key.repo, scanTime: '2024-05-02T00:00:00.000Z', findings: [] }))],
      seen('2024-06-02T00:00:00.000Z'),
    );
    const items = await queryAll(h.doc, {
      TableName: `${h.prefix}-images`,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :f)',
      ExpressionAttributeValues: { ':pk': imagePk(CONSOLE, key), ':f': 'F#' },
    });
    expect(items.map((item) => [item.resolvedAt, item.truncatedFields])).toEqual([
      ['2024-05-02T00:00:00.000Z', ['packageName', 'findingKey']],
    ]);
    expect((await h.stores.queries.image(key))?.findings).toEqual([]);
  });

  it('refuses a report of another console', async () => {
    await expect(
      h.stores.images.writeReports([input(report({ consoleId: 'other' }))], seen('2024-06-01T00:00:00.000Z')),
    ).rejects.toSatisfy((e) => isSyncError(e, 'store.consoleMismatch'));
  });

  it('fits a finding with a megabyte description into one item and keeps the full text in the raw report', async () => {
    const key = { registry: 'registry.example.com', repo: 'huge/text', tag: 'latest' };
    const huge = finding('CVE-HUGE', { description: 'x'.repeat(1_000_000) });
    const r = report({ repo: key.repo, findings: [huge] });
    await h.stores.images.writeReports([input(r)], seen('2024-06-01T00:00:00.000Z'));
    const { Items = [] } = await h.doc.send(
      new QueryCommand({
        TableName: `${h.prefix}-images`,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :f)',
        ExpressionAttributeValues: { ':pk': imagePk(CONSOLE, key), ':f': 'F#' },
      }),
    );
    expect(Items).toHaveLength(1);
    expect(Items[0]?.truncatedFields).toEqual(['description']);
    expect(itemSize(Items[0])).toBeLessThan(ITEM_BUDGET_BYTES);
    expect(await h.stores.queries.rawReport(key)).toBe(rawOf(r));
  });
});

describe('a 5 MB report with a thousand findings', () => {
  it('round-trips every finding and the raw report byte for byte, every item under 400 KB', async () => {
    const h = await harness('big');
    // Pseudo-random hex text so gzip cannot shrink the raw report into a single chunk.
    let seed = 'seed';
    const text = (n: number) => {
      let out = '';
      while (out.length < n) {
        seed = createHash('sha256').update(seed).digest('hex');
        out += seed;
      }
      return out.slice(0, n);
    };
    const findings = Array.from({ length: 1000 }, (_, i) =>
      finding(`CVE-2024-${String(i).padStart(5, '0')}`, {
        packageName: `lib${i % 97}`,
        description: text(5_000),
      }),
    );
    const key = { registry: 'registry.example.com', repo: 'big/image', tag: 'v1' };
    const r = report({ ...key, findings });
    const rawJson = rawOf(r);
    expect(rawJson.length).toBeGreaterThan(5_000_000);

    const started = Date.now();
    const result = await h.stores.images.writeReports(
      [{ normalized: r, rawJson }],
      seen('2024-06-01T00:00:00.000Z'),
    );
    const firstMs = Date.now() - started;
    expect(result.images[0]?.outcome).toBe('new');

    const view = await h.stores.queries.image(key);
    expect(view?.findings).toHaveLength(1000);
    expect(new Set(view?.findings.map((f) => f.id))).toEqual(new Set(findings.map((f) => f.id)));
    expect(await h.stores.queries.rawReport(key)).toBe(rawJson);

    const chunks = await queryAll(h.doc, {
      TableName: `${h.prefix}-raw-reports`,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': imagePk(CONSOLE, key) },
    });
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(itemSize(chunk)).toBeLessThan(ITEM_BUDGET_BYTES);
    // The change feed lists every finding, from one change item or a few parts of one.
    const changes = await h.stores.queries.changes('2024-01-01T00:00:00Z');
    expect(
      changes
        .filter((c) => c.change === 'new')
        .map((c) => c.id)
        .sort(),
    ).toEqual(findings.map((f) => f.id).sort());
    // findings + change items + history + raw chunks + image + console registry, and the first write
    // added to and removed from the console's first-writes set.
    expect(result.itemsWritten).toBeLessThanOrEqual(1000 + 3 + 1 + chunks.length + 1 + 1 + 2);
    expect(result.itemsWritten).toBeGreaterThanOrEqual(1000 + 1 + 1 + chunks.length + 1 + 1 + 2);

    const again = await h.stores.images.writeReports(
      [{ normalized: r, rawJson }],
      seen('2024-06-02T00:00:00.000Z'),
    );
    expect(again.itemsWritten).toBe(0);
    console.info(
      `5 MB report: ${result.itemsWritten} items in ${firstMs} ms; ${chunks.length} raw chunks; re-write 0 items`,
    );
  });
});

describe('write cost per image', () => {
  it('costs F+4 writes per new image (findings, one change item, history, raw, image) plus 2 per page and 0 on an unchanged re-sync', async () => {
    const h = await harness('cost');
    const page = Array.from({ length: 50 }, (_, i) =>
      report({
        repo: `cost/app-${i}`,
        findings: Array.from({ length: 20 }, (_, j) => finding(`CVE-C-${(i + j) % 40}`)),
      }),
    );
    const first = await h.stores.images.writeReports(page.map(input), seen('2024-06-01T00:00:00.000Z'));
    // Per image: 20 findings + 1 change-feed item + 1 history + 1 raw chunk + 1 image = 24 items; per
    // page: the first writes added to and removed from the console's first-writes set; plus the
    // console registry once.
    expect(first.itemsWritten).toBe(50 * 24 + 2 + 1);
    h.calls.reset();
    const unchanged = await h.stores.images.writeReports(
      page.map(input),
      seen('2024-06-02T00:00:00.000Z', 'run-2'),
    );
    expect(unchanged.itemsWritten).toBe(0);
    const rescanned = page.map((r) => ({
      ...r,
      image: { ...r.image, scanTime: '2024-05-02T10:00:00.000Z' },
    }));
    const touched = await h.stores.images.writeReports(
      rescanned.map(input),
      seen('2024-06-03T00:00:00.000Z', 'run-3'),
    );
    expect(touched.itemsWritten).toBe(50);
    console.info(
      `write cost, 50 images x 20 findings: first sync ${first.itemsWritten} items (${first.itemsWritten / 50}/image); ` +
        `unchanged re-sync ${unchanged.itemsWritten}; rescanned-unchanged ${touched.itemsWritten} (1/image)`,
    );
  });
});
