/**
 * The analytics path in AWS: native DynamoDB exports of the `images` table to a private S3 bucket
 * (a weekly full snapshot and hourly incremental exports, started by a small scheduled function),
 * a Glue database with tables over the export files and views with exactly the local export's
 * columns (`images`, `findings`, `scans`, `changes`), and an Athena workgroup with encrypted,
 * enforced results. The same SQL as on DuckDB runs there (docs/analytics.md).
 *
 * Why native exports rather than stream → Firehose → Parquet: exports read the point-in-time backup,
 * not the table (no read capacity, no effect on the sync), include everything already stored on day
 * one, and need no per-record code; an increment costs what changed. Firehose would need a stream
 * consumer and a transformation function per item type, would miss existing data, and buys
 * minute-level freshness that hourly scan reports do not need.
 */
import { fileURLToPath } from 'node:url';
import { Aws, CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ConfigError } from '../lambda/common/errors.js';
import {
  fullTableColumns,
  glueViews,
  incrementalTableColumns,
  prestoViewText,
  RAW_TABLES,
} from '../lambda/export/aws/athena-views.js';
import { acknowledgeAutoDeleteProvider, XRAY_ACKNOWLEDGEMENT } from './nag.js';

/** The exporter function's entry. */
export const EXPORTER_ENTRY = fileURLToPath(new URL('../lambda/export/aws/handler.ts', import.meta.url));

/** Key prefixes in the bucket. */
export const ANALYTICS_PREFIXES = {
  exports: 'dynamodb/images',
  state: 'state/',
  athenaResults: 'athena-results/',
} as const;

export interface AnalyticsConstructProps {
  /** The store's tables by logical name (`SyncTables.byName`); the `images` table is exported. */
  tables: ReadonlyMap<string, dynamodb.ITable>;
  /** The tables' customer-managed key, when they use one (`SyncTables.key`). */
  tableKey?: kms.IKey;
  /**
   * `retain` (default) keeps the buckets (exports, query results, access logs) on stack deletion;
   * `destroy` empties and deletes them. The Glue catalog and the workgroup are always deleted: they
   * hold no data, only what this construct (and the exporter, from its state) recreates.
   */
  removalPolicy?: 'retain' | 'destroy';
  /** Glue database name (default `prisma_registry_sync`); the stack derives it from the table prefix. */
  databaseName?: string;
  /** Athena workgroup name (default `prisma-registry-sync`); the stack derives it from the table prefix. */
  workGroupName?: string;
  /** Hours between full snapshots (default 168, weekly). */
  fullEveryHours?: number;
  /** Minutes between incremental exports (default 60; 15 to 1,440). */
  incrementalEveryMinutes?: number;
  /** Days export files are kept (default 35; at least two snapshot periods plus a week). */
  exportRetentionDays?: number;
  /** Days Athena query results are kept (default 30). */
  resultRetentionDays?: number;
  /** Per-query scan limit in bytes (default 100 GB): a runaway query fails instead of billing. */
  bytesScannedCutoffPerQuery?: number;
  logRetentionDays?: logs.RetentionDays;
  /** X-Ray active tracing of the exporter (default on). */
  tracing?: boolean;
  alarmTopic?: sns.ITopic;
  /** Defaults to {@link EXPORTER_ENTRY}; tests may pass a stub. */
  handlerEntry?: string;
}

/**
 * Scheduler target that may invoke the unqualified function only (the stock target also grants
 * every version and alias).
 */
class InvokeExporter extends schedulerTargets.ScheduleTargetBase {
  constructor(
    private readonly fn: lambda.IFunction,
    props: schedulerTargets.ScheduleTargetBaseProps,
  ) {
    super(props, fn.functionArn);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }),
    );
  }
}

