/**
 * The deployment configuration of the CDK app, read from CDK context (`cdk.json` or `-c key=value`).
 * One zod schema, parsed once before any construct is built; a bad value fails synthesis with one
 * line naming the context key (`context consoles[0].url: must use https`).
 */
import { z } from 'zod';
import { ConfigError } from '../lambda/common/errors.js';
import { DEFAULT_TABLE_PREFIX } from '../lambda/config.js';
import { FUNCTION_TIMEOUT_MINUTES, MAX_CONTINUATIONS } from '../lambda/handler-limits.js';

/** Context keys the app reads. Anything else in context belongs to the CDK itself. */
export const CONTEXT_KEYS = [
  'stackName',
  'tablePrefix',
  'removalPolicy',
  'tableEncryption',
  'schedule',
  'memoryMb',
  'logRetentionDays',
  'alarmEmail',
  'alarmTopicArn',
  'throttledAlarmThreshold',
  'scanAgeAlarmDays',
  'stuckRunAlarmHours',
  'noCompletedRunAlarmHours',
  'longestRunHours',
  'tracing',
  'analytics',
  'consoles',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

export const DEFAULT_SCHEDULE = 'rate(6 hours)';
/**
 * Default function memory. Memory is not what sizes it: a sync with 5% of its reports at 1–4 MB
 * peaked at 212–225 MB RSS (`npm run bench -- --only 3`, 100 and 300 images), so 512 MB would hold
 * it. 1024 MB is kept for the vCPU share Lambda gives with it (CPU scales with memory, and a page of
 * heavy reports is tens of MB to decompress, parse, normalize and write); not measured on Lambda.
 * Lower it with the context `memoryMb` when the console's reports are small.
 */
export const DEFAULT_MEMORY_MB = 1024;

/** Retention values CloudWatch Logs accepts (days). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** CloudWatch caps an alarm's evaluation range (period × periods) at 7 days; our stuck alarm uses 2 periods. */
const MAX_STUCK_WINDOW_HOURS = 84;
/** The dead-man's switch evaluates hourly periods, so its window is capped by the same 7 days. */
export const MAX_NO_COMPLETED_RUN_HOURS = 168;
/**
 * The longest run the handler lets happen: it continues a partial run at most
 * {@link MAX_CONTINUATIONS} times, each invocation at most {@link FUNCTION_TIMEOUT_MINUTES}.
 */
export const DEFAULT_LONGEST_RUN_HOURS = Math.ceil(((MAX_CONTINUATIONS + 1) * FUNCTION_TIMEOUT_MINUTES) / 60);
/** A cron schedule has no fixed interval; the dead-man's switch assumes a daily one unless told. */
const CRON_INTERVAL_HOURS = 24;
/** Lambda function names: letters, digits, hyphens, underscores, at most 64 characters. */
const MAX_FUNCTION_NAME = 64;

/** A parsed EventBridge Scheduler expression; `intervalHours` is known for `rate(...)` only. */
export interface ParsedSchedule {
  expression: string;
  intervalHours: number | undefined;
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(\S+( \S+){5}\)$/;
const HOURS_PER_UNIT: Record<string, number> = { minute: 1 / 60, hour: 1, day: 24 };

/**
 * Validates a schedule expression the way EventBridge Scheduler will (singular unit for 1, plural
 * otherwise; cron with six fields), so a typo fails at synth instead of at deploy.
 *
 * @example parseSchedule('rate(6 hours)') // { expression: 'rate(6 hours)', intervalHours: 6 }
 */
export function parseSchedule(expression: string): ParsedSchedule | string {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? '';
    const singular = unit.replace(/s$/, '');
    if (value < 1) return 'rate value must be at least 1';
    if (value === 1 && unit !== singular) return `use rate(1 ${singular}) (singular unit for 1)`;
    if (value > 1 && unit === singular) return `use rate(${value} ${singular}s) (plural unit above 1)`;
    return { expression, intervalHours: value * (HOURS_PER_UNIT[singular] ?? 1) };
  }
  if (CRON.test(expression)) return { expression, intervalHours: undefined };
  return 'must be rate(N minutes|hours|days) or cron(min hour day-of-month month day-of-week year)';
}

/** Parses a context value that arrives as a JSON string from `-c key='[...]'` and as JSON from cdk.json. */
const fromJsonString = (value: unknown) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
};
const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const scheduleExpression = z.string().superRefine((value, ctx) => {
  const parsed = parseSchedule(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const consoleSchema = z
  .object({
    /** The console's id in every table key (`PRISMA_CONSOLE_ID`). */
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.:/-]{1,200}$/, 'may hold only letters, digits and _ . : / - (PRISMA_CONSOLE_ID)'),
    url: z.string().superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not a URL (expected e.g. https://console.example.com)' });
        return;
      }
      // The function sends credentials to this URL: never in clear text from the cloud.
      if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use https' });
      if (url.username || url.password) {
        ctx.addIssue({ code: 'custom', message: 'must not carry credentials; they belong in the secret' });
      }
      if (url.search || url.hash)
        ctx.addIssue({ code: 'custom', message: 'must not carry a query or fragment' });
    }),
    secretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
        'must be the complete secret ARN, ending in the 6-character suffix Secrets Manager adds',
      )
      .optional(),
    secretKmsKeyArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'must be a KMS key ARN')
      .optional(),
    schedule: scheduleExpression.optional(),
    apiVersion: z
      .string()
      .regex(/^v\d+(\.\d+)?$/, 'must look like v34.04 (or v1 for the legacy paths)')
      .optional(),
    whenScanOngoing: z.enum(['wait', 'skip', 'proceed']).optional(),
    caBundle: z
      .string()
      .refine((value) => value.includes('-----BEGIN CERTIFICATE-----'), 'must be PEM certificates')
      // Lambda caps all environment variables of a function at 4 KB together.
      .refine((value) => value.length <= 3000, 'must fit in 3000 characters (Lambda limits env to 4 KB)')
      .optional(),
  })
  .strict();

