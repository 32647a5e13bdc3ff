import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './common/errors.js';
import { isLoopbackHost } from './common/net.js';

/** The newest console API version the client knows (see test/simulator/reference). */
export const DEFAULT_API_VERSION = 'v34.04';
export const DEFAULT_TABLE_PREFIX = 'prisma-registry';

/** Environment variables the product reads; each is also a CLI flag. */
export const ENV_VARS = [
  'PRISMA_CONSOLE_URL',
  'PRISMA_API_VERSION',
  'PRISMA_USERNAME',
  'PRISMA_PASSWORD',
  'PRISMA_SECRET_ARN',
  'PRISMA_CA_BUNDLE',
  'PRISMA_INSECURE_TLS',
  'PRISMA_ALLOW_HTTP',
  'PRISMA_MAX_PAGE_BYTES',
  'PRISMA_REQUEST_TIMEOUT',
  'PRISMA_MAX_RETRY_AFTER',
  'SYNC_TABLE_PREFIX',
  'PRISMA_CONSOLE_ID',
  'SYNC_WHEN_SCAN_ONGOING',
  'AWS_REGION',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
] as const;
export type EnvVar = (typeof ENV_VARS)[number];

/**
 * The environment variable (and CLI flag) behind each setting the client names in its errors as
 * `setting <name>`: lower layers speak of settings, the shells of variables (`nameSettings`).
 */
export const SETTING_VARIABLES: Readonly<Record<string, string>> = {
  insecureTls: 'PRISMA_INSECURE_TLS=1',
  allowHttp: 'PRISMA_ALLOW_HTTP=1',
  credentials: 'PRISMA_USERNAME / PRISMA_PASSWORD or PRISMA_SECRET_ARN',
  maxRetryAfter: 'PRISMA_MAX_RETRY_AFTER',
  caBundle: 'PRISMA_CA_BUNDLE',
  maxPageBytes: 'PRISMA_MAX_PAGE_BYTES',
};

/**
 * A lower layer's message as a shell prints it: each `setting <name>` becomes the variable an
 * operator sets.
 *
 * @example
 * nameSettings('longer than the 120 s maximum (setting maxRetryAfter)') // '… (PRISMA_MAX_RETRY_AFTER)'
 */
export function nameSettings(message: string): string {
  return message.replace(/\bsetting (\w+)/g, (text, name: string) => SETTING_VARIABLES[name] ?? text);
}
export type ConfigInput = Partial<Record<EnvVar, string | undefined>>;

const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;
const optionalString = z.preprocess(blankToUndefined, z.string().optional());

const consoleUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not a URL (expected e.g. https://console.example.com)' });
        return;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        ctx.addIssue({ code: 'custom', message: `must be http(s), got ${url.protocol}` });
      }
      if (url.username || url.password) {
        ctx.addIssue({
          code: 'custom',
          message: 'must not carry credentials; use PRISMA_USERNAME/PRISMA_PASSWORD',
        });
      }
      if (url.search || url.hash)
        ctx.addIssue({ code: 'custom', message: 'must not carry a query or fragment' });
    }),
);

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
};

/** A byte size: `67108864`, `64MiB`, `512KiB`, `1GiB` (binary) or `64MB` (decimal), at least 1 KiB. */
const byteSize = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(value);
      const bytes = match
        ? Math.floor(Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? Number.NaN))
        : Number.NaN;
      if (!Number.isSafeInteger(bytes) || bytes < 1024 || bytes > 4 * 1024 ** 3) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a size between 1KiB and 4GiB, e.g. 64MiB or 67108864',
        });
        return z.NEVER;
      }
      return bytes;
    }),
);

/** A duration in seconds (`90`, `1.5`, `90s`, `2m`), between `min` and 1 day; in ms. */
const seconds = (min: number) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return undefined;
        const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
        const unit = match?.[2] ?? 's';
        const ms = match ? Number(match[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000) : Number.NaN;
        if (!Number.isFinite(ms) || ms < min * 1000 || ms > 86_400_000) {
          ctx.addIssue({
            code: 'custom',
            message: `must be a number of seconds between ${min} and 86400, e.g. 90 or 90s`,
          });
          return z.NEVER;
        }
        return Math.round(ms);
      }),
  );

/**
 * Default decoded-page limit: 1/16 of the Lambda's memory (64 MiB on 1024 MB), between 16 and
 * 256 MiB; 64 MiB outside Lambda. A hostile body is cut at the limit, so the decoded bytes, their
 * text and the parsed page stay far below the function's memory.
 *
 * @example
 * defaultMaxPageBytes('1024'); // 67108864
 */
