import { describe, expect, it } from 'vitest';
import { type ExporterClients, type ExporterSettings, runExporter } from '../../lambda/export/aws/handler.js';

const settings: ExporterSettings = {
  tableArn: 'arn:aws:dynamodb:eu-west-1:111111111111:table/prisma-registry-images',
  bucket: 'analytics',
  basePrefix: 'dynamodb/images',
  stateKey: 'state/exporter-images.json',
  database: 'prisma_registry_sync',
  fullTable: 'export_full',
  incrementalTable: 'export_incremental',
  plan: {},
};

class PreconditionFailed extends Error {
  override name = 'PreconditionFailed';
}

/**
 * S3, DynamoDB and Glue as far as the exporter uses them, with S3's conditional-write rules
 * (`IfNoneMatch: '*'` fails when the object exists, `IfMatch` when its ETag changed) and DynamoDB's
 * ClientToken rule (the same token starts the same export). No local S3 exists to test against.
 */
function fakeAws() {
  let object: { body: string; etag: string } | undefined;
  let version = 0;
  const exportsByToken = new Map<string, string>();
  const partitionsCreated: string[] = [];
  const send = async (command: object): Promise<unknown> => {
    const name = command.constructor.name;
    const input = (command as { input: Record<string, unknown> }).input;
    await Promise.resolve();
    switch (name) {
      case 'GetObjectCommand': {
        if (!object) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
        const { body, etag } = object;
        return { ETag: etag, Body: { transformToString: async () => body } };
      }
      case 'PutObjectCommand': {
        if (input.IfNoneMatch === '*' && object) throw new PreconditionFailed('exists');
        if (input.IfMatch !== undefined && input.IfMatch !== object?.etag)
          throw new PreconditionFailed('changed');
        version += 1;
        object = { body: String(input.Body), etag: `"v${version}"` };
        return {};
      }
      case 'ExportTableToPointInTimeCommand': {
        const token = String(input.ClientToken);
        const arn = exportsByToken.get(token) ?? `${settings.tableArn}/export/${exportsByToken.size + 1}`;
        exportsByToken.set(token, arn);
        return { ExportDescription: { ExportArn: arn, ExportTime: new Date('2026-12-03T20:00:00Z') } };
      }
      case 'DescribeExportCommand':
        return { ExportDescription: { ExportStatus: 'IN_PROGRESS' } };
      case 'GetPartitionsCommand':
        return { Partitions: [] };
      case 'GetTableCommand':
        return { Table: { StorageDescriptor: {} } };
      case 'BatchCreatePartitionCommand':
        partitionsCreated.push(String(input.TableName));
        return {};
      default:
        throw new Error(`unexpected ${name}`);
    }
  };
  const clients: ExporterClients = { dynamodb: { send }, s3: { send }, glue: { send } };
  return { clients, state: () => object, exports: () => [...exportsByToken.values()] };
}

describe('two exporter runs at once (no reserved concurrency)', () => {
  it('save the state once: the run that read it second stops without saving or publishing', async () => {
    const aws = fakeAws();
    const now = new Date('2026-12-03T20:00:00Z');
    const results = await Promise.all([
      runExporter(settings, aws.clients, now),
      runExporter(settings, aws.clients, now),
    ]);
    expect(results.filter((result) => result.superseded)).toHaveLength(1);
    const winner = results.find((result) => !result.superseded);
    expect(winner?.started?.kind).toBe('startFull');
    // The same ClientToken: one export, recorded in the one saved state.
    expect(aws.exports()).toHaveLength(1);
    expect(JSON.parse(aws.state()?.body ?? '{}').pendingFull?.exportArn).toBe(aws.exports()[0]);
  });

  it('write on top of the state they read, so a later run continues from it', async () => {
    const aws = fakeAws();
    await runExporter(settings, aws.clients, new Date('2026-12-03T20:00:00Z'));
    const before = aws.state()?.etag;
    const next = await runExporter(settings, aws.clients, new Date('2026-12-03T21:00:00Z'));
    expect(next.superseded).toBeUndefined();
    expect(aws.state()?.etag).not.toBe(before);
  });
});