const contextSchema = z
  .object({
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a CloudFormation stack name')
      .default('PrismaRegistrySync'),
    tablePrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,200}$/, 'may hold only letters, digits, _ . - (SYNC_TABLE_PREFIX)')
      .default(DEFAULT_TABLE_PREFIX),
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
    tableEncryption: z.enum(['aws-managed', 'customer-managed']).default('aws-managed'),
    schedule: scheduleExpression.default(DEFAULT_SCHEDULE),
    memoryMb: z.coerce.number().int().min(128).max(10240).default(DEFAULT_MEMORY_MB),
    logRetentionDays: z.coerce
      .number()
      .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
        message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
    alarmEmail: z.email('must be an email address').optional(),
    alarmTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN')
      .optional(),
    throttledAlarmThreshold: z.coerce.number().int().min(1).default(10),
    scanAgeAlarmDays: z.coerce.number().positive().default(7),
    analytics: z.preprocess(
      (v) => (v === 'true' ? true : v === 'false' ? false : v),
      z.boolean({ message: 'must be true or false' }).default(true),
    ),
    stuckRunAlarmHours: z.coerce.number().int().min(1).max(MAX_STUCK_WINDOW_HOURS).optional(),
    noCompletedRunAlarmHours: z.coerce.number().int().min(1).max(MAX_NO_COMPLETED_RUN_HOURS).optional(),
    longestRunHours: z.coerce.number().int().min(1).max(MAX_NO_COMPLETED_RUN_HOURS).optional(),
    tracing: z.preprocess(
      (v) => (v === 'true' ? true : v === 'false' ? false : v),
      z.boolean({ message: 'must be true or false' }).default(true),
    ),
    consoles: z.preprocess(
      fromJsonString,
      z
        .array(consoleSchema, {
          error: (issue) =>
            issue.input === undefined
              ? 'required: a list of consoles [{"id","url",...}] (docs/deploy.md)'
              : typeof issue.input === 'string'
                ? 'must be a JSON list of consoles; the value did not parse as JSON'
                : 'must be a list of consoles [{"id","url",...}]',
        })
        .min(1, 'needs at least one console'),
    ),
  })
  .strict();

