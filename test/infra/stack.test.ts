import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DYNAMODB_ACTIONS } from '../../infra/console-sync.js';
import { pascalCase } from '../../infra/sync-tables.js';
import type { TableDefinition } from '../../lambda/store/table-definition.js';
import { createTables, TABLE_DEFINITIONS, toCreateTableInput } from '../../lambda/store/tables.js';
import { startSimulator } from '../../simulator/simulator.js';
import { localDynamoClient, localDynamoEnv, uniqueTablePrefix } from '../support/dynamo.js';
import {
  allowStatements,
  asArray,
  environmentOf,
  resourcesOfType,
  type Synthesized,
  synthesize,
} from './synth.js';

const CONSOLE_URL = 'https://us-east1.cloud.twistlock.com/us-1-111111111';

let synth: Synthesized;

/** The one bundled handler file in the synthesized cloud assembly. */
function bundledHandler(): string {
  const assembly = synth.app.synth();
  const bundles = readdirSync(assembly.directory)
    .filter((entry) => entry.startsWith('asset.'))
    .map((entry) => join(assembly.directory, entry, 'index.mjs'))
    .filter((file) => existsSync(file));
  expect(bundles).toHaveLength(1);
  return bundles[0] ?? '';
}

function runNode(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(() => {
  // One synthesis with real esbuild bundling of lambda/handler.ts for the whole file.
  synth = synthesize(
    { consoles: [{ id: 'prod', url: CONSOLE_URL }], alarmEmail: 'secops@example.com' },
    { bundle: true },
  );
});

const keySchema = (def: Pick<TableDefinition, 'partitionKey' | 'sortKey'>) => [
  { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
  ...(def.sortKey ? [{ AttributeName: def.sortKey.name, KeyType: 'RANGE' }] : []),
];

function tableResource(def: TableDefinition) {
  const found = resourcesOfType(synth.resources, 'AWS::DynamoDB::Table').find(
    ([, resource]) => resource.Properties?.TableName === `prisma-registry-${def.name}`,
  );
  if (!found) throw new Error(`no table for ${def.name}`);
  return found[1];
}

describe('the tables', () => {
  it('are exactly the tables of TABLE_DEFINITIONS, named with the prefix', () => {
    const names = resourcesOfType(synth.resources, 'AWS::DynamoDB::Table').map(
      ([, t]) => t.Properties?.TableName,
    );
    expect(names.sort()).toEqual(TABLE_DEFINITIONS.map((def) => `prisma-registry-${def.name}`).sort());
  });

  it.each(TABLE_DEFINITIONS.map((def) => [def.name, def] as const))(
    'builds %s with the keys, indexes, projections, TTL and stream of its definition',
    (_name, def) => {
      const props = tableResource(def).Properties ?? {};
      expect(props.KeySchema).toEqual(keySchema(def));
      const indexes = def.globalSecondaryIndexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: keySchema(index),
        Projection:
          typeof index.projection === 'string'
            ? { ProjectionType: index.projection }
            : { ProjectionType: 'INCLUDE', NonKeyAttributes: index.projection.include },
      }));
      expect(props.GlobalSecondaryIndexes).toEqual(indexes.length > 0 ? indexes : undefined);
      expect(props.TimeToLiveSpecification).toEqual(
        def.timeToLiveAttribute ? { AttributeName: def.timeToLiveAttribute, Enabled: true } : undefined,
      );
      expect(props.StreamSpecification).toEqual(def.stream ? { StreamViewType: def.stream } : undefined);
    },
  );

  it.each(TABLE_DEFINITIONS.map((def) => [def.name, def] as const))(
    'builds %s exactly as `tables create` does (keys, attributes, indexes)',
    (_name, def) => {
      const props = tableResource(def).Properties ?? {};
      const input = toCreateTableInput('prisma-registry', def);
      expect(props.KeySchema).toEqual(input.KeySchema);
      expect(props.GlobalSecondaryIndexes).toEqual(input.GlobalSecondaryIndexes);
      const byName = (a: { AttributeName?: string }, b: { AttributeName?: string }) =>
        String(a.AttributeName).localeCompare(String(b.AttributeName));
      expect([...(props.AttributeDefinitions as { AttributeName: string }[])].sort(byName)).toEqual(
        [...(input.AttributeDefinitions ?? [])].sort(byName),
      );
    },
  );

  it('bills on demand, keeps point-in-time recovery, encrypts with the AWS managed key', () => {
    for (const def of TABLE_DEFINITIONS) {
      expect(tableResource(def).Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      // SSEEnabled without a key id is the aws/dynamodb key; no customer key unless asked for.
      expect(tableResource(def).Properties?.SSESpecification).not.toHaveProperty('KMSMasterKeyId');
    }
    synth.template.resourceCountIs('AWS::KMS::Key', 0);
  });

  it('retains every table on delete and replacement, with deletion protection on', () => {
    for (const def of TABLE_DEFINITIONS) {
      const table = tableResource(def);
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.UpdateReplacePolicy).toBe('Retain');
      expect(table.Properties?.DeletionProtectionEnabled).toBe(true);
    }
  });
});

