import { ArnFormat, type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_TIMEOUT_MINUTES } from '../lambda/handler-limits.js';
import type { ConsoleDeployment } from './config.js';
import { XRAY_ACKNOWLEDGEMENT } from './nag.js';
import type { SyncTables } from './sync-tables.js';

/** Where the handler publishes its metrics (Powertools EMF). */
export const METRICS_NAMESPACE = 'PrismaRegistrySync';
/** Powertools adds `service=<name>` to every metric, so alarms must carry the same dimension. */
export const SERVICE_NAME = 'prisma-registry-sync';

/** The schedule's payload; the handler reads everything else from its environment. */
export interface ScheduleEvent {
  consoleId: string;
  trigger: 'schedule';
}

export interface ConsoleSyncProps {
  console: ConsoleDeployment;
  tables: SyncTables;
  tablePrefix: string;
  /** Absolute path of the handler's TypeScript entry (`lambda/handler.ts`). */
  handlerEntry: string;
  memoryMb: number;
  logRetentionDays: number;
  removalPolicy: 'retain' | 'destroy';
  alarmTopic: sns.ITopic | undefined;
  throttledAlarmThreshold: number;
  scanAgeAlarmDays: number;
  /** X-Ray active tracing. */
  tracing: boolean;
}

/**
 * DynamoDB actions the engine uses: point reads, queries, conditional writes and transactions (whose
 * items are authorized by PutItem/UpdateItem/DeleteItem/ConditionCheckItem). No Scan: every read is a
 * key or index query (SPEC §5); no stream reads: those belong to downstream consumers.
 */
export const DYNAMODB_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/**
 * Everything one console needs: its credentials secret, the sync function with its own role and log
 * group, the schedule with a dead-letter queue, and the alarms. Consoles share the tables only.
 *
 * @example
 * new ConsoleSync(stack, 'ConsoleProd', { console, tables, tablePrefix: 'prisma-registry', handlerEntry, ... });
 */