export function defaultMaxPageBytes(lambdaMemoryMb: string | undefined): number {
  const mb = Number(lambdaMemoryMb);
  if (!Number.isFinite(mb) || mb <= 0) return 64 * 1024 ** 2;
  return Math.min(256 * 1024 ** 2, Math.max(16 * 1024 ** 2, Math.floor((mb * 1024 ** 2) / 16)));
}

const flag = z.preprocess(
  blankToUndefined,
  z.enum(['1', 'true', '0', 'false'], { message: 'must be 1 or 0' }).optional(),
);

const schema = z
  .object({
    PRISMA_CONSOLE_URL: consoleUrl,
    PRISMA_API_VERSION: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^v\d+(\.\d+)?$/, 'must look like v34.04 (or v1 for the legacy paths)')
        .default(DEFAULT_API_VERSION),
    ),
    PRISMA_USERNAME: optionalString,
    PRISMA_PASSWORD: optionalString,
    PRISMA_SECRET_ARN: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^arn:aws[\w-]*:secretsmanager:/, 'must be a Secrets Manager ARN')
        .optional(),
    ),
    PRISMA_CA_BUNDLE: optionalString,
    PRISMA_INSECURE_TLS: flag,
    PRISMA_ALLOW_HTTP: flag,
    PRISMA_MAX_PAGE_BYTES: byteSize,
    PRISMA_REQUEST_TIMEOUT: seconds(1),
    PRISMA_MAX_RETRY_AFTER: seconds(0),
    SYNC_TABLE_PREFIX: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,200}$/, 'may hold only letters, digits, _ . - (a DynamoDB table name part)')
        .default(DEFAULT_TABLE_PREFIX),
    ),
    PRISMA_CONSOLE_ID: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_.:/-]{1,200}$/, 'may hold only letters, digits and _ . : / -')
        .optional(),
    ),
    SYNC_WHEN_SCAN_ONGOING: z.preprocess(
      blankToUndefined,
      z.enum(['wait', 'skip', 'proceed']).default('proceed'),
    ),
    AWS_REGION: optionalString,
    AWS_ENDPOINT_URL_DYNAMODB: z.preprocess(blankToUndefined, z.url('must be a URL').optional()),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: optionalString,
  })
  .strict();

export type ScanOngoingPolicy = 'wait' | 'skip' | 'proceed';

/** The console side of the configuration: present only when a command talks to a console. */
export interface ConsoleConfig {
  url: string;
  apiVersion: string;
  /** Absent when credentials come from Secrets Manager (`secretArn`). */
  credentials: { username: string; password: string } | undefined;
  secretArn: string | undefined;
  caBundle: string | undefined;
  insecureTls: boolean;
  /** Credentials over plain http:// to a host that is not loopback (`PRISMA_ALLOW_HTTP=1`). */
  allowHttp?: boolean;
  /** What a hostile or broken console can cost (docs/operations.md); absent: the client's defaults. */
  limits?: ConsoleLimits;
}

export interface ConsoleLimits {
  /** Largest decoded page (`PRISMA_MAX_PAGE_BYTES`); a larger one fails the page, unretried. */
  maxPageBytes: number;
  /** Longest single request, first byte to last (`PRISMA_REQUEST_TIMEOUT`, default 90 s). */
  requestTimeoutMs: number;
  /** Longest `Retry-After` waited for (`PRISMA_MAX_RETRY_AFTER`, default 120 s); longer stops the run partial. */
  maxRetryAfterMs: number;
}

/** Default of `PRISMA_REQUEST_TIMEOUT`: also the longest single request the Lambda's safety margin covers. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 90_000;
/** Default of `PRISMA_MAX_RETRY_AFTER`. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 120_000;

export interface AppConfig {
  console: ConsoleConfig | undefined;
  consoleId: string | undefined;
  tablePrefix: string;
  whenScanOngoing: ScanOngoingPolicy;
  aws: { region: string; endpoint: string | undefined };
}

/**
 * The console id used in every key when `PRISMA_CONSOLE_ID` is not set: host plus path prefix,
 * lowercased, so a SaaS tenant (`us-east1.cloud.twistlock.com/us-1-111111111`) is one console.
 *
 * @example deriveConsoleId('https://Console.example.com:8083/') // 'console.example.com:8083'
 */