describe('the function', () => {
  it('runs the handler on nodejs22.x, ARM64, for 15 minutes with 1024 MB', () => {
    synth.template.resourceCountIs('AWS::Lambda::Function', 1);
    synth.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'prisma-registry-sync-prod',
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 900,
      MemorySize: 1024,
      RecursiveLoop: 'Allow',
    });
  });

  it('gets the configuration of SPEC §3 and the secret ARN, never a credential', () => {
    const [fn] = resourcesOfType(synth.resources, 'AWS::Lambda::Function');
    const variables = environmentOf(fn?.[1]);
    expect(variables).toEqual({
      PRISMA_CONSOLE_URL: CONSOLE_URL,
      PRISMA_CONSOLE_ID: 'prod',
      PRISMA_SECRET_ARN: { Ref: expect.stringMatching(/^ConsoleProdSecret/) },
      SYNC_TABLE_PREFIX: 'prisma-registry',
      POWERTOOLS_SERVICE_NAME: 'prisma-registry-sync',
      POWERTOOLS_METRICS_NAMESPACE: 'PrismaRegistrySync',
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(Object.keys(variables)).not.toContain('PRISMA_PASSWORD');
    expect(Object.keys(variables)).not.toContain('PRISMA_USERNAME');
    // The template as a whole carries no secret value: the secret is generated by Secrets Manager.
    expect(JSON.stringify(synth.template.toJSON())).not.toMatch(/"SecretString"/);
  });

  it('logs JSON to its own log group with a retention and a generated name (a retained one cannot block a redeploy)', () => {
    const [[, logGroup] = ['', undefined]] = resourcesOfType(synth.resources, 'AWS::Logs::LogGroup');
    expect(logGroup?.Properties?.RetentionInDays).toBe(90);
    expect(logGroup?.Properties?.LogGroupName).toBeUndefined();
    synth.template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('LogGroup') }, LogFormat: 'JSON' },
    });
  });

  it('traces with X-Ray by default, and not when the context says tracing=false', () => {
    synth.template.hasResourceProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
    const off = synthesize({ consoles: [{ id: 'prod', url: CONSOLE_URL }], tracing: 'false' });
    const [[, fn] = ['', undefined]] = resourcesOfType(off.resources, 'AWS::Lambda::Function');
    expect(fn?.Properties?.TracingConfig).toBeUndefined();
    expect(JSON.stringify(off.resources)).not.toContain('xray:');
    expect(off.nagViolations).toEqual([]);
  });

  it('sends asynchronous invocations that failed twice to the dead-letter queue', () => {
    synth.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] } },
      },
    });
  });

  it('is bundled locally by esbuild into one ESM file with its source map', () => {
    const bundle = bundledHandler();
    expect(readFileSync(bundle, 'utf8').startsWith('import { createRequire as __createRequire }')).toBe(true);
    expect(existsSync(`${bundle}.map`)).toBe(true);
  });

  it('runs a full sync from the bundle, invoked as Lambda would, into DynamoDB Local', async () => {
    const prefix = uniqueTablePrefix('infra');
    await createTables(localDynamoClient(), prefix);
    const sim = await startSimulator({ images: 12, seed: 'bundle', rateLimit: false });
    try {
      // A child process: the handler reads process.env once per container, as in Lambda.
      const invoke = [
        'const { handler } = await import(process.argv[1]);',
        "const context = { awsRequestId: 'req-1', functionName: 'prisma-registry-sync-prod',",
        "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:prisma-registry-sync-prod',",
        '  getRemainingTimeInMillis: () => 600_000 };',
        "const result = await handler({ consoleId: 'prod', trigger: 'schedule' }, context);",
        "process.stdout.write('\\nRESULT ' + JSON.stringify(result) + '\\n');",
      ].join('\n');
      const child = await runNode(
        ['--input-type=module', '-e', invoke, pathToFileURL(bundledHandler()).href],
        {
          ...localDynamoEnv(prefix),
          PRISMA_CONSOLE_URL: sim.url,
          PRISMA_CONSOLE_ID: 'prod',
          PRISMA_USERNAME: 'demo',
          PRISMA_PASSWORD: 'demo',
          POWERTOOLS_SERVICE_NAME: 'prisma-registry-sync',
          POWERTOOLS_METRICS_NAMESPACE: 'PrismaRegistrySync',
          NODE_OPTIONS: '--enable-source-maps',
        },
      );
      expect(child.code, child.stderr).toBe(0);
      const resultLine = child.stdout.split('\n').find((line) => line.startsWith('RESULT '));
      expect(JSON.parse(resultLine?.slice('RESULT '.length) ?? '{}')).toMatchObject({
        status: 'completed',
        images: 12,
      });
      // Powertools wrote the metrics as EMF with the dimensions the alarms select on.
      const emf = child.stdout.split('\n').find((line) => line.includes('"CloudWatchMetrics"')) ?? '';
      expect(JSON.parse(emf)).toMatchObject({
        service: 'prisma-registry-sync',
        ConsoleId: 'prod',
        RunCompleted: 1,
      });
    } finally {
      await sim.close();
    }
  });
});

