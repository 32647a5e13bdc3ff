import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { localDocumentClient, localDynamoClient, uniqueTablePrefix } from './dynamo.js';

describe('the DynamoDB Local harness', () => {
  it('creates a table, writes an item and reads it back through lib-dynamodb', async () => {
    const table = `${uniqueTablePrefix('smoke')}-items`;
    await localDynamoClient().send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    const doc = localDocumentClient();
    await doc.send(new PutCommand({ TableName: table, Item: { pk: 'a', n: 1, nested: { list: [1, 'x'] } } }));
    const read = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'a' }, ConsistentRead: true }));
    expect(read.Item).toEqual({ pk: 'a', n: 1, nested: { list: [1, 'x'] } });
  });
});