/** One console as the stack deploys it: context values plus the names derived from them. */
export interface ConsoleDeployment {
  id: string;
  url: string;
  /** Resource-safe form of `id` (construct ids, function name, output names). */
  slug: string;
  functionName: string;
  secretArn: string | undefined;
  secretKmsKeyArn: string | undefined;
  schedule: ParsedSchedule;
  apiVersion: string | undefined;
  whenScanOngoing: 'wait' | 'skip' | 'proceed' | undefined;
  caBundle: string | undefined;
  /** Length of one window of the "runs not completing" alarm (it fires after two such windows). */
  stuckWindowHours: number;
  /**
   * The dead-man's switch: hours without a completed run after which the "no completed run" alarm
   * fires (2 schedule intervals + the longest expected run, unless the context sets it).
   */
  noCompletedRunHours: number;
  /** Set when the default had to be capped at {@link MAX_NO_COMPLETED_RUN_HOURS}: why, for a synth warning. */
  noCompletedRunCapped: string | undefined;
}

/** Physical names of the stack's named resources, all derived from the table prefix (two stacks never share one). */
export interface PhysicalNames {
  /** Glue database of the analytics path (lowercase letters, digits, underscores). */
  glueDatabase: string;
  /** Athena workgroup of the analytics path. */
  athenaWorkGroup: string;
}

export interface StackConfig {
  stackName: string;
  tablePrefix: string;
  removalPolicy: 'retain' | 'destroy';
  tableEncryption: 'aws-managed' | 'customer-managed';
  memoryMb: number;
  logRetentionDays: number;
  alarmEmail: string | undefined;
  alarmTopicArn: string | undefined;
  throttledAlarmThreshold: number;
  scanAgeAlarmDays: number;
  /** The S3 + Glue + Athena analytics path (docs/analytics.md); on by default. */
  analytics: boolean;
  /** X-Ray active tracing of the functions; on by default. */
  tracing: boolean;
  names: PhysicalNames;
  consoles: ConsoleDeployment[];
}

/**
 * The names of the stack's named resources besides tables and functions, derived from the prefix.
 *
 * @example physicalNames('prisma-registry') // { glueDatabase: 'prisma_registry_sync', athenaWorkGroup: 'prisma-registry-sync' }
 */
export function physicalNames(tablePrefix: string): PhysicalNames {
  return {
    glueDatabase: `${tablePrefix.toLowerCase().replace(/[^a-z0-9]+/g, '_')}_sync`,
    athenaWorkGroup: `${tablePrefix}-sync`,
  };
}

/**
 * A lowercase, hyphenated form of a console id usable in resource names.
 *
 * @example consoleSlug('us-east1.cloud.twistlock.com/us-1-111111111') // 'us-east1-cloud-twistlock-com-us-1-111111111'
 */
export function consoleSlug(id: string): string {
  return id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The window of the "runs not completing" alarm: one schedule interval, at least an hour (so a healthy
 * run of several invocations cannot span two windows without completing), 12 hours for cron schedules.
 */
function stuckWindowHours(schedule: ParsedSchedule, override: number | undefined): number {
  if (override !== undefined) return override;
  if (schedule.intervalHours === undefined) return 12;
  return Math.min(MAX_STUCK_WINDOW_HOURS, Math.max(1, Math.ceil(schedule.intervalHours)));
}

/**
 * The dead-man's switch window: two schedule intervals (one missed run is tolerated) plus the longest
 * run the handler allows, capped at what an hourly CloudWatch alarm can evaluate.
 */
function noCompletedRunHours(
  schedule: ParsedSchedule,
  longestRunHours: number,
  override: number | undefined,
): { hours: number; capped: string | undefined } {
  if (override !== undefined) return { hours: override, capped: undefined };
  const interval = schedule.intervalHours ?? CRON_INTERVAL_HOURS;
  const wanted = Math.ceil(2 * interval + longestRunHours);
  if (wanted <= MAX_NO_COMPLETED_RUN_HOURS) return { hours: wanted, capped: undefined };
  return {
    hours: MAX_NO_COMPLETED_RUN_HOURS,
    capped: `2 schedule intervals + ${longestRunHours} h is ${wanted} h, above CloudWatch's ${MAX_NO_COMPLETED_RUN_HOURS} h; set noCompletedRunAlarmHours or schedule more often`,
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, part) =>
      typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part),
    '',
  );
}

