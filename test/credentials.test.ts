import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeEach, describe, expect, it } from 'vitest';
import { isSyncError } from '../lambda/common/errors.js';
import type { ConsoleConfig } from '../lambda/config.js';
import { clearCredentialCache, resolveCredentials } from '../lambda/credentials.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prisma-abc';
const consoleConfig: ConsoleConfig = {
  url: 'https://c.example.com',
  apiVersion: 'v34.04',
  credentials: undefined,
  secretArn: ARN,
  caBundle: undefined,
  insecureTls: false,
};

/** Secrets Manager has no local stand-in: a fake at the SDK's `send` boundary, counting calls. */
function fakeSecrets(answer: () => { SecretString?: string }): SecretsManagerClient & { calls: number } {
  const fake = {
    calls: 0,
    async send(command: unknown) {
      expect(command).toBeInstanceOf(GetSecretValueCommand);
      fake.calls += 1;
      return answer();
    },
  };
  return fake as unknown as SecretsManagerClient & { calls: number };
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isSyncError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

describe('resolveCredentials', () => {
  beforeEach(() => clearCredentialCache());

  it('returns configured credentials without touching Secrets Manager', async () => {
    const client = fakeSecrets(() => ({}));
    const credentials = await resolveCredentials(
      { ...consoleConfig, credentials: { username: 'u', password: 'p' } },
      { region: 'us-east-1', client },
    );
    expect(credentials).toEqual({ username: 'u', password: 'p' });
    expect(client.calls).toBe(0);
  });

  it('reads {"username","password"} from the secret once per container', async () => {
    const client = fakeSecrets(() => ({
      SecretString: JSON.stringify({ username: 'key-id', password: 'key-secret' }),
    }));
    const first = await resolveCredentials(consoleConfig, { region: 'us-east-1', client });
    const second = await resolveCredentials(consoleConfig, { region: 'us-east-1', client });
    expect(first).toEqual({ username: 'key-id', password: 'key-secret' });
    expect(second).toEqual(first);
    expect(client.calls).toBe(1);
  });

  it('re-reads the secret after the cache period so rotations are picked up', async () => {
    let t = 0;
    const client = fakeSecrets(() => ({
      SecretString: JSON.stringify({ username: 'u', password: `p${t}` }),
    }));
    await resolveCredentials(consoleConfig, { region: 'us-east-1', client, now: () => t });
    t = 16 * 60 * 1000;
    const later = await resolveCredentials(consoleConfig, { region: 'us-east-1', client, now: () => t });
    expect(later.password).toBe(`p${t}`);
    expect(client.calls).toBe(2);
  });

  it('fails clearly on a secret that is not JSON, without quoting it', async () => {
    const client = fakeSecrets(() => ({ SecretString: 'plain-text-password-123' }));
    const error = await failure(resolveCredentials(consoleConfig, { region: 'us-east-1', client }));
    expect(error.message).toMatch(/^PRISMA_SECRET_ARN: the secret is not JSON/);
    expect(error.message).not.toContain('plain-text-password-123');
  });

  it('fails clearly when a field is missing, without quoting the other', async () => {
    const client = fakeSecrets(() => ({
      SecretString: JSON.stringify({ username: 'u', pass: 'oops-secret' }),
    }));
    const error = await failure(resolveCredentials(consoleConfig, { region: 'us-east-1', client }));
    expect(error.message).toMatch(/"username" and "password"/);
    expect(error.message).not.toContain('oops-secret');
  });

  it('names the variable when the secret cannot be read', async () => {
    const client = {
      send: async () => {
        const e = new Error('User is not authorized');
        e.name = 'AccessDeniedException';
        throw e;
      },
    } as unknown as SecretsManagerClient;
    const error = await failure(resolveCredentials(consoleConfig, { region: 'us-east-1', client }));
    expect(error.code).toBe('config.secretUnreadable');
    expect(error.message).toBe('PRISMA_SECRET_ARN: cannot read the secret (AccessDeniedException)');
  });
});
