import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE_DEFINITIONS } from '../../lambda/store/tables.js';
import {
  allowStatements,
  asArray,
  type CfnResourceJson,
  environmentOf,
  resourcesOfType,
  type Synthesized,
  synthesize,
} from './synth.js';

const EU_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prisma/eu-AbC123';
const EU_SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:secops';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize({
    tablePrefix: 'sec-prisma',
    removalPolicy: 'destroy',
    tableEncryption: 'customer-managed',
    memoryMb: 2048,
    logRetentionDays: 30,
    alarmTopicArn: TOPIC,
    consoles: JSON.stringify([
      { id: 'prod', url: 'https://prisma.corp.test' },
      {
        id: 'eu',
        url: 'https://eu-west1.cloud.twistlock.com/eu-2-222222222',
        secretArn: EU_SECRET,
        secretKmsKeyArn: EU_SECRET_KEY,
        schedule: 'cron(0 2 * * ? *)',
        apiVersion: 'v33.03',
        whenScanOngoing: 'skip',
        caBundle: PEM,
      },
    ]),
  });
});

function functionNamed(name: string): CfnResourceJson {
  const found = resourcesOfType(synth.resources, 'AWS::Lambda::Function').find(
    ([, fn]) => fn.Properties?.FunctionName === name,
  );
  if (!found) throw new Error(`no function ${name}`);
  return found[1];
}

/** Allow statements of the policy attached to a console's function role. */
function functionStatements(consoleConstruct: string) {
  return allowStatements(synth.resources)
    .filter(([policyId]) => policyId.startsWith(`${consoleConstruct}RoleDefaultPolicy`))
    .map(([, statement]) => statement);
}

