/**
 * The one error family of the product. `code` is stable and namespaced (`client.rateLimited`,
 * `store.itemTooLarge`, `config.invalid`), so callers catch a family by prefix, never by message.
 *
 * @example
 * throw new SyncError('client.pageFailed', 'GET /registry offset=150 failed after 8 attempts', { offset: 150 }, cause);
 */
export class SyncError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SyncError';
    this.code = code;
    this.details = details;
  }

  /** True when this error's code is `prefix` or lies under it (`client` matches `client.timeout`). */
  is(prefix: string): boolean {
    return this.code === prefix || this.code.startsWith(`${prefix}.`);
  }
}

/** True when `error` is a SyncError whose code lies under `prefix`. */
export function isSyncError(error: unknown, prefix?: string): error is SyncError {
  return error instanceof SyncError && (prefix === undefined || error.is(prefix));
}

/** Bad configuration or usage: the CLI exits 2 on these, before any request is sent. */
export class ConfigError extends SyncError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('config.invalid', message, details, cause);
    this.name = 'ConfigError';
  }
}