describe('the schedule', () => {
  it('invokes the function every 6 hours with the console id, flexible window off', () => {
    synth.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    synth.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Function'), 'Arn'] },
        Input: JSON.stringify({ consoleId: 'prod', trigger: 'schedule' }),
      }),
    });
  });

  it('retries delivery and sends undeliverable events to the dead-letter queue', () => {
    synth.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] } },
      }),
    });
  });

  it('has a dead-letter queue that is encrypted and refuses plain HTTP', () => {
    synth.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    synth.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('the secret', () => {
  it('is created without a value: an empty username and a generated placeholder password', () => {
    synth.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({ username: '' }),
        GenerateStringKey: 'password',
      }),
    });
    const [secret] = resourcesOfType(synth.resources, 'AWS::SecretsManager::Secret');
    expect(secret?.[1].DeletionPolicy).toBe('Retain');
  });
});

describe('IAM', () => {
  const statements = () => allowStatements(synth.resources);

  it('never grants DynamoDB, Secrets Manager or KMS actions on a * resource', () => {
    const scoped = statements().filter(([, s]) =>
      asArray(s.Action).some((a) => /^(dynamodb|secretsmanager|kms):/.test(a)),
    );
    expect(scoped.length).toBeGreaterThan(0);
    for (const [, statement] of scoped) {
      expect(asArray(statement.Resource)).not.toContain('*');
      expect(asArray(statement.Action).every((action) => !action.endsWith(':*'))).toBe(true);
    }
  });

  it('lets the function use items of these tables and their indexes only, without Scan', () => {
    const [, tables] = statements().find(([, s]) => s.Sid === 'SyncTables') ?? [];
    expect(asArray(tables?.Action ?? []).sort()).toEqual([...DYNAMODB_ACTIONS].sort());
    expect(asArray(tables?.Action ?? [])).not.toContain('dynamodb:Scan');
    const tableIds = resourcesOfType(synth.resources, 'AWS::DynamoDB::Table').map(([id]) => id);
    const expected = [
      ...tableIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })),
      ...TABLE_DEFINITIONS.filter((def) => def.globalSecondaryIndexes.length > 0).map((def) => ({
        'Fn::Join': [
          '',
          [{ 'Fn::GetAtt': [expect.stringMatching(`^Tables${pascalCase(def.name)}`), 'Arn'] }, '/index/*'],
        ],
      })),
    ];
    expect(tables?.Resource).toEqual(expected);
  });

  it('lets the function read its own secret only (GetSecretValue, no listing)', () => {
    const secretStatements = statements().filter(([, s]) =>
      asArray(s.Action).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toHaveLength(1);
    const [, statement] = secretStatements[0] ?? [];
    expect(statement?.Action).toBe('secretsmanager:GetSecretValue');
    expect(statement?.Resource).toEqual({ Ref: expect.stringMatching(/^ConsoleProdSecret/) });
  });

  it('lets the function continue itself by its fixed name, qualified or not, and the schedule invoke it unqualified', () => {
    const invokes = statements().filter(([, s]) => asArray(s.Action).includes('lambda:InvokeFunction'));
    expect(invokes).toHaveLength(2);
    const self = invokes.find(([, s]) => s.Sid === 'ContinueRun')?.[1];
    const resources = asArray(self?.Resource).map((resource) => JSON.stringify(resource));
    expect(resources).toHaveLength(2);
    expect(resources[0]).toContain(':function:prisma-registry-sync-prod"');
    expect(resources[1]).toContain(':function:prisma-registry-sync-prod:*"');
    const schedule = invokes.find(([, s]) => s.Sid !== 'ContinueRun')?.[1];
    expect(schedule?.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ConsoleProdFunction/), 'Arn'],
    });
  });

  it('attaches no AWS managed policy to any role', () => {
    for (const [, role] of resourcesOfType(synth.resources, 'AWS::IAM::Role')) {
      expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('alarms', () => {
  const alarm = (suffix: string) =>
    Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')).find(
      (resource) => resource.Properties.AlarmName === `prisma-registry-sync-prod-${suffix}`,
    )?.Properties as Record<string, unknown> | undefined;
  const dimensions = [
    { Name: 'ConsoleId', Value: 'prod' },
    { Name: 'service', Value: 'prisma-registry-sync' },
  ];

  it('alarm on function errors and on dead letters', () => {
    expect(alarm('errors')).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1 });
    expect(alarm('dead-letters')).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
    });
  });

  it('alarm when invocations ran in two windows in a row and none completed a run', () => {
    expect(alarm('runs-not-completing')).toMatchObject({
      Namespace: 'PrismaRegistrySync',
      MetricName: 'RunCompleted',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Period: 6 * 3600,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarm when no run completed for 2 schedule periods + the longest run, missing data breaching', () => {
    expect(alarm('no-completed-run')).toMatchObject({
      Namespace: 'PrismaRegistrySync',
      MetricName: 'RunCompleted',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Period: 3600,
      // 2 × 6 h + 13 h (49 invocations of at most 15 minutes).
      EvaluationPeriods: 25,
      DatapointsToAlarm: 25,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
  });

  it('alarm on console throttling and on the age of the oldest scan', () => {
    expect(alarm('throttled')).toMatchObject({
      MetricName: 'Throttled',
      Dimensions: dimensions,
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 10,
    });
    expect(alarm('oldest-scan-age')).toMatchObject({
      MetricName: 'OldestScanAgeSeconds',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Threshold: 7 * 86_400,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'ignore',
    });
  });

  it('notify an SNS topic (email subscription, TLS only) on alarm and on recovery', () => {
    synth.template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    synth.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'secops@example.com',
    });
    synth.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    for (const resource of Object.values(synth.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(resource.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmTopic/) }]);
      expect(resource.Properties.OKActions).toEqual([{ Ref: expect.stringMatching(/^AlarmTopic/) }]);
    }
  });
});