export class ConsoleSync extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly secret: secretsmanager.ISecret;
  readonly deadLetterQueue: sqs.Queue;
  readonly logGroup: logs.LogGroup;
  readonly schedule: scheduler.Schedule;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ConsoleSyncProps) {
    super(scope, id);
    const target = props.console;
    const retain = props.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.secret = target.secretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', target.secretArn)
      : new secretsmanager.Secret(this, 'Secret', {
          description: `Prisma Cloud Compute credentials {"username","password"} for console ${target.id}`,
          // Created with an empty username and a throwaway password: nothing secret is in the template,
          // and the operator writes the real value with put-secret-value (docs/deploy.md).
          generateSecretString: {
            secretStringTemplate: JSON.stringify({ username: '' }),
            generateStringKey: 'password',
            excludePunctuation: true,
            passwordLength: 32,
          },
          removalPolicy,
        });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // No fixed name: a log group retained by an earlier stack would make the next deploy fail with
    // "already exists". The name is a stack output.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });

    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Sync function of console ${target.id}: its own secret and log group, the shared tables`,
    });
    this.grantFunctionAccess(role, props);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      functionName: target.functionName,
      description: `Syncs Prisma Cloud registry scan reports of console ${target.id} into DynamoDB`,
      entry: props.handlerEntry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // One invocation pages until its safety margin before this limit, checkpoints and continues itself.
      timeout: Duration.minutes(FUNCTION_TIMEOUT_MINUTES),
      memorySize: props.memoryMb,
      role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      environment: handlerEnvironment(target, props.tablePrefix, this.secret.secretArn),
      // The handler continues a partial run by invoking itself; it bounds the chain itself
      // (MAX_CONTINUATIONS) and the lease keeps it to one chain, so Lambda's 16-hop loop breaker must
      // not cut a long full sync short.
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      // Asynchronous invocations (schedule, continuation): Lambda retries a failed run twice, then the
      // event lands in the dead-letter queue where the alarm sees it. After an hour it is stale: the
      // next scheduled run starts a fresh pass anyway.
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Some CommonJS dependencies call require() for Node built-ins; ESM output has no require.
        banner:
          "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Pin the SDK we test with instead of whatever version the runtime ships.
        bundleAwsSDK: true,
      },
    });

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName: target.functionName,
      description: `Full sync of console ${target.id}`,
      schedule: scheduler.ScheduleExpression.expression(target.schedule.expression),
      timeWindow: scheduler.TimeWindow.off(),
      target: new InvokeFunction(this.function, {
        role: this.scheduleRole(),
        input: scheduler.ScheduleTargetInput.fromObject({
          consoleId: target.id,
          trigger: 'schedule',
        } satisfies ScheduleEvent),
        // Delivery retries only (the invoke is asynchronous); undeliverable events go to the DLQ.
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
        deadLetterQueue: this.deadLetterQueue,
      }),
    });

    this.createAlarms(props);
    this.acknowledgeReviewedFindings(role, props);
  }

  /** The role EventBridge Scheduler assumes for this console's schedule only (confused-deputy guarded). */
  private scheduleRole(): iam.Role {
    return new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Lets the schedule invoke one sync function and write to its dead-letter queue',
    });
  }

  /** Least privilege: only the shared tables and their indexes, only this console's secret, itself. */
  private grantFunctionAccess(role: iam.Role, props: ConsoleSyncProps): void {
    const target = props.console;
    this.logGroup.grantWrite(role);
    // No dynamodb:LeadingKeys condition: raw-reports partitions are content-addressed (shared by the
    // consoles holding the same report) and `runs` has the shared CONSOLES registry partition, so a
    // condition the store can live with would not keep one console to its own keys (docs/deploy.md).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SyncTables',
        actions: [...DYNAMODB_ACTIONS],
        resources: props.tables.itemArns,
      }),
    );
    if (props.tables.key) {
      // What CDK's grantEncryptDecrypt gives, without its action wildcards, and only through DynamoDB.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SyncTablesKey',
          actions: [
            'kms:Decrypt',
            'kms:Encrypt',
            'kms:ReEncryptFrom',
            'kms:ReEncryptTo',
            'kms:GenerateDataKey',
            'kms:GenerateDataKeyWithoutPlaintext',
            'kms:DescribeKey',
          ],
          resources: [props.tables.key.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConsoleCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secret.secretArn],
      }),
    );
    if (target.secretKmsKeyArn) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ConsoleCredentialsKey',
          actions: ['kms:Decrypt'],
          resources: [target.secretKmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
    // Built from the fixed function name, not the function's ARN attribute: the role would otherwise
    // depend on the function that depends on the role. The handler continues a run through the ARN it
    // was invoked by (`invokedFunctionArn`), so that a run started through an alias or a version goes on
    // with the same code: the unqualified ARN and its qualified forms (`:<alias>`, `:<version>`).
    const functionArn = Stack.of(this).formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: target.functionName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ContinueRun',
        actions: ['lambda:InvokeFunction'],
        resources: [functionArn, `${functionArn}:*`],
      }),
    );
  }

  private createAlarms(props: ConsoleSyncProps): void {
    const target = props.console;
    const name = target.functionName;
    const add = (id: string, alarmProps: cloudwatch.AlarmProps) => {
      const alarm = new cloudwatch.Alarm(this, id, alarmProps);
      if (props.alarmTopic) {
        alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
        alarm.addOkAction(new cloudwatchActions.SnsAction(props.alarmTopic));
      }
      this.alarms.push(alarm);
    };

    add('ErrorsAlarm', {
      alarmName: `${name}-errors`,
      alarmDescription: `The sync function of console ${target.id} failed (it threw or timed out). See its log group.`,
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    add('DeadLetterAlarm', {
      alarmName: `${name}-dead-letters`,
      alarmDescription: `A scheduled or continued sync of console ${target.id} was dropped after its retries; it is in the dead-letter queue.`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Every invocation publishes RunCompleted 0 or 1, so its maximum over a window is 0 exactly when
    // the function ran but no run completed. Two such windows in a row: runs are stuck in `partial`.
    add('RunsNotCompletingAlarm', {
      alarmName: `${name}-runs-not-completing`,
      alarmDescription: `Console ${target.id}: invocations ran in each of the last two ${target.stuckWindowHours}-hour windows but no sync run completed (stuck in partial).`,
      metric: syncMetric(
        target.id,
        'RunCompleted',
        cloudwatch.Stats.MAXIMUM,
        Duration.hours(target.stuckWindowHours),
      ),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // The dead-man's switch. Every other alarm reads missing data as fine; this one reads it as breaching,
    // so a disabled schedule, a broken secret, invocations that are all skipped or a function that never
    // starts all end here. Hourly maxima of RunCompleted (0 or 1 per invocation): the alarm fires after
    // N hours in a row without a 1.
    add('NoCompletedRunAlarm', {
      alarmName: `${name}-no-completed-run`,
      alarmDescription: `Console ${target.id}: no sync run completed in the last ${target.noCompletedRunHours} hours (2 schedule intervals + the longest expected run). The schedule may be disabled, the secret broken or every invocation skipped or failing.`,
      metric: syncMetric(target.id, 'RunCompleted', cloudwatch.Stats.MAXIMUM, Duration.hours(1)),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: target.noCompletedRunHours,
      datapointsToAlarm: target.noCompletedRunHours,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // The client paces itself below the console's 30 requests / 30 s: 429s mean someone else spends the
    // same budget (or the console's limit changed).
    add('ThrottledAlarm', {
      alarmName: `${name}-throttled`,
      alarmDescription: `Console ${target.id} answered HTTP 429 at least ${props.throttledAlarmThreshold} times in an hour.`,
      metric: syncMetric(target.id, 'Throttled', cloudwatch.Stats.SUM, Duration.hours(1)),
      threshold: props.throttledAlarmThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Published once per invocation only: keep the last state between runs instead of flapping to OK.
    add('OldestScanAgeAlarm', {
      alarmName: `${name}-oldest-scan-age`,
      alarmDescription: `Console ${target.id} holds an image whose last scan is older than ${props.scanAgeAlarmDays} days: the console stopped rescanning it.`,
      metric: syncMetric(target.id, 'OldestScanAgeSeconds', cloudwatch.Stats.MAXIMUM, Duration.hours(1)),
      threshold: props.scanAgeAlarmDays * 86_400,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
  }

  /** cdk-nag findings reviewed for this construct, each acknowledged with the reason it is acceptable. */
  private acknowledgeReviewedFindings(role: iam.Role, props: ConsoleSyncProps): void {
    const stack = Stack.of(this);
    const policy = role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
    if (policy) {
      Validations.of(policy).acknowledge(
        ...props.tables.indexed.map((table) => ({
          id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(table.node.defaultChild as CfnElement)}.Arn>/index/*]`,
          reason:
            'Scoped wildcard: the global secondary indexes of this one sync table (table ARN + /index/*), which the store queries.',
        })),
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:${props.console.functionName}:*]`,
          reason:
            'The versions and aliases of this one function: a run continues through the ARN it was invoked by, so a run started through an alias or version keeps its code.',
        },
        ...(props.tracing ? [XRAY_ACKNOWLEDGEMENT] : []),
      );
    }
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose (issue 8): the bundle targets node22 and is tested on it; moving to a newer runtime is a reviewed change, not an automatic one.',
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the schedule and of the function.',
    });
    if (this.secret instanceof secretsmanager.Secret) {
      Validations.of(this.secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret holds Prisma Cloud credentials (an access key or console user) that only Prisma Cloud can issue; they are rotated there and written here with put-secret-value, so a Secrets Manager rotation function cannot rotate them.',
      });
    }
  }
}

/**
 * Scheduler target that may invoke the unqualified function only. The stock `LambdaInvoke` target grants
 * `function:*` too (every version and alias), which the schedule never needs.
 */
class InvokeFunction extends schedulerTargets.ScheduleTargetBase {
  private readonly fn: lambda.IFunction;

  constructor(fn: lambda.IFunction, props: schedulerTargets.ScheduleTargetBaseProps) {
    super(props, fn.functionArn);
    this.fn = fn;
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }),
    );
  }
}

/** One of the handler's metrics for one console, with the exact dimension set Powertools publishes. */
function syncMetric(
  consoleId: string,
  metricName: string,
  statistic: string,
  period: Duration,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME, ConsoleId: consoleId },
    statistic,
    period,
  });
}

/**
 * The handler's environment (SPEC §3). Only the secret's ARN: credentials never enter the template.
 *
 * @example handlerEnvironment(console, 'prisma-registry', secretArn).PRISMA_CONSOLE_ID // 'prod'
 */
export function handlerEnvironment(
  target: ConsoleDeployment,
  tablePrefix: string,
  secretArn: string,
): Record<string, string> {
  return {
    PRISMA_CONSOLE_URL: target.url,
    PRISMA_CONSOLE_ID: target.id,
    PRISMA_SECRET_ARN: secretArn,
    SYNC_TABLE_PREFIX: tablePrefix,
    ...(target.apiVersion ? { PRISMA_API_VERSION: target.apiVersion } : {}),
    ...(target.whenScanOngoing ? { SYNC_WHEN_SCAN_ONGOING: target.whenScanOngoing } : {}),
    ...(target.caBundle ? { PRISMA_CA_BUNDLE: target.caBundle } : {}),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    NODE_OPTIONS: '--enable-source-maps',
  };
}
