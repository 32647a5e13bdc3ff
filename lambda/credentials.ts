import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, SyncError } from './common/errors.js';
import type { ConsoleConfig } from './config.js';

export interface Credentials {
  username: string;
  password: string;
}

const cache = new Map<string, { credentials: Credentials; fetchedAt: number }>();
/** Re-read the secret now and then, so a rotated password is picked up by a warm container. */
const CACHE_MS = 15 * 60 * 1000;

/**
 * The console credentials: from the configuration, or from the Secrets Manager secret
 * `{"username","password"}` (cached per container). Errors never include the secret's value.
 *
 * @example
 * const credentials = await resolveCredentials(config.console, { region: 'us-east-1' });
 */
export async function resolveCredentials(
  consoleConfig: ConsoleConfig,
  options: { region: string; client?: SecretsManagerClient; now?: () => number },
): Promise<Credentials> {
  if (consoleConfig.credentials) return consoleConfig.credentials;
  const arn = consoleConfig.secretArn;
  if (!arn)
    throw new ConfigError('PRISMA_USERNAME: required (or PRISMA_SECRET_ARN)', {
      variable: 'PRISMA_USERNAME',
    });
  const now = options.now ?? Date.now;
  const cached = cache.get(arn);
  if (cached && now() - cached.fetchedAt < CACHE_MS) return cached.credentials;
  const client = options.client ?? new SecretsManagerClient({ region: options.region });
  let secretString: string | undefined;
  try {
    const response = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    secretString = response.SecretString;
  } catch (cause) {
    const name = cause instanceof Error ? cause.name : 'Error';
    throw new SyncError(
      'config.secretUnreadable',
      `PRISMA_SECRET_ARN: cannot read the secret (${name})`,
      { arn },
      cause,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString ?? '');
  } catch {
    // No cause attached: a JSON parse error would quote the secret's text.
    throw new ConfigError('PRISMA_SECRET_ARN: the secret is not JSON {"username","password"}', { arn });
  }
  const record = parsed as Record<string, unknown> | null;
  const username = record?.username;
  const password = record?.password;
  if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) {
    throw new ConfigError(
      'PRISMA_SECRET_ARN: the secret must hold non-empty "username" and "password" strings',
      { arn },
    );
  }
  const credentials = { username, password };
  cache.set(arn, { credentials, fetchedAt: now() });
  return credentials;
}

/** For tests: forget cached secrets. */
export function clearCredentialCache(): void {
  cache.clear();
}