function validate(props: AnalyticsConstructProps) {
  const fullEveryHours = props.fullEveryHours ?? 168;
  const incrementalEveryMinutes = props.incrementalEveryMinutes ?? 60;
  const exportRetentionDays = props.exportRetentionDays ?? 35;
  if (
    !Number.isInteger(incrementalEveryMinutes) ||
    incrementalEveryMinutes < 15 ||
    incrementalEveryMinutes > 1440
  ) {
    throw new ConfigError(
      `incrementalEveryMinutes must be 15 to 1440 (DynamoDB's window), got ${incrementalEveryMinutes}`,
    );
  }
  if (!Number.isInteger(fullEveryHours) || fullEveryHours < 1) {
    throw new ConfigError(`fullEveryHours must be a positive integer, got ${fullEveryHours}`);
  }
  // The snapshot Athena reads must outlive its successor's export (hours) and the increments after it.
  if (exportRetentionDays * 24 < 2 * fullEveryHours + 7 * 24) {
    throw new ConfigError(
      `exportRetentionDays (${exportRetentionDays}) must cover two snapshot periods plus a week (${Math.ceil((2 * fullEveryHours) / 24) + 7} days)`,
    );
  }
  return { fullEveryHours, incrementalEveryMinutes, exportRetentionDays };
}

/**
 * @example
 * const analytics = new AnalyticsConstruct(stack, 'Analytics', { tables: tables.byName, tableKey: tables.key });
 * analytics.workGroup.name; // 'prisma-registry-sync'
 */
