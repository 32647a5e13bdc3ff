/**
 * Pure row encoders: one row of a table in, one line of NDJSON or one CSV record out. Both write
 * the columns in schema order and every column of the table, so files of one table always have the
 * same layout.
 */
import { SyncError } from '../common/errors.js';
import type { CellValue, ColumnDefinition, ExportRow, ExportTableDefinition } from './schema.js';

function cell(table: ExportTableDefinition, column: ColumnDefinition, row: ExportRow): CellValue {
  const value = row[column.name];
  if (value === undefined || value === null) return null;
  const ok =
    column.type === 'boolean'
      ? typeof value === 'boolean'
      : column.type === 'varchar' || column.type === 'timestamp'
        ? typeof value === 'string'
        : typeof value === 'number' &&
          Number.isFinite(value) &&
          (column.type === 'double' || Number.isInteger(value));
  if (!ok) {
    // A wrong type here is a bug in the reader's mapping; a Parquet cast would fail later and less clearly.
    throw new SyncError(
      'export.badValue',
      `${table.name}.${column.name} expects ${column.type}, got ${typeof value}`,
      { table: table.name, column: column.name, type: column.type },
    );
  }
  return value;
}

/**
 * One NDJSON line (with its `\n`): a JSON object with every column in schema order, `null` when unknown.
 *
 * @example
 * toNdjsonLine(CHANGES_TABLE, row) // '{"console_id":"prod","change":"new",...}\n'
 */
export function toNdjsonLine(table: ExportTableDefinition, row: ExportRow): string {
  const ordered: Record<string, CellValue> = {};
  for (const column of table.columns) ordered[column.name] = cell(table, column, row);
  return `${JSON.stringify(ordered)}\n`;
}

export interface CsvOptions {
  /**
   * Prefix text cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage
   * return) with a single quote, as OWASP recommends. On by default: report texts (titles, package
   * names) come from third parties and CSV is the format people open in a spreadsheet. Lossy for
   * such cells: turn it off for machine consumers (or use NDJSON / Parquet, which are never altered).
   */
  formulaGuard?: boolean;
}

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA_START = /^[=+\-@\t\r]/;

function csvField(value: CellValue, guard: boolean, isText: boolean): string {
  // RFC 4180 has no null: an empty unquoted field is null, a quoted empty field (`""`) an empty string.
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  if (value === '') return '""';
  const text = guard && isText && FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) || text !== value ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The CSV header record (with CRLF, as RFC 4180 specifies).
 *
 * @example
 * csvHeader(CHANGES_TABLE) // 'console_id,change,at,...\r\n'
 */
export function csvHeader(table: ExportTableDefinition): string {
  return `${table.columns.map((column) => column.name).join(',')}\r\n`;
}

/**
 * One CSV record (with CRLF): fields quoted only when they hold `"`, `,`, CR or LF (quotes doubled),
 * booleans as `true`/`false`, times as ISO-8601, null as an empty field, empty text as `""`.
 *
 * @example
 * toCsvRecord(CHANGES_TABLE, row) // 'prod,new,2024-05-01T12:00:00.000Z,...\r\n'
 */
export function toCsvRecord(table: ExportTableDefinition, row: ExportRow, options: CsvOptions = {}): string {
  const guard = options.formulaGuard ?? true;
  const fields = table.columns.map((column) =>
    csvField(cell(table, column, row), guard, column.type === 'varchar'),
  );
  return `${fields.join(',')}\r\n`;
}
