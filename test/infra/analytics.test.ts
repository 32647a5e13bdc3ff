import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsConstruct, type AnalyticsConstructProps } from '../../infra/analytics.js';
import { isSyncError } from '../../lambda/common/errors.js';
import { RAW_TABLES } from '../../lambda/export/aws/athena-views.js';
import { allowStatements, asArray, type CfnResourceJson, resourcesOfType } from './synth.js';

/** A stack with an images table like the store's (PITR on) and the construct, synthesized without bundling. */
function synth(props: Partial<AnalyticsConstructProps> = {}, options: { key?: boolean } = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AnalyticsTest', { env: { account: '111111111111', region: 'eu-west-1' } });
  const key = options.key ? new kms.Key(stack, 'TableKey', { enableKeyRotation: true }) : undefined;
  const images = new dynamodb.Table(stack, 'Images', {
    tableName: 'prisma-registry-images',
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(key ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key } : {}),
  });
  const construct = new AnalyticsConstruct(stack, 'Analytics', {
    tables: new Map([['images', images]]),
    ...(key ? { tableKey: key } : {}),
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, CfnResourceJson>;
  const nagViolations = new AwsSolutionsChecks(app).validateScope(app).violations;
  return { stack, construct, template, resources, nagViolations, images };
}

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:alarms';

describe('AnalyticsConstruct', () => {
  let synthesized: ReturnType<typeof synth>;
  beforeAll(() => {
    synthesized = synth();
  });

  it('passes the cdk-nag AwsSolutions checks, every exception acknowledged with a reason', () => {
    expect(synthesized.nagViolations.map((v) => `${v.ruleName}: ${v.description}`)).toEqual([]);
  });

  it('keeps the exports in an encrypted, private, versioned bucket that refuses plain HTTP', () => {
    const { template, construct, stack } = synthesized;
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'analytics/' }),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'dynamodb/images/', ExpirationInDays: 35, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'athena-results/', ExpirationInDays: 30 }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
        ]),
      },
    });
    const bucketId = stack.getLogicalId(construct.bucket.node.defaultChild as never);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const buckets = resourcesOfType(synthesized.resources, 'AWS::S3::Bucket');
    expect(buckets.every(([, bucket]) => bucket.DeletionPolicy === 'Retain')).toBe(true);
  });

  it('runs Athena in a workgroup that enforces encrypted results in the bucket on engine 3', () => {
    synthesized.template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'prisma-registry-sync',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: Match.objectLike({
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          OutputLocation: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
        }),
      }),
    });
  });

  it('catalogs both export layouts as partitioned JSON tables and the four analytics views', () => {
    const tables = resourcesOfType(synthesized.resources, 'AWS::Glue::Table').map(
      ([, table]) => (table.Properties?.TableInput ?? {}) as Record<string, unknown>,
    );
    const byName = new Map(tables.map((input) => [input.Name as string, input]));
    expect([...byName.keys()].sort()).toEqual(
      [
        RAW_TABLES.full,
        RAW_TABLES.incremental,
        RAW_TABLES.currentItems,
        'images',
        'findings',
        'scans',
        'changes',
      ].sort(),
    );
    for (const raw of [RAW_TABLES.full, RAW_TABLES.incremental]) {
      expect(byName.get(raw)).toMatchObject({
        TableType: 'EXTERNAL_TABLE',
        PartitionKeys: [{ Name: 'export_id', Type: 'string' }],
        StorageDescriptor: { SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' } },
      });
    }
    const images = byName.get('images') as {
      TableType: string;
      ViewOriginalText: string;
      StorageDescriptor: { Columns: Array<{ Name: string; Type: string }> };
    };
    expect(images.TableType).toBe('VIRTUAL_VIEW');
    expect(images.ViewOriginalText).toMatch(/^\/\* Presto View: [A-Za-z0-9+/=]+ \*\/$/);
    expect(images.StorageDescriptor.Columns).toContainEqual({ Name: 'scan_time', Type: 'timestamp' });
    synthesized.template.hasResourceProperties('AWS::Glue::Database', {
      DatabaseInput: Match.objectLike({ Name: 'prisma_registry_sync' }),
    });
  });

  it('lets the exporter start and describe exports of the images table only, and write only its prefixes', () => {
    const { resources, stack, images } = synthesized;
    const statements = allowStatements(resources).map(([, statement]) => statement);
    const tableArn = { 'Fn::GetAtt': [stack.getLogicalId(images.node.defaultChild as never), 'Arn'] };
    const bySid = new Map(statements.filter((s) => s.Sid).map((s) => [s.Sid as string, s]));
    expect(bySid.get('StartExports')).toMatchObject({
      Action: 'dynamodb:ExportTableToPointInTime',
      Resource: tableArn,
    });
    expect(JSON.stringify(bySid.get('DescribeExports')?.Resource)).toContain('/export/*');
    expect(JSON.stringify(bySid.get('WriteExports')?.Resource)).toContain('/dynamodb/images/*');
    expect(JSON.stringify(bySid.get('ExporterState')?.Resource)).toContain('/state/*');
    expect(bySid.get('ListState')?.Condition).toEqual({ StringLike: { 's3:prefix': ['state/*'] } });
    const glue = bySid.get('PublishPartitions')!;
    expect(asArray(glue.Action).sort()).toEqual(
      [
        'glue:BatchCreatePartition',
        'glue:BatchDeletePartition',
        'glue:GetPartitions',
        'glue:GetTable',
      ].sort(),
    );
    expect(JSON.stringify(glue.Resource)).toContain(`prisma_registry_sync/${RAW_TABLES.full}`);
    // No statement reads or writes the table's items: exports read the backups.
    const actions = statements.flatMap((s) => asArray(s.Action));
    expect(actions.filter((a) => /^dynamodb:(Scan|Query|GetItem|PutItem|BatchWriteItem)$/.test(a))).toEqual(
      [],
    );
    expect(actions).not.toContain('kms:Decrypt');
  });

  it('schedules the exporter hourly, reserves no concurrency, and alarms when it keeps failing', () => {
    const { template } = synthesized;
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Target: Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }) }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      ReservedConcurrentExecutions: Match.absent(),
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Environment: {
        Variables: Match.objectLike({
          EXPORT_BASE_PREFIX: 'dynamodb/images',
          EXPORT_FULL_EVERY_HOURS: '168',
          EXPORT_INCREMENTAL_EVERY_MINUTES: '60',
          GLUE_DATABASE: 'prisma_registry_sync',
        }),
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      EvaluationPeriods: 3,
      Threshold: 1,
    });
  });

  it('may decrypt through the tables key when they use one, and can be destroyed with the stack', () => {
    const { resources, nagViolations } = synth({ removalPolicy: 'destroy' }, { key: true });
    const statement = allowStatements(resources).find(([, s]) => s.Sid === 'TableKey')?.[1];
    expect(asArray(statement?.Action ?? [])).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
    expect(statement?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' },
    });
    expect(nagViolations).toEqual([]);
    const buckets = resourcesOfType(resources, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(2);
    expect(buckets.every(([, bucket]) => bucket.DeletionPolicy === 'Delete')).toBe(true);
    // Both buckets are versioned or written to until the end: CloudFormation deletes only empty ones.
    const emptied = resourcesOfType(resources, 'Custom::S3AutoDeleteObjects').map(
      ([, resource]) => (resource.Properties?.BucketName as { Ref?: string } | undefined)?.Ref,
    );
    expect(emptied.sort()).toEqual(buckets.map(([id]) => id).sort());
    for (const [, workGroup] of resourcesOfType(resources, 'AWS::Athena::WorkGroup')) {
      expect(workGroup.Properties?.RecursiveDeleteOption).toBe(true);
    }
  });

  it('keeps the buckets under retain but deletes the catalog and workgroup, whose fixed names would block a redeploy', () => {
    const { resources } = synthesized;
    for (const [, bucket] of resourcesOfType(resources, 'AWS::S3::Bucket'))
      expect(bucket.DeletionPolicy).toBe('Retain');
    expect(resourcesOfType(resources, 'Custom::S3AutoDeleteObjects')).toEqual([]);
    const catalog = [
      ...resourcesOfType(resources, 'AWS::Glue::Database'),
      ...resourcesOfType(resources, 'AWS::Glue::Table'),
      ...resourcesOfType(resources, 'AWS::Athena::WorkGroup'),
    ];
    expect(catalog.length).toBeGreaterThan(2);
    for (const [, resource] of catalog) expect(resource.DeletionPolicy ?? 'Delete').toBe('Delete');
    for (const [, workGroup] of resourcesOfType(resources, 'AWS::Athena::WorkGroup')) {
      expect(workGroup.Properties?.RecursiveDeleteOption).toBe(true);
    }
  });

  it('notifies the alarm topic on alarm and on recovery, and keeps its logs for the given retention', () => {
    const topic = sns.Topic.fromTopicArn(new Stack(new App(), 'Topic'), 'Alarms', TOPIC_ARN);
    const { template } = synth({ alarmTopic: topic, logRetentionDays: 30 });
    const [alarm] = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarm?.Properties.AlarmActions).toEqual([TOPIC_ARN]);
    expect(alarm?.Properties.OKActions).toEqual(alarm?.Properties.AlarmActions);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('refuses settings DynamoDB or the retention cannot honour, naming them', () => {
    for (const props of [
      { incrementalEveryMinutes: 5 },
      { fullEveryHours: 0 },
      { fullEveryHours: 24 * 30, exportRetentionDays: 35 },
    ]) {
      try {
        synth(props);
        expect.unreachable();
      } catch (error) {
        expect(isSyncError(error, 'config.invalid')).toBe(true);
        expect((error as Error).message).toMatch(
          Object.keys(props)[0] === 'fullEveryHours' && !('exportRetentionDays' in props)
            ? /fullEveryHours/
            : /incrementalEveryMinutes|exportRetentionDays/,
        );
      }
    }
  });

  it('needs the images table', () => {
    const app = new App();
    const stack = new Stack(app, 'NoImages');
    expect(() => new AnalyticsConstruct(stack, 'Analytics', { tables: new Map() })).toThrow(/images/);
  });
});
