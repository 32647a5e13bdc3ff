import { describe, expect, it } from 'vitest';
import { consoleSlug, parseSchedule, parseStackConfig } from '../../infra/config.js';
import { isSyncError } from '../../lambda/common/errors.js';

const prod = { id: 'prod', url: 'https://console.example.com' };

function configError(context: Record<string, unknown>): string {
  try {
    parseStackConfig(context);
  } catch (error) {
    if (isSyncError(error, 'config')) return error.message;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('parseStackConfig', () => {
  it('fills every default from a minimal context of one console', () => {
    const config = parseStackConfig({ consoles: [prod] });
    expect(config).toMatchObject({
      stackName: 'PrismaRegistrySync',
      tablePrefix: 'prisma-registry',
      removalPolicy: 'retain',
      tableEncryption: 'aws-managed',
      memoryMb: 1024,
      logRetentionDays: 90,
      alarmEmail: undefined,
      alarmTopicArn: undefined,
      throttledAlarmThreshold: 10,
      scanAgeAlarmDays: 7,
    });
    expect(config.consoles).toEqual([
      {
        id: 'prod',
        url: 'https://console.example.com',
        slug: 'prod',
        functionName: 'prisma-registry-sync-prod',
        secretArn: undefined,
        secretKmsKeyArn: undefined,
        schedule: { expression: 'rate(6 hours)', intervalHours: 6 },
        apiVersion: undefined,
        whenScanOngoing: undefined,
        caBundle: undefined,
        stuckWindowHours: 6,
        noCompletedRunHours: 25,
        noCompletedRunCapped: undefined,
      },
    ]);
    expect(config.tracing).toBe(true);
    expect(config.names).toEqual({
      glueDatabase: 'prisma_registry_sync',
      athenaWorkGroup: 'prisma-registry-sync',
    });
  });

  it('reads the values -c passes as strings (JSON consoles, numbers)', () => {
    const config = parseStackConfig({
      consoles: JSON.stringify([{ ...prod, schedule: 'cron(0 */4 * * ? *)', apiVersion: 'v33.03' }]),
      memoryMb: '512',
      logRetentionDays: '30',
      stuckRunAlarmHours: '8',
    });
    expect(config.memoryMb).toBe(512);
    expect(config.logRetentionDays).toBe(30);
    expect(config.consoles[0]).toMatchObject({
      apiVersion: 'v33.03',
      schedule: { expression: 'cron(0 */4 * * ? *)', intervalHours: undefined },
      stuckWindowHours: 8,
    });
  });

  it('derives resource names from console ids that carry dots and slashes', () => {
    const config = parseStackConfig({
      consoles: [
        {
          id: 'us-east1.cloud.twistlock.com/us-1-111111111',
          url: 'https://us-east1.cloud.twistlock.com/us-1-111111111/',
        },
      ],
      tablePrefix: 'sec.prisma',
    });
    expect(config.consoles[0]).toMatchObject({
      id: 'us-east1.cloud.twistlock.com/us-1-111111111',
      url: 'https://us-east1.cloud.twistlock.com/us-1-111111111',
      slug: 'us-east1-cloud-twistlock-com-us-1-111111111',
      functionName: 'sec-prisma-sync-us-east1-cloud-twistlock-com-us-1-111111111',
    });
  });

  it('sizes the stuck-run window from the schedule: one interval, at least an hour, 12 hours for cron', () => {
    const windows = parseStackConfig({
      consoles: [
        { id: 'a', url: 'https://a.test', schedule: 'rate(15 minutes)' },
        { id: 'b', url: 'https://b.test', schedule: 'rate(1 day)' },
        { id: 'c', url: 'https://c.test', schedule: 'rate(7 days)' },
        { id: 'd', url: 'https://d.test', schedule: 'cron(0 3 * * ? *)' },
      ],
    }).consoles.map((entry) => entry.stuckWindowHours);
    expect(windows).toEqual([1, 24, 84, 12]);
  });

  it("sizes the dead-man's switch as 2 schedule intervals + the longest run, capped at CloudWatch's 168 hours", () => {
    const consoles = [
      { id: 'a', url: 'https://a.test', schedule: 'rate(15 minutes)' },
      { id: 'b', url: 'https://b.test', schedule: 'rate(1 day)' },
      { id: 'c', url: 'https://c.test', schedule: 'rate(7 days)' },
      { id: 'd', url: 'https://d.test', schedule: 'cron(0 3 * * ? *)' },
    ];
    const byDefault = parseStackConfig({ consoles }).consoles;
    expect(byDefault.map((entry) => entry.noCompletedRunHours)).toEqual([14, 61, 168, 61]);
    expect(byDefault.map((entry) => entry.noCompletedRunCapped === undefined)).toEqual([
      true,
      true,
      false,
      true,
    ]);
    expect(byDefault[2]?.noCompletedRunCapped).toMatch(/noCompletedRunAlarmHours/);
    const shorter = parseStackConfig({ consoles, longestRunHours: '2' }).consoles;
    expect(shorter.map((entry) => entry.noCompletedRunHours)).toEqual([3, 50, 168, 50]);
    const fixed = parseStackConfig({ consoles, noCompletedRunAlarmHours: 30 }).consoles;
    expect(fixed.map((entry) => entry.noCompletedRunHours)).toEqual([30, 30, 30, 30]);
    expect(() => parseStackConfig({ consoles, noCompletedRunAlarmHours: 169 })).toThrow(
      /^context noCompletedRunAlarmHours: /,
    );
  });

  it('derives the Glue database and Athena workgroup names from the table prefix', () => {
    const config = parseStackConfig({ consoles: [prod], tablePrefix: 'Team-A.prisma' });
    expect(config.names).toEqual({
      glueDatabase: 'team_a_prisma_sync',
      athenaWorkGroup: 'Team-A.prisma-sync',
    });
  });

  it.each([
    [{ consoles: [] }, 'context consoles: needs at least one console'],
    [{}, 'context consoles: required: a list of consoles'],
    [
      { consoles: '[{"id":' },
      'context consoles: must be a JSON list of consoles; the value did not parse as JSON',
    ],
    [
      { consoles: [{ ...prod, url: 'http://console.example.com' }] },
      'context consoles[0].url: must use https',
    ],
    [
      { consoles: [{ ...prod, url: 'https://u:p@console.example.com' }] },
      'context consoles[0].url: must not carry credentials',
    ],
    [{ consoles: [{ ...prod, url: 'console' }] }, 'context consoles[0].url: is not a URL'],
    [{ consoles: [{ ...prod, extra: 1 }] }, 'context consoles[0]:'],
    [
      { consoles: [{ ...prod, schedule: 'rate(1 hours)' }] },
      'context consoles[0].schedule: use rate(1 hour)',
    ],
    [{ consoles: [prod], schedule: 'rate(6 hour)' }, 'context schedule: use rate(6 hours)'],
    [{ consoles: [prod], schedule: 'every 6 hours' }, 'context schedule: must be rate('],
    [{ consoles: [{ ...prod, id: 'a b' }] }, 'context consoles[0].id: may hold only'],
    [{ consoles: [prod, prod] }, 'context consoles[1].id: prod is listed twice'],
    [
      { consoles: [prod, { id: 'PROD', url: 'https://b.test' }] },
      'context consoles[1].id: PROD and prod map to the same resource name prod',
    ],
    [
      { consoles: [{ ...prod, id: 'x'.repeat(60) }] },
      'context consoles[0].id: function name prisma-registry-sync-xxx',
    ],
    [
      {
        consoles: [{ ...prod, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prisma' }],
      },
      'context consoles[0].secretArn: must be the complete secret ARN',
    ],
    [
      { consoles: [{ ...prod, caBundle: 'not pem' }] },
      'context consoles[0].caBundle: must be PEM certificates',
    ],
    [{ consoles: [prod], memoryMb: '64' }, 'context memoryMb:'],
    [{ consoles: [prod], logRetentionDays: 10 }, 'context logRetentionDays: must be one of 1, 3, 5'],
    [{ consoles: [prod], removalPolicy: 'keep' }, 'context removalPolicy:'],
    [{ consoles: [prod], alarmEmail: 'ops' }, 'context alarmEmail: must be an email address'],
    [
      {
        consoles: [prod],
        alarmEmail: 'ops@example.com',
        alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops',
      },
      'context alarmEmail: set either alarmEmail or alarmTopicArn, not both',
    ],
  ])('rejects %j with one line naming the key', (context, message) => {
    expect(configError(context)).toContain(message);
  });

  it('never echoes a console URL password in its error', () => {
    const message = configError({
      consoles: [{ ...prod, url: 'https://admin:hunter2@console.example.com' }],
    });
    expect(message).not.toContain('hunter2');
  });
});

describe('parseSchedule', () => {
  it.each([
    ['rate(1 minute)', 1 / 60],
    ['rate(30 minutes)', 0.5],
    ['rate(1 hour)', 1],
    ['rate(6 hours)', 6],
    ['rate(2 days)', 48],
    ['cron(0 */6 * * ? *)', undefined],
  ])('accepts %s', (expression, intervalHours) => {
    expect(parseSchedule(expression)).toEqual({ expression, intervalHours });
  });

  it.each(['rate(0 hours)', 'rate(2 hour)', 'rate(1 days)', 'cron(0 * * *)', 'at(2030-01-01T00:00:00)', ''])(
    'rejects %j with the reason',
    (expression) => {
      expect(typeof parseSchedule(expression)).toBe('string');
    },
  );
});

describe('consoleSlug', () => {
  it('lowercases and hyphenates anything that is not a letter or digit', () => {
    expect(consoleSlug('Console.Example.com:8083/tenant_a')).toBe('console-example-com-8083-tenant-a');
  });
});
