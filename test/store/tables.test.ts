import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import {
  createTables,
  TABLE_DEFINITIONS,
  tableNames,
  toCreateTableInput,
} from '../../lambda/store/tables.js';
import { localDynamoClient, uniqueTablePrefix } from '../support/dynamo.js';

describe('TABLE_DEFINITIONS', () => {
  it('defines three tables whose every key and index key is a string attribute', () => {
    expect(TABLE_DEFINITIONS.map((def) => def.name)).toEqual(['images', 'raw-reports', 'runs']);
    for (const def of TABLE_DEFINITIONS) {
      const keys = [
        def.partitionKey,
        def.sortKey,
        ...def.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
      ];
      expect(keys.every((key) => key === undefined || key.type === 'S')).toBe(true);
    }
  });

  it('streams the images table for analytics and expires run bookkeeping by TTL', () => {
    const byName = Object.fromEntries(TABLE_DEFINITIONS.map((def) => [def.name, def]));
    expect(byName.images?.stream).toBe('NEW_AND_OLD_IMAGES');
    expect(byName['raw-reports']?.stream).toBeUndefined();
    expect(byName.runs?.timeToLiveAttribute).toBe('ttl');
  });

  it('builds a CreateTable request that defines each attribute once', () => {
    const request = toCreateTableInput('p', TABLE_DEFINITIONS[0]!);
    expect(request.TableName).toBe('p-images');
    expect(request.BillingMode).toBe('PAY_PER_REQUEST');
    const names = request.AttributeDefinitions?.map((a) => a.AttributeName) ?? [];
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(['curPk', 'curSk', 'pk', 'repoPk', 'repoSk', 'sk', 'vulnPk', 'vulnSk']);
  });

  it('leaves the stream off only when asked (DynamoDB Local without a consumer)', () => {
    const images = TABLE_DEFINITIONS[0]!;
    expect(toCreateTableInput('p', images).StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    expect(toCreateTableInput('p', images, { streams: true }).StreamSpecification).toBeDefined();
    expect(toCreateTableInput('p', images, { streams: false }).StreamSpecification).toBeUndefined();
  });
});

describe('createTables', () => {
  it('creates every table once, ACTIVE, with streams, indexes and TTL, and is idempotent', async () => {
    const client = localDynamoClient();
    const prefix = uniqueTablePrefix('tables');
    const names = tableNames(prefix);
    expect(await createTables(client, prefix)).toEqual({
      created: [names.images, names.rawReports, names.runs],
      existing: [],
    });
    expect(await createTables(client, prefix)).toEqual({
      created: [],
      existing: [names.images, names.rawReports, names.runs],
    });

    const { Table } = await client.send(new DescribeTableCommand({ TableName: names.images }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.StreamSpecification).toMatchObject({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
      'current-images',
      'current-images-by-repo',
      'open-findings-by-vulnerability',
    ]);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: names.runs }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
  });

  it('refuses an existing table whose keys differ from the definition', async () => {
    const client = localDynamoClient();
    const prefix = uniqueTablePrefix('mismatch');
    await client.send(
      new CreateTableCommand({
        TableName: `${prefix}-runs`,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    await expect(createTables(client, prefix)).rejects.toSatisfy((e) =>
      isSyncError(e, 'store.tableMismatch'),
    );
  });
});
