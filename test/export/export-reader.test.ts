import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { EXPORT_TABLES } from '../../lambda/export/schema.js';
import {
  changeRows,
  findingRow,
  imageRow,
  mergeAsync,
  newExportReadStats,
  readExportRecords,
  scanRow,
  toUtcIso,
} from '../../lambda/export/store-reader.js';
import { tableNames } from '../../lambda/store/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  uniqueTablePrefix,
} from '../support/dynamo.js';

describe('row mapping', () => {
  it('gives every row exactly the columns of its table', () => {
    const rows = {
      images: imageRow({ type: 'image' }),
      findings: findingRow({ type: 'finding', firstSeen: '2025-01-01T00:00:00Z' }, null),
      scans: scanRow({ type: 'history', observedAt: '2025-01-01T00:00:00Z' }),
      changes: changeRows({ type: 'change', at: '2025-01-01T00:00:00Z' })[0] ?? {},
    };
    for (const table of EXPORT_TABLES) {
      expect(Object.keys(rows[table.name]).sort()).toEqual(table.columns.map((c) => c.name).sort());
    }
  });

  it('converts times with an offset to UTC, since a TIMESTAMP cast would drop the offset', () => {
    expect(toUtcIso('2025-01-01T02:00:00+02:00', 'x')).toBe('2025-01-01T00:00:00.000Z');
    expect(toUtcIso(null, 'x')).toBeNull();
  });

  it('rejects a stored time that is not a time, naming the item', () => {
    try {
      imageRow({ type: 'image', imageKey: 'r/a:1', scanTime: 'yesterday' });
      expect.unreachable();
    } catch (error) {
      expect(isSyncError(error, 'store.exportBadItem')).toBe(true);
      expect((error as Error).message).toContain('r/a:1 scanTime');
    }
  });

  it('dates an open finding last seen at its image scan and a resolved one at its resolution', () => {
    const open = findingRow({ firstSeen: '2025-01-01T00:00:00Z' }, '2025-02-01T00:00:00Z');
    const resolved = findingRow(
      {
        firstSeen: '2025-01-01T00:00:00Z',
        resolvedAt: '2025-01-15T00:00:00Z',
        resolvedReason: 'goneFromReport',
      },
      '2025-02-01T00:00:00Z',
    );
    expect(open).toMatchObject({
      is_open: true,
      last_seen: '2025-02-01T00:00:00.000Z',
      resolved_reason: null,
    });
    expect(resolved).toMatchObject({ is_open: false, last_seen: '2025-01-15T00:00:00.000Z' });
  });
});

describe('mergeAsync', () => {
  async function* source(values: number[], delayMs: number) {
    for (const value of values) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      yield value;
    }
  }

  it('yields every value of every source', async () => {
    const out: number[] = [];
    for await (const value of mergeAsync([source([1, 2, 3], 2), source([10, 20], 1), source([], 0)]))
      out.push(value);
    expect(out.sort((a, b) => a - b)).toEqual([1, 2, 3, 10, 20]);
  });

  it('fails with the first failing source and stops the others', async () => {
    let stopped = false;
    async function* endless() {
      try {
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          yield 0;
        }
      } finally {
        stopped = true;
      }
    }
    async function* failing() {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('segment failed');
    }
    await expect(async () => {
      for await (const _ of mergeAsync([endless(), failing()])) {
        // consume
      }
    }).rejects.toThrow('segment failed');
    expect(stopped).toBe(true);
  });
});

describe('reading the tables', () => {
  it('leaves out findings and history of an image whose item was never written', async () => {
    const prefix = uniqueTablePrefix('orphan');
    await createTestTables(localDynamoClient(), prefix);
    const client = localDocumentClient();
    const pk = 'I#c#r#a#1';
    const base = { pk, consoleId: 'c', registry: 'r', repo: 'a', tag: '1', imageKey: 'r/a:1' };
    const table = tableNames(prefix).images;
    await client.send(
      new PutCommand({
        TableName: table,
        Item: { ...base, sk: 'F#x', type: 'finding', firstSeen: '2025-01-01T00:00:00Z' },
      }),
    );
    await client.send(
      new PutCommand({
        TableName: table,
        Item: { ...base, sk: 'H#2025', type: 'history', observedAt: '2025-01-01T00:00:00Z' },
      }),
    );
    const stats = newExportReadStats();
    const rows = [];
    for await (const batch of readExportRecords({ client, tablePrefix: prefix, segments: 2 }, stats))
      rows.push(...batch);
    expect(rows).toEqual([]);
    expect(stats).toMatchObject({ itemsRead: 2, orphansSkipped: 2 });
  });
});
