import { fileURLToPath } from 'node:url';
import { Annotations, type App, CfnOutput, Stack, type StackProps, Tags, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { TableDefinition } from '../lambda/store/table-definition.js';
import { TABLE_DEFINITIONS } from '../lambda/store/tables.js';
import { AnalyticsConstruct } from './analytics.js';
import { CONTEXT_KEYS, type ContextKey, parseStackConfig, type StackConfig } from './config.js';
import { ConsoleSync } from './console-sync.js';
import { pascalCase, SyncTables } from './sync-tables.js';

/** The handler the functions bundle. */
export const HANDLER_ENTRY = fileURLToPath(new URL('../lambda/handler.ts', import.meta.url));

export interface PrismaRegistrySyncStackProps extends StackProps {
  config: StackConfig;
  /** Defaults to the store's `TABLE_DEFINITIONS`; tests may pass their own. */
  tableDefinitions?: readonly TableDefinition[];
  /** Defaults to {@link HANDLER_ENTRY}. */
  handlerEntry?: string;
}

/**
 * The whole deployment: the shared tables, and per console a secret, a function, a schedule, a
 * dead-letter queue and alarms, with an optional SNS topic for the alarms.
 *
 * @example
 * const config = parseStackConfig({ consoles: [{ id: 'prod', url: 'https://console.example.com' }] });
 * new PrismaRegistrySyncStack(app, config.stackName, { config });
 */
export class PrismaRegistrySyncStack extends Stack {
  readonly tables: SyncTables;
  /** Per console id. */
  readonly consoles: ReadonlyMap<string, ConsoleSync>;
  readonly alarmTopic: sns.ITopic | undefined;
  readonly analytics: AnalyticsConstruct | undefined;

  constructor(scope: Construct, id: string, props: PrismaRegistrySyncStackProps) {
    super(scope, id, {
      description: 'prisma-registry-sync: DynamoDB copy of Prisma Cloud Compute registry scan reports',
      ...props,
    });
    const { config } = props;
    Tags.of(this).add('app', 'prisma-registry-sync');

    this.tables = new SyncTables(this, 'Tables', {
      definitions: props.tableDefinitions ?? TABLE_DEFINITIONS,
      prefix: config.tablePrefix,
      removalPolicy: config.removalPolicy,
      encryption: config.tableEncryption,
    });

    this.alarmTopic = this.createAlarmTopic(config);

    const consoles = new Map<string, ConsoleSync>();
    for (const target of config.consoles) {
      const sync = new ConsoleSync(this, `Console${pascalCase(target.slug)}`, {
        console: target,
        tables: this.tables,
        tablePrefix: config.tablePrefix,
        handlerEntry: props.handlerEntry ?? HANDLER_ENTRY,
        memoryMb: config.memoryMb,
        logRetentionDays: config.logRetentionDays,
        removalPolicy: config.removalPolicy,
        alarmTopic: this.alarmTopic,
        throttledAlarmThreshold: config.throttledAlarmThreshold,
        scanAgeAlarmDays: config.scanAgeAlarmDays,
        tracing: config.tracing,
      });
      consoles.set(target.id, sync);
      if (target.noCompletedRunCapped) {
        Annotations.of(sync).addWarningV2(
          'prisma-registry-sync:noCompletedRunCapped',
          `console ${target.id}: the no-completed-run alarm is capped at ${target.noCompletedRunHours} h: ${target.noCompletedRunCapped}`,
        );
      }
      if (/(^|\.)example\.(com|org|net)$/.test(new URL(target.url).hostname)) {
        Annotations.of(sync).addWarningV2(
          'prisma-registry-sync:placeholderConsole',
          `console ${target.id} points at the placeholder ${target.url}; set your consoles with -c consoles='[...]' (docs/deploy.md)`,
        );
      }
    }
    this.consoles = consoles;
    this.analytics = config.analytics
      ? new AnalyticsConstruct(this, 'Analytics', {
          tables: this.tables.byName,
          ...(this.tables.key ? { tableKey: this.tables.key } : {}),
          removalPolicy: config.removalPolicy,
          databaseName: config.names.glueDatabase,
          workGroupName: config.names.athenaWorkGroup,
          logRetentionDays: config.logRetentionDays as RetentionDays,
          tracing: config.tracing,
          ...(this.alarmTopic ? { alarmTopic: this.alarmTopic } : {}),
        })
      : undefined;
    if (this.analytics) {
      new CfnOutput(this, 'AnalyticsBucketName', {
        value: this.analytics.bucket.bucketName,
        description: 'DynamoDB exports for analytics',
      });
      new CfnOutput(this, 'AnalyticsDatabaseName', {
        value: this.analytics.databaseName,
        description: 'Glue database (Athena)',
      });
      new CfnOutput(this, 'AnalyticsWorkGroup', {
        value: this.analytics.workGroup.ref,
        description: 'Athena workgroup',
      });
    }
    this.createOutputs();
  }

  private createAlarmTopic(config: StackConfig): sns.ITopic | undefined {
    if (config.alarmTopicArn) return sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarmTopicArn);
    if (!config.alarmEmail) return undefined;
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'prisma-registry-sync alarms',
      enforceSSL: true,
    });
    topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    Validations.of(topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Alarm notifications carry alarm names and metric values only, no scan data or credentials. CloudWatch cannot publish to a topic encrypted with the AWS-managed aws/sns key, and a customer-managed key only for this adds cost and a key policy to maintain.',
    });
    return topic;
  }

  private createOutputs(): void {
    for (const [name, table] of this.tables.byName) {
      const id = pascalCase(name);
      new CfnOutput(this, `${id}TableName`, { value: table.tableName, description: `Table ${name}` });
      if (table.tableStreamArn) {
        new CfnOutput(this, `${id}TableStreamArn`, {
          value: table.tableStreamArn,
          description: `Change stream of table ${name} (NEW_AND_OLD_IMAGES) for downstream consumers`,
        });
      }
    }
    for (const [consoleId, sync] of this.consoles) {
      const id = pascalCase(sync.node.id.replace(/^Console/, ''));
      new CfnOutput(this, `${id}FunctionName`, {
        value: sync.function.functionName,
        description: `Sync function of console ${consoleId}`,
      });
      new CfnOutput(this, `${id}SecretArn`, {
        value: sync.secret.secretArn,
        description: `Credentials secret {"username","password"} of console ${consoleId}`,
      });
      new CfnOutput(this, `${id}LogGroupName`, {
        value: sync.logGroup.logGroupName,
        description: `Logs of console ${consoleId}'s sync function`,
      });
      new CfnOutput(this, `${id}DeadLetterQueueUrl`, {
        value: sync.deadLetterQueue.queueUrl,
        description: `Dropped scheduled or continued runs of console ${consoleId}`,
      });
    }
    if (this.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', {
        value: this.alarmTopic.topicArn,
        description: 'Alarm notifications',
      });
    }
  }
}

/** The app's context values this app reads (everything else in context belongs to the CDK). */
export function readContext(app: App): Partial<Record<ContextKey, unknown>> {
  const context: Partial<Record<ContextKey, unknown>> = {};
  for (const key of CONTEXT_KEYS) context[key] = app.node.tryGetContext(key);
  return context;
}

/**
 * Builds the stack from the app's context and applies the cdk-nag AwsSolutions checks to the app.
 * Throws a ConfigError naming the context key when the context is invalid.
 *
 * @example
 * const stack = buildSyncApp(new App({ context: { consoles: [{ id: 'prod', url: 'https://...' }] } }));
 */
export function buildSyncApp(
  app: App,
  options: Omit<PrismaRegistrySyncStackProps, 'config'> = {},
): PrismaRegistrySyncStack {
  const config = parseStackConfig(readContext(app));
  const stack = new PrismaRegistrySyncStack(app, config.stackName, { ...options, config });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
