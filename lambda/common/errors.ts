/**
 * Every error code of the product, by family. A code is stable: callers and operators match on it
 * (or on its family with {@link SyncError.is}), never on a message. A new failure gets a new code here.
 */
export type ErrorCode =
  | 'sim.childExited'
  | 'naive.http'
  | 'naive.auth'
  | 'client.aborted'
  | 'client.auth'
  | 'client.bodyTooLarge'
  | 'client.closed'
  | 'client.deadline'
  | 'client.deadline.retryAfter'
  | 'client.http'
  | 'client.invalidResponse'
  | 'client.network'
  | 'client.options'
  | 'client.pageFailed'
  | 'client.requestFailed'
  | 'client.requestTimeout'
  | 'client.schema'
  | 'client.tls'
  | 'config.invalid'
  | 'config.secretUnreadable'
  | 'dynamodbLocal.exited'
  | 'dynamodbLocal.javaMissing'
  | 'dynamodbLocal.timeout'
  | 'export.badValue'
  | 'export.exportFailed'
  | 'export.parquetFailed'
  | 'export.startFailed'
  | 'export.stateInvalid'
  | 'export.stateUnreadable'
  | 'export.unknownFormat'
  | 'export.unknownTable'
  | 'export.viewColumnMissing'
  | 'export.writeFailed'
  | 'normalize.invalid'
  | 'report.badResult'
  | 'report.missingTable'
  | 'report.queryFailed'
  | 'report.writeFailed'
  | 'sim.historyEnded'
  | 'sim.invalidOptions'
  | 'sim.keyCollision'
  | 'sim.noHistory'
  | 'sim.unknownImage'
  | 'store.checkpointConflict'
  | 'store.checkpointCorrupt'
  | 'store.checkpointTooLarge'
  | 'store.commitFailed'
  | 'store.consoleMismatch'
  | 'store.createFailed'
  | 'store.describeFailed'
  | 'store.exportBadItem'
  | 'store.invalidInput'
  | 'store.itemTooLarge'
  | 'store.keyTooLong'
  | 'store.leaseFailed'
  | 'store.leaseLost'
  | 'store.queryFailed'
  | 'store.rawCorrupt'
  | 'store.rawIncomplete'
  | 'store.readFailed'
  | 'store.runExists'
  | 'store.runFailed'
  | 'store.runNotFound'
  | 'store.scanFailed'
  | 'store.sweepRefused'
  | 'store.tableMismatch'
  | 'store.tableNotActive'
  | 'store.unknownTable'
  | 'store.unprocessed'
  | 'store.unsafeNumber'
  | 'store.writeFailed'
  | 'sync.invalidReport'
  | 'sync.leaseHeld'
  | 'sync.unexpected';

/** A code or a family of codes (`client`, `client.deadline`), for {@link SyncError.is}. */
export type ErrorCodePrefix = ErrorCode | ErrorFamily<ErrorCode>;

/** Every dotted prefix of a code: `client.deadline.retryAfter` → `client` | `client.deadline`. */
type ErrorFamily<C extends string> = C extends `${infer Head}.${infer Rest}`
  ? Head | `${Head}.${ErrorFamily<Rest>}`
  : never;

/**
 * The one error family of the product. `code` is stable and namespaced (`client.rateLimited`,
 * `store.itemTooLarge`, `config.invalid`), so callers catch a family by prefix, never by message.
 *
 * @example
 * throw new SyncError('client.pageFailed', 'GET /registry offset=150 failed after 8 attempts', { offset: 150 }, cause);
 */
export class SyncError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SyncError';
    this.code = code;
    this.details = details;
  }

  /** True when this error's code is `prefix` or lies under it (`client` matches `client.timeout`). */
  is(prefix: ErrorCodePrefix): boolean {
    return this.code === prefix || this.code.startsWith(`${prefix}.`);
  }
}

/** True when `error` is a SyncError whose code lies under `prefix`. */
export function isSyncError(error: unknown, prefix?: ErrorCodePrefix): error is SyncError {
  return error instanceof SyncError && (prefix === undefined || error.is(prefix));
}

/** Bad configuration or usage: the CLI exits 2 on these, before any request is sent. */
export class ConfigError extends SyncError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('config.invalid', message, details, cause);
    this.name = 'ConfigError';
  }
}

/**
 * Checks that an option holds one of its choices.
 *
 * @throws SyncError `config.invalid` naming the option, the choices and the value.
 * @example
 * requireChoice('format', 'xml', ['html', 'json', 'md']); // throws "format must be one of html, json, md, got xml"
 */
export function requireChoice<T extends string>(option: string, value: T, choices: readonly T[]): void {
  if (!choices.includes(value)) {
    throw new SyncError('config.invalid', `${option} must be one of ${choices.join(', ')}, got ${value}`, {
      [option]: value,
    });
  }
}
