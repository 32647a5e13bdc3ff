import { describe, expect, it } from 'vitest';
import { isSyncError } from '../lambda/common/errors.js';
import {
  DEFAULT_API_VERSION,
  deriveConsoleId,
  nameSettings,
  parseConfig,
  SETTING_VARIABLES,
} from '../lambda/config.js';

const base = {
  PRISMA_CONSOLE_URL: 'https://console.example.com',
  PRISMA_USERNAME: 'alice',
  PRISMA_PASSWORD: 's3cret-pw',
};

function configError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isSyncError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('parseConfig', () => {
  it('applies the defaults of SPEC §3', () => {
    const config = parseConfig(base, { needConsole: true });
    expect(config.console?.apiVersion).toBe(DEFAULT_API_VERSION);
    expect(config.tablePrefix).toBe('prisma-registry');
    expect(config.whenScanOngoing).toBe('proceed');
    expect(config.console?.insecureTls).toBe(false);
    expect(config.consoleId).toBe('console.example.com');
  });

  it('derives the console id from host and path prefix', () => {
    expect(deriveConsoleId('https://us-east1.cloud.twistlock.com/us-1-111111111/')).toBe(
      'us-east1.cloud.twistlock.com/us-1-111111111',
    );
    expect(deriveConsoleId('https://Console.Example.com:8083')).toBe('console.example.com:8083');
  });

  it('prefers PRISMA_CONSOLE_ID over the derived id', () => {
    expect(parseConfig({ ...base, PRISMA_CONSOLE_ID: 'prod-eu' }, { needConsole: true }).consoleId).toBe(
      'prod-eu',
    );
  });

  it('names the variable when the console URL is missing', () => {
    const error = configError(() =>
      parseConfig({ PRISMA_USERNAME: 'a', PRISMA_PASSWORD: 'b' }, { needConsole: true }),
    );
    expect(error.code).toBe('config.invalid');
    expect(error.message).toMatch(/^PRISMA_CONSOLE_URL: required/);
  });

  it('names the variable when a value is malformed', () => {
    expect(
      configError(() => parseConfig({ ...base, PRISMA_CONSOLE_URL: 'not a url' }, { needConsole: true }))
        .message,
    ).toMatch(/^PRISMA_CONSOLE_URL: is not a URL/);
    expect(
      configError(() => parseConfig({ ...base, PRISMA_API_VERSION: '34.04' }, { needConsole: true })).message,
    ).toMatch(/^PRISMA_API_VERSION:/);
    expect(
      configError(() => parseConfig({ ...base, SYNC_TABLE_PREFIX: 'bad prefix!' }, { needConsole: true }))
        .message,
    ).toMatch(/^SYNC_TABLE_PREFIX:/);
    expect(
      configError(() => parseConfig({ ...base, PRISMA_INSECURE_TLS: 'yes' }, { needConsole: true })).message,
    ).toMatch(/^PRISMA_INSECURE_TLS:/);
  });

  it('refuses a password without a username and never echoes the password', () => {
    const error = configError(() =>
      parseConfig(
        { PRISMA_CONSOLE_URL: 'https://c.example.com', PRISMA_PASSWORD: 'hunter2-secret' },
        { needConsole: true },
      ),
    );
    expect(error.message).toMatch(/^PRISMA_USERNAME:/);
    expect(error.message).not.toContain('hunter2-secret');
  });

  it('refuses credentials embedded in the console URL without echoing them', () => {
    const error = configError(() =>
      parseConfig(
        { ...base, PRISMA_CONSOLE_URL: 'https://bob:topsecret@c.example.com' },
        { needConsole: true },
      ),
    );
    expect(error.message).toMatch(/^PRISMA_CONSOLE_URL: must not carry credentials/);
    expect(error.message).not.toContain('topsecret');
  });

  it('accepts a secret ARN instead of a username and password', () => {
    const config = parseConfig(
      {
        PRISMA_CONSOLE_URL: 'https://c.example.com',
        PRISMA_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
      },
      { needConsole: true },
    );
    expect(config.console?.credentials).toBeUndefined();
    expect(config.console?.secretArn).toContain('secretsmanager');
  });

  it('turns TLS verification off only on an explicit PRISMA_INSECURE_TLS=1', () => {
    expect(
      parseConfig({ ...base, PRISMA_INSECURE_TLS: '1' }, { needConsole: true }).console?.insecureTls,
    ).toBe(true);
    expect(
      parseConfig({ ...base, PRISMA_INSECURE_TLS: '0' }, { needConsole: true }).console?.insecureTls,
    ).toBe(false);
    expect(
      parseConfig({ ...base, PRISMA_INSECURE_TLS: '' }, { needConsole: true }).console?.insecureTls,
    ).toBe(false);
  });

  it('needs no console settings for commands that only read the tables', () => {
    const config = parseConfig({ PRISMA_CONSOLE_ID: 'c1' }, { needConsole: false });
    expect(config.console).toBeUndefined();
    expect(config.consoleId).toBe('c1');
  });

  it('reads a CA bundle given inline as PEM text and fails clearly on a missing file', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(parseConfig({ ...base, PRISMA_CA_BUNDLE: pem }, { needConsole: true }).console?.caBundle).toBe(
      pem,
    );
    expect(
      configError(() =>
        parseConfig({ ...base, PRISMA_CA_BUNDLE: '/nonexistent/ca.pem' }, { needConsole: true }),
      ).message,
    ).toMatch(/^PRISMA_CA_BUNDLE: cannot read/);
  });

  it('sizes the page limit to the Lambda and reads the hostile-console limits', () => {
    const limits = (input: Record<string, string>) =>
      parseConfig({ ...base, ...input }, { needConsole: true }).console?.limits;
    expect(limits({})).toEqual({
      maxPageBytes: 64 * 1024 ** 2,
      requestTimeoutMs: 90_000,
      maxRetryAfterMs: 120_000,
    });
    expect(limits({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512' })?.maxPageBytes).toBe(32 * 1024 ** 2);
    expect(limits({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '10240' })?.maxPageBytes).toBe(256 * 1024 ** 2);
    expect(
      limits({ PRISMA_MAX_PAGE_BYTES: '8MiB', PRISMA_REQUEST_TIMEOUT: '30s', PRISMA_MAX_RETRY_AFTER: '0' }),
    ).toEqual({ maxPageBytes: 8 * 1024 ** 2, requestTimeoutMs: 30_000, maxRetryAfterMs: 0 });
    expect(configError(() => limits({ PRISMA_MAX_PAGE_BYTES: 'lots' })).message).toMatch(
      /^PRISMA_MAX_PAGE_BYTES: /,
    );
    expect(configError(() => limits({ PRISMA_REQUEST_TIMEOUT: '0' })).message).toMatch(
      /^PRISMA_REQUEST_TIMEOUT: /,
    );
  });

  it('refuses credentials over plain http:// to a host that is not loopback unless PRISMA_ALLOW_HTTP=1', () => {
    const http = { ...base, PRISMA_CONSOLE_URL: 'http://console.example.com' };
    const refused = configError(() => parseConfig(http, { needConsole: true }));
    expect(refused.code).toBe('config.invalid');
    expect(refused.message).toMatch(/^PRISMA_CONSOLE_URL: plain http:\/\/ .*PRISMA_ALLOW_HTTP=1/);
    expect(refused.message).not.toContain(base.PRISMA_PASSWORD);
    expect(parseConfig({ ...http, PRISMA_ALLOW_HTTP: '1' }, { needConsole: true }).console?.allowHttp).toBe(
      true,
    );
    for (const host of ['127.0.0.1:8080', 'localhost', '[::1]:9000']) {
      expect(
        parseConfig({ ...base, PRISMA_CONSOLE_URL: `http://${host}` }, { needConsole: true }).console
          ?.allowHttp,
      ).toBe(false);
    }
  });
});

describe('nameSettings: the shells name the variable behind a setting a lower layer names', () => {
  it('turns each known setting into its variable and leaves other text alone', () => {
    expect(nameSettings('longer than the 120 s maximum (setting maxRetryAfter); stops')).toBe(
      'longer than the 120 s maximum (PRISMA_MAX_RETRY_AFTER); stops',
    );
    expect(nameSettings('set setting caBundle to its PEM certificate, or setting insecureTls')).toBe(
      'set PRISMA_CA_BUNDLE to its PEM certificate, or PRISMA_INSECURE_TLS=1',
    );
    expect(nameSettings('a setting nobodyKnows stays; resetting maxPageBytes stays')).toBe(
      'a setting nobodyKnows stays; resetting maxPageBytes stays',
    );
  });

  it('knows every setting the console client names in its messages', async () => {
    const { readFileSync } = await import('node:fs');
    const sources = ['../lambda/prisma/client.ts', '../lambda/prisma/transport.ts'].map((path) =>
      readFileSync(new URL(path, import.meta.url), 'utf8'),
    );
    const named = new Set(sources.flatMap((text) => [...text.matchAll(/\bsetting (\w+)/g)].map((m) => m[1])));
    expect(named.size).toBeGreaterThan(0);
    for (const setting of named) expect(Object.keys(SETTING_VARIABLES)).toContain(setting);
    for (const text of sources) expect(text).not.toMatch(/['`"][^'`"\n]*PRISMA_[A-Z_]+/);
  });
});
