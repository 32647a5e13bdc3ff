/** Structured data beside a log message. */
export type LogData = Readonly<Record<string, unknown>>;

/**
 * THE logger interface of the product: the client, the store and the engine log through it, and the
 * shells pass Powertools' Logger (Lambda) or the CLI's stderr logger, both structurally compatible.
 *
 * @example
 * logger.warn('page retried', { offset: 150, attempt: 2 });
 */
export interface Logger {
  debug(message: string, data?: LogData): void;
  info(message: string, data?: LogData): void;
  warn(message: string, data?: LogData): void;
  error(message: string, data?: LogData): void;
}