export function deriveConsoleId(url: string): string {
  const parsed = new URL(url);
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.host}${path}`.toLowerCase();
}

function readCaBundle(value: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `PRISMA_CA_BUNDLE: cannot read the CA bundle file ${value}`,
      { variable: 'PRISMA_CA_BUNDLE' },
      cause,
    );
  }
}

/**
 * Parses the configuration once, before any request: one clear line naming the variable on error.
 * Secrets are never part of an error message.
 *
 * @example
 * const config = parseConfig(process.env, { needConsole: true });
 */
export function parseConfig(input: ConfigInput, options: { needConsole: boolean }): AppConfig {
  const picked: Record<string, string | undefined> = {};
  for (const name of ENV_VARS) picked[name] = input[name];
  const result = schema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'configuration');
    throw new ConfigError(`${variable}: ${issue?.message ?? 'invalid'}`, { variable });
  }
  const env = result.data;
  const consoleId =
    env.PRISMA_CONSOLE_ID ?? (env.PRISMA_CONSOLE_URL ? deriveConsoleId(env.PRISMA_CONSOLE_URL) : undefined);
  return {
    console: options.needConsole ? consoleConfigOf(env) : undefined,
    consoleId,
    tablePrefix: env.SYNC_TABLE_PREFIX,
    whenScanOngoing: env.SYNC_WHEN_SCAN_ONGOING,
    aws: { region: env.AWS_REGION ?? 'us-east-1', endpoint: env.AWS_ENDPOINT_URL_DYNAMODB },
  };
}

type ParsedEnv = z.infer<typeof schema>;

/** The console part, for a command that talks to a console: URL and credentials required. */
function consoleConfigOf(env: ParsedEnv): ConsoleConfig {
  if (!env.PRISMA_CONSOLE_URL) {
    throw new ConfigError(
      'PRISMA_CONSOLE_URL: required (the console base URL, e.g. https://console.example.com)',
      {
        variable: 'PRISMA_CONSOLE_URL',
      },
    );
  }
  checkCredentialVariables(env);
  const allowHttp = env.PRISMA_ALLOW_HTTP === '1' || env.PRISMA_ALLOW_HTTP === 'true';
  const url = new URL(env.PRISMA_CONSOLE_URL);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !allowHttp) {
    throw new ConfigError(
      `PRISMA_CONSOLE_URL: plain http:// to ${url.host} would send the password and token in clear text; use https:// (or set PRISMA_ALLOW_HTTP=1 to accept the risk)`,
      { variable: 'PRISMA_CONSOLE_URL' },
    );
  }
  return {
    url: env.PRISMA_CONSOLE_URL.replace(/\/+$/, ''),
    apiVersion: env.PRISMA_API_VERSION,
    credentials:
      env.PRISMA_USERNAME && env.PRISMA_PASSWORD
        ? { username: env.PRISMA_USERNAME, password: env.PRISMA_PASSWORD }
        : undefined,
    secretArn: env.PRISMA_SECRET_ARN,
    caBundle: env.PRISMA_CA_BUNDLE ? readCaBundle(env.PRISMA_CA_BUNDLE) : undefined,
    insecureTls: env.PRISMA_INSECURE_TLS === '1' || env.PRISMA_INSECURE_TLS === 'true',
    allowHttp,
    limits: {
      maxPageBytes: env.PRISMA_MAX_PAGE_BYTES ?? defaultMaxPageBytes(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
      requestTimeoutMs: env.PRISMA_REQUEST_TIMEOUT ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxRetryAfterMs: env.PRISMA_MAX_RETRY_AFTER ?? DEFAULT_MAX_RETRY_AFTER_MS,
    },
  };
}

/** Username and password together, or a secret to read them from. */
function checkCredentialVariables(env: ParsedEnv): void {
  const hasUser = env.PRISMA_USERNAME !== undefined;
  const hasPassword = env.PRISMA_PASSWORD !== undefined;
  if (hasUser !== hasPassword) {
    const missing = hasUser ? 'PRISMA_PASSWORD' : 'PRISMA_USERNAME';
    throw new ConfigError(
      `${missing}: required together with ${hasUser ? 'PRISMA_USERNAME' : 'PRISMA_PASSWORD'}`,
      {
        variable: missing,
      },
    );
  }
  if (!hasUser && !env.PRISMA_SECRET_ARN) {
    throw new ConfigError(
      'PRISMA_USERNAME: required (with PRISMA_PASSWORD), or set PRISMA_SECRET_ARN to read them from Secrets Manager',
      { variable: 'PRISMA_USERNAME' },
    );
  }
}