export class AnalyticsConstruct extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly workGroup: athena.CfnWorkGroup;
  readonly exporter: nodejs.NodejsFunction;
  readonly schedule: scheduler.Schedule;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AnalyticsConstructProps) {
    super(scope, id);
    const settings = validate(props);
    const table = props.tables.get('images');
    if (!table) throw new ConfigError('AnalyticsConstruct needs the store\'s "images" table in props.tables');
    const retain = (props.removalPolicy ?? 'retain') === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const stack = Stack.of(this);
    this.databaseName = props.databaseName ?? 'prisma_registry_sync';

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy,
      // CloudFormation deletes only an empty bucket: under `destroy`, CDK's auto-delete function empties it
      // (every object version) first. Under `retain` there is no such function.
      autoDeleteObjects: !retain,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket receives the server access logs of the analytics bucket; logging it to itself would loop.',
    });

    // SSE-S3: DynamoDB exports and Athena results support it, and readers need no key policy. Private,
    // TLS only, versioned (a deleted or overwritten export stays recoverable for a week).
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-exports',
          prefix: `${ANALYTICS_PREFIXES.exports}/`,
          expiration: Duration.days(settings.exportRetentionDays),
        },
        {
          id: 'expire-athena-results',
          prefix: ANALYTICS_PREFIXES.athenaResults,
          expiration: Duration.days(props.resultRetentionDays ?? 30),
        },
        { id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(7) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy,
      autoDeleteObjects: !retain,
    });

    // Server access logs through a bucket policy scoped to this bucket (not the legacy log-delivery ACL,
    // which would need ACLs enabled on the log bucket).
    (this.bucket.node.defaultChild as s3.CfnBucket).loggingConfiguration = {
      destinationBucketName: this.accessLogsBucket.bucketName,
      logFilePrefix: 'analytics/',
    };
    this.accessLogsBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServerAccessLogs',
        principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [this.accessLogsBucket.arnForObjects('analytics/*')],
        conditions: {
          ArnLike: { 'aws:SourceArn': this.bucket.bucketArn },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: this.databaseName,
        description:
          'prisma-registry-sync: DynamoDB exports of the images table and the flat analytics views',
      },
    });
    // Deleted with the stack whatever the policy: the catalog is metadata this construct recreates, and a
    // retained database with its fixed name would make the next deploy fail with "already exists".
    this.database.applyRemovalPolicy(RemovalPolicy.DESTROY);
    const rawTables = this.createRawTables();
    this.createViews(rawTables);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName ?? 'prisma-registry-sync',
      description: 'Queries over the prisma-registry-sync analytics views',
      state: 'ENABLED',
      // Deleted with the stack (saved queries with it) whatever the policy, for the same reason as the
      // catalog; query results stay in the bucket under `retain`.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 100 * 1024 ** 3,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: this.bucket.s3UrlForObject(ANALYTICS_PREFIXES.athenaResults),
          expectedBucketOwner: Aws.ACCOUNT_ID,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const logGroup = new logs.LogGroup(this, 'ExporterLogs', {
      retention: props.logRetentionDays ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy,
    });
    const tracing = props.tracing ?? true;
    const role = new iam.Role(this, 'ExporterRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Starts DynamoDB exports of the images table and publishes them to the Glue catalog',
    });
    logGroup.grantWrite(role);
    this.grantExporter(role, table, props.tableKey);

    this.exporter = new nodejs.NodejsFunction(this, 'Exporter', {
      description: 'Starts DynamoDB exports of the images table to S3 and publishes finished ones to Athena',
      entry: props.handlerEntry ?? EXPORTER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.minutes(2),
      memorySize: 256,
      // No reserved concurrency: reserving any fails creation in accounts at the new-account quota of 10.
      // Two overlapping runs are harmless instead: an export request carries a ClientToken (the same
      // export is started once), and the state object is written conditionally on the version read.
      retryAttempts: 0,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      environment: {
        EXPORT_TABLE_ARN: table.tableArn,
        EXPORT_BUCKET: this.bucket.bucketName,
        EXPORT_BASE_PREFIX: ANALYTICS_PREFIXES.exports,
        EXPORT_STATE_KEY: `${ANALYTICS_PREFIXES.state}exporter-images.json`,
        EXPORT_FULL_EVERY_HOURS: String(settings.fullEveryHours),
        EXPORT_INCREMENTAL_EVERY_MINUTES: String(settings.incrementalEveryMinutes),
        GLUE_DATABASE: this.databaseName,
        GLUE_FULL_TABLE: RAW_TABLES.full,
        GLUE_INCREMENTAL_TABLE: RAW_TABLES.incremental,
        POWERTOOLS_SERVICE_NAME: 'prisma-registry-sync-exporter',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner:
          "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true,
        // The CLI's Parquet writer; never reachable from this handler, and never to be bundled.
        externalModules: ['@duckdb/node-api'],
      },
    });

    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Lets the analytics schedule invoke the exporter function',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Starts due DynamoDB exports and publishes finished ones',
      schedule: scheduler.ScheduleExpression.rate(
        Duration.minutes(Math.min(settings.incrementalEveryMinutes, 60)),
      ),
      timeWindow: scheduler.TimeWindow.off(),
      target: new InvokeExporter(this.exporter, {
        role: scheduleRole,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    });

    // The exporter fails loudly (a failed export, a missing permission): three failing runs in a row alarm.
    this.alarm = new cloudwatch.Alarm(this, 'ExporterFailing', {
      alarmDescription: 'The analytics exporter failed in each of the last three hours',
      metric: this.exporter.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      this.alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
      this.alarm.addOkAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    }

    this.acknowledgeReviewedFindings(role, table, tracing, !retain);
  }

  private createRawTables(): { full: glue.CfnTable; incremental: glue.CfnTable } {
    const table = (
      id: string,
      name: string,
      kind: 'full' | 'incremental',
      columns: Array<{ name: string; type: string }>,
    ) => {
      const cfn = new glue.CfnTable(this, id, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: this.databaseName,
        tableInput: {
          name,
          description: `DynamoDB ${kind} exports of the images table (DynamoDB JSON); one partition per published export`,
          tableType: 'EXTERNAL_TABLE',
          parameters: { classification: 'json', compressionType: 'gzip', EXTERNAL: 'TRUE' },
          partitionKeys: [{ name: 'export_id', type: 'string' }],
          storageDescriptor: {
            location: this.bucket.s3UrlForObject(`${ANALYTICS_PREFIXES.exports}/${kind}/`),
            columns,
            inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
            serdeInfo: {
              serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
              // Keys are matched case-insensitively (`scanTime` → `scantime`); a line that is not an
              // item (none in data/ folders) is skipped rather than failing the query.
              parameters: { 'case.insensitive': 'true', 'ignore.malformed.json': 'true' },
            },
          },
        },
      });
      cfn.addResourceDependency(this.database);
      cfn.applyRemovalPolicy(RemovalPolicy.DESTROY);
      return cfn;
    };
    return {
      full: table('FullExportTable', RAW_TABLES.full, 'full', fullTableColumns()),
      incremental: table(
        'IncrementalExportTable',
        RAW_TABLES.incremental,
        'incremental',
        incrementalTableColumns(),
      ),
    };
  }

  /** The views (Presto views stored in the catalog, the form Athena's CREATE VIEW writes). */
  private createViews(raw: { full: glue.CfnTable; incremental: glue.CfnTable }): void {
    let previous: glue.CfnTable | undefined;
    for (const view of glueViews(this.databaseName)) {
      const cfn = new glue.CfnTable(
        this,
        `View${view.name.replace(/(^|_)([a-z])/g, (_, _s, c: string) => c.toUpperCase())}`,
        {
          catalogId: Aws.ACCOUNT_ID,
          databaseName: this.databaseName,
          tableInput: {
            name: view.name,
            description:
              view.name === RAW_TABLES.currentItems
                ? 'Newest version of every exported item (snapshot plus increments); internal to the views'
                : `The ${view.name} table of the analytics schema (docs/analytics.md)`,
            tableType: 'VIRTUAL_VIEW',
            parameters: { presto_view: 'true', comment: 'Presto View' },
            viewOriginalText: prestoViewText(view, this.databaseName),
            viewExpandedText: '/* Presto View */',
            storageDescriptor: { columns: view.glueColumns, serdeInfo: {} },
          },
        },
      );
      cfn.addResourceDependency(raw.full);
      cfn.addResourceDependency(raw.incremental);
      // current_items first: the other views read it.
      if (previous) cfn.addResourceDependency(previous);
      previous ??= cfn;
      cfn.applyRemovalPolicy(RemovalPolicy.DESTROY);
    }
  }

  private grantExporter(role: iam.Role, table: dynamodb.ITable, tableKey: kms.IKey | undefined): void {
    const stack = Stack.of(this);
    const exportsPrefix = `${ANALYTICS_PREFIXES.exports}/`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StartExports',
        actions: ['dynamodb:ExportTableToPointInTime'],
        resources: [table.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeExports',
        actions: ['dynamodb:DescribeExport'],
        resources: [`${table.tableArn}/export/*`],
      }),
    );
    // DynamoDB writes the export files with the caller's permissions.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteExports',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:PutObjectAcl'],
        resources: [this.bucket.arnForObjects(`${exportsPrefix}*`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ExporterState',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects(`${ANALYTICS_PREFIXES.state}*`)],
      }),
    );
    // Without ListBucket a missing state object reads as AccessDenied instead of NoSuchKey.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListState',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${ANALYTICS_PREFIXES.state}*`] } },
      }),
    );
    const tableArn = (name: string) =>
      stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${this.databaseName}/${name}` });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishPartitions',
        actions: [
          'glue:GetTable',
          'glue:GetPartitions',
          'glue:BatchCreatePartition',
          'glue:BatchDeletePartition',
        ],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
          tableArn(RAW_TABLES.full),
          tableArn(RAW_TABLES.incremental),
        ],
      }),
    );
    if (tableKey) {
      // Exporting a table encrypted with a customer-managed key reads through it, and only DynamoDB does.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'TableKey',
          actions: ['kms:Decrypt', 'kms:DescribeKey'],
          resources: [tableKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` } },
        }),
      );
    }
  }

  /** cdk-nag findings reviewed for this construct, each acknowledged with its reason. */
  private acknowledgeReviewedFindings(
    role: iam.Role,
    table: dynamodb.ITable,
    tracing: boolean,
    autoDelete: boolean,
  ): void {
    const stack = Stack.of(this);
    const policy = role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
    const bucketArn = `<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`;
    const tableElement = table.node.defaultChild;
    const tableArn =
      tableElement instanceof CfnElement ? `<${stack.getLogicalId(tableElement)}.Arn>` : table.tableArn;
    if (policy) {
      Validations.of(policy).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::${bucketArn}/${ANALYTICS_PREFIXES.exports}/*]`,
          reason:
            'DynamoDB names the export objects itself (export id, random file names) under this one prefix.',
        },
        {
          id: `AwsSolutions-IAM5[Resource::${bucketArn}/${ANALYTICS_PREFIXES.state}*]`,
          reason: "The exporter's own state objects, one prefix.",
        },
        {
          id: `AwsSolutions-IAM5[Resource::${tableArn}/export/*]`,
          reason:
            'Export ARNs are generated by DynamoDB; DescribeExport is scoped to the exports of this one table.',
        },
        ...(tracing ? [XRAY_ACKNOWLEDGEMENT] : []),
      );
    }
    if (autoDelete) acknowledgeAutoDeleteProvider(stack);
    Validations.of(this.exporter).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x like the sync function: the bundle targets node22 and is tested on it.',
    });
  }
}