describe('outputs', () => {
  it('name the tables, the stream, the function, the secret, the log group, the queue and the topic', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs as object);
    expect(outputs.sort()).toEqual(
      [
        ...TABLE_DEFINITIONS.map((def) => `${pascalCase(def.name)}TableName`),
        ...TABLE_DEFINITIONS.filter((def) => def.stream).map(
          (def) => `${pascalCase(def.name)}TableStreamArn`,
        ),
        'ProdFunctionName',
        'ProdSecretArn',
        'ProdLogGroupName',
        'ProdDeadLetterQueueUrl',
        'AlarmTopicArn',
      ].sort(),
    );
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding', () => {
    expect(synth.nagViolations.map((violation) => violation.ruleName)).toEqual([]);
  });

  it('acknowledges each reviewed finding with a written reason', () => {
    const acknowledged = synth.stack.node
      .findAll()
      .flatMap((node) => node.node.metadata.filter((entry) => entry.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
    const ids = acknowledged.map(([id]) => id.replace(/\[.*$/, ''));
    expect([...new Set(ids)].sort()).toEqual(
      [
        'AwsSolutions-IAM5',
        'AwsSolutions-L1',
        'AwsSolutions-SMG4',
        'AwsSolutions-SNS2',
        'AwsSolutions-SQS3',
      ].map((id) => expect.stringContaining(id)),
    );
    for (const [, reason] of acknowledged) expect(reason.length).toBeGreaterThan(40);
  });
});