describe('a two-console stack', () => {
  it('has one function, schedule, queue and log group per console and one shared set of tables', () => {
    synth.template.resourceCountIs('AWS::Lambda::Function', 2);
    synth.template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    synth.template.resourceCountIs('AWS::SQS::Queue', 2);
    synth.template.resourceCountIs('AWS::Logs::LogGroup', 2);
    synth.template.resourceCountIs('AWS::DynamoDB::Table', TABLE_DEFINITIONS.length);
    synth.template.resourceCountIs('AWS::CloudWatch::Alarm', 12);
    expect(functionNamed('sec-prisma-sync-prod').Properties?.MemorySize).toBe(2048);
    expect(functionNamed('sec-prisma-sync-eu').Properties?.MemorySize).toBe(2048);
  });

  it('creates a secret for the console without one and uses the given ARN for the other', () => {
    synth.template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    const prodEnv = environmentOf(functionNamed('sec-prisma-sync-prod'));
    const euEnv = environmentOf(functionNamed('sec-prisma-sync-eu'));
    expect(prodEnv).toMatchObject({
      PRISMA_SECRET_ARN: { Ref: expect.stringMatching(/^ConsoleProdSecret/) },
    });
    expect(euEnv).toMatchObject({
      PRISMA_CONSOLE_URL: 'https://eu-west1.cloud.twistlock.com/eu-2-222222222',
      PRISMA_CONSOLE_ID: 'eu',
      PRISMA_SECRET_ARN: EU_SECRET,
      PRISMA_API_VERSION: 'v33.03',
      SYNC_WHEN_SCAN_ONGOING: 'skip',
      PRISMA_CA_BUNDLE: PEM,
      SYNC_TABLE_PREFIX: 'sec-prisma',
    });
  });

  it('lets each function read only its own console secret', () => {
    const secretResources = (construct: string) =>
      functionStatements(construct)
        .filter((statement) =>
          asArray(statement.Action).some((action) => action.startsWith('secretsmanager:')),
        )
        .flatMap((statement) => asArray(statement.Resource));
    expect(secretResources('ConsoleProd')).toEqual([{ Ref: expect.stringMatching(/^ConsoleProdSecret/) }]);
    expect(secretResources('ConsoleEu')).toEqual([EU_SECRET]);
  });

  it('lets the imported secret be decrypted through Secrets Manager only', () => {
    const decrypt = functionStatements('ConsoleEu').find(
      (statement) => statement.Sid === 'ConsoleCredentialsKey',
    );
    expect(decrypt).toMatchObject({
      Action: 'kms:Decrypt',
      Resource: EU_SECRET_KEY,
      Condition: {
        StringEquals: {
          'kms:ViaService': {
            'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
          },
        },
      },
    });
    expect(
      functionStatements('ConsoleProd').find((statement) => statement.Sid === 'ConsoleCredentialsKey'),
    ).toBeUndefined();
  });

  it('grants both functions the same shared tables', () => {
    const tables = (construct: string) =>
      functionStatements(construct).find((statement) => statement.Sid === 'SyncTables');
    expect(tables('ConsoleProd')?.Resource).toEqual(tables('ConsoleEu')?.Resource);
  });

  it('schedules each console with its own expression and payload', () => {
    const schedules = resourcesOfType(synth.resources, 'AWS::Scheduler::Schedule').map(([, schedule]) => ({
      name: schedule.Properties?.Name,
      expression: schedule.Properties?.ScheduleExpression,
      input: (schedule.Properties?.Target as { Input?: string } | undefined)?.Input,
      window: schedule.Properties?.FlexibleTimeWindow,
    }));
    expect(schedules).toEqual([
      {
        name: 'sec-prisma-sync-prod',
        expression: 'rate(6 hours)',
        input: JSON.stringify({ consoleId: 'prod', trigger: 'schedule' }),
        window: { Mode: 'OFF' },
      },
      {
        name: 'sec-prisma-sync-eu',
        expression: 'cron(0 2 * * ? *)',
        input: JSON.stringify({ consoleId: 'eu', trigger: 'schedule' }),
        window: { Mode: 'OFF' },
      },
    ]);
  });

  it('sizes the stuck-run alarm of the cron console to 12-hour windows', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'sec-prisma-sync-eu-runs-not-completing',
      Period: 12 * 3600,
      Dimensions: [
        { Name: 'ConsoleId', Value: 'eu' },
        { Name: 'service', Value: 'prisma-registry-sync' },
      ],
    });
  });

  it('notifies the given SNS topic without creating one', () => {
    synth.template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of Object.values(synth.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([TOPIC]);
    }
  });

  it('encrypts the tables with one rotating customer-managed key, deleted (after 7 days) with a destroyed stack', () => {
    synth.template.resourceCountIs('AWS::KMS::Key', 1);
    synth.template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true, PendingWindowInDays: 7 }),
      DeletionPolicy: 'Delete',
    });
    const retained = synthesize({
      tableEncryption: 'customer-managed',
      consoles: [{ id: 'prod', url: 'https://prisma.corp.test' }],
    });
    retained.template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    for (const [, table] of resourcesOfType(synth.resources, 'AWS::DynamoDB::Table')) {
      expect(table.Properties?.SSESpecification).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^TablesKey/), 'Arn'] },
      });
    }
    const keyUse = functionStatements('ConsoleProd').find((statement) => statement.Sid === 'SyncTablesKey');
    expect(keyUse?.Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
  });

  it('lets a dev stack delete its tables, secret and logs when removalPolicy is destroy', () => {
    for (const [, table] of resourcesOfType(synth.resources, 'AWS::DynamoDB::Table')) {
      expect(table.DeletionPolicy).toBe('Delete');
      expect(table.Properties?.DeletionProtectionEnabled).toBe(false);
    }
    for (const type of ['AWS::SecretsManager::Secret', 'AWS::Logs::LogGroup']) {
      for (const [, resource] of resourcesOfType(synth.resources, type))
        expect(resource.DeletionPolicy).toBe('Delete');
    }
    synth.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('outputs the function, secret, log group and queue of both consoles', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs as object);
    for (const prefix of ['Prod', 'Eu']) {
      for (const suffix of ['FunctionName', 'SecretArn', 'LogGroupName', 'DeadLetterQueueUrl']) {
        expect(outputs).toContain(`${prefix}${suffix}`);
      }
    }
    synth.template.hasOutput('EuSecretArn', { Value: EU_SECRET });
    synth.template.hasOutput('AlarmTopicArn', { Value: TOPIC });
  });

  it('passes cdk-nag AwsSolutions with the customer-managed key and the imported secret', () => {
    expect(synth.nagViolations.map((violation) => violation.ruleName)).toEqual([]);
  });
});

describe('a console left at the placeholder URL', () => {
  it('synthesizes with a warning that names the context key to set', () => {
    const { stack } = synthesize({ consoles: [{ id: 'example', url: 'https://console.example.com' }] });
    Annotations.fromStack(stack).hasWarning(
      '/PrismaRegistrySync/ConsoleExample',
      Match.stringLikeRegexp('placeholder https://console.example.com; set your consoles with -c consoles='),
    );
  });
});