/**
 * Parses the app's context into the stack configuration. Throws a ConfigError (`config.invalid`)
 * whose message names the context key.
 *
 * @example
 * const config = parseStackConfig({ consoles: [{ id: 'prod', url: 'https://console.example.com' }] });
 * config.consoles[0]?.functionName; // 'prisma-registry-sync-prod'
 */
export function parseStackConfig(context: Partial<Record<ContextKey, unknown>>): StackConfig {
  const picked: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const value = blankToUndefined(context[key]);
    if (value !== undefined) picked[key] = value;
  }
  const result = contextSchema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue ? formatPath(issue.path) || 'context' : 'context';
    throw new ConfigError(`context ${key}: ${issue?.message ?? 'invalid'}`, { key });
  }
  const raw = result.data;
  if (raw.alarmEmail && raw.alarmTopicArn) {
    throw new ConfigError('context alarmEmail: set either alarmEmail or alarmTopicArn, not both', {
      key: 'alarmEmail',
    });
  }

  const seenIds = new Set<string>();
  const seenSlugs = new Map<string, string>();
  const consoles = raw.consoles.map((entry, index): ConsoleDeployment => {
    const at = `context consoles[${index}]`;
    if (seenIds.has(entry.id)) {
      throw new ConfigError(`${at}.id: ${entry.id} is listed twice`, { key: `consoles[${index}].id` });
    }
    seenIds.add(entry.id);
    const slug = consoleSlug(entry.id);
    if (slug === '') {
      throw new ConfigError(`${at}.id: needs at least one letter or digit`, { key: `consoles[${index}].id` });
    }
    const clash = seenSlugs.get(slug);
    if (clash !== undefined) {
      throw new ConfigError(`${at}.id: ${entry.id} and ${clash} map to the same resource name ${slug}`, {
        key: `consoles[${index}].id`,
      });
    }
    seenSlugs.set(slug, entry.id);
    const functionName = `${raw.tablePrefix}-sync-${slug}`.replace(/[^A-Za-z0-9_-]/g, '-');
    if (functionName.length > MAX_FUNCTION_NAME) {
      throw new ConfigError(
        `${at}.id: function name ${functionName} exceeds ${MAX_FUNCTION_NAME} characters; use a shorter id or tablePrefix`,
        { key: `consoles[${index}].id` },
      );
    }
    const schedule = parseSchedule(entry.schedule ?? raw.schedule) as ParsedSchedule;
    const deadMan = noCompletedRunHours(
      schedule,
      raw.longestRunHours ?? DEFAULT_LONGEST_RUN_HOURS,
      raw.noCompletedRunAlarmHours,
    );
    return {
      id: entry.id,
      url: entry.url.replace(/\/+$/, ''),
      slug,
      functionName,
      secretArn: entry.secretArn,
      secretKmsKeyArn: entry.secretKmsKeyArn,
      schedule,
      apiVersion: entry.apiVersion,
      whenScanOngoing: entry.whenScanOngoing,
      caBundle: entry.caBundle,
      stuckWindowHours: stuckWindowHours(schedule, raw.stuckRunAlarmHours),
      noCompletedRunHours: deadMan.hours,
      noCompletedRunCapped: deadMan.capped,
    };
  });

  return {
    stackName: raw.stackName,
    tablePrefix: raw.tablePrefix,
    removalPolicy: raw.removalPolicy,
    tableEncryption: raw.tableEncryption,
    memoryMb: raw.memoryMb,
    logRetentionDays: raw.logRetentionDays,
    alarmEmail: raw.alarmEmail,
    alarmTopicArn: raw.alarmTopicArn,
    throttledAlarmThreshold: raw.throttledAlarmThreshold,
    scanAgeAlarmDays: raw.scanAgeAlarmDays,
    analytics: raw.analytics,
    tracing: raw.tracing,
    names: physicalNames(raw.tablePrefix),
    consoles,
  };
}
