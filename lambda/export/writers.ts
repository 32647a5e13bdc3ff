/**
 * Row writers: one file per table, streamed in bounded memory. NDJSON and CSV are encoded row by row
 * onto a {@link FileSink}. Parquet goes through DuckDB (see `parquet.ts`): rows are streamed to a
 * temporary CSV file next to the output (exact: no formula guard), then converted by one
 * `COPY ... TO (FORMAT parquet)` with explicit column types, under a DuckDB memory limit.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncError } from '../common/errors.js';
import { type CsvOptions, csvHeader, toCsvRecord, toNdjsonLine } from './encode.js';
import { FileSink } from './file-sink.js';
import { csvToParquet, PARQUET_MEMORY_LIMITS } from './parquet.js';
import type { ExportRow, ExportTableDefinition } from './schema.js';

export const EXPORT_FORMATS = ['parquet', 'ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** File extension of each format. */
export const FORMAT_EXTENSIONS: Readonly<Record<ExportFormat, string>> = {
  parquet: 'parquet',
  ndjson: 'ndjson',
  csv: 'csv',
};

export interface WrittenFile {
  table: ExportTableDefinition['name'];
  path: string;
  rows: number;
  bytes: number;
  /** Set when the Parquet conversion needed more than DuckDB's first memory limit (wide rows). */
  parquetMemoryLimit?: string;
}

/** Writes the rows of one table to one file. Not safe for concurrent `write` calls without awaiting. */
export interface RowWriter {
  readonly table: ExportTableDefinition;
  readonly path: string;
  /** Rows written so far. */
  readonly rows: number;
  /** Resolves when the row is buffered; waits when the file cannot keep up (backpressure). */
  write(row: ExportRow): Promise<void>;
  /** Finishes the file (for Parquet: converts it) and moves it into place. */
  close(): Promise<WrittenFile>;
  /** Deletes whatever was written. Never throws. */
  abort(): Promise<void>;
}

export interface RowWriterOptions {
  csv?: CsvOptions;
  /** DuckDB memory limits the Parquet conversion tries in turn (default {@link PARQUET_MEMORY_LIMITS}). */
  parquetMemoryLimits?: readonly string[];
}

class TextRowWriter implements RowWriter {
  readonly table: ExportTableDefinition;
  readonly path: string;
  rows = 0;
  private readonly sink: FileSink;
  private readonly encode: (row: ExportRow) => string;
  /** Written before the first row, or on close when there are none. */
  private header: string;
  private closed = false;

  constructor(table: ExportTableDefinition, path: string, encode: (row: ExportRow) => string, header = '') {
    this.table = table;
    this.path = path;
    this.sink = new FileSink(path);
    this.encode = encode;
    this.header = header;
  }

  async write(row: ExportRow): Promise<void> {
    const text = this.encode(row);
    if (this.header !== '') {
      await this.sink.write(this.header);
      this.header = '';
    }
    this.rows += 1;
    await this.sink.write(text);
  }

  async close(): Promise<WrittenFile> {
    if (this.header !== '') await this.sink.write(this.header);
    this.header = '';
    const { bytes } = await this.sink.close();
    this.closed = true;
    return { table: this.table.name, path: this.path, rows: this.rows, bytes };
  }

  async abort(): Promise<void> {
    await this.sink.abort();
    // Only a file this writer finished is ours to delete; an older export's file is left alone.
    if (this.closed) await rm(this.path, { force: true });
  }
}

class ParquetRowWriter implements RowWriter {
  readonly table: ExportTableDefinition;
  readonly path: string;
  private readonly staging: TextRowWriter;
  private readonly memoryLimits: readonly string[];
  /** Set once the conversion starts: from then on a file at `path` is ours (partial or complete). */
  private converting = false;

  constructor(table: ExportTableDefinition, path: string, memoryLimits: readonly string[] | undefined) {
    this.table = table;
    this.path = path;
    this.memoryLimits = memoryLimits ?? PARQUET_MEMORY_LIMITS;
    // CSV rather than NDJSON: DuckDB reads it with far smaller buffers (see `parquet.ts`).
    this.staging = new TextRowWriter(
      table,
      `${path}.staging.csv`,
      (row) => toCsvRecord(table, row, { formulaGuard: false }),
      csvHeader(table),
    );
  }

  get rows(): number {
    return this.staging.rows;
  }

  write(row: ExportRow): Promise<void> {
    return this.staging.write(row);
  }

  async close(): Promise<WrittenFile> {
    const staged = await this.staging.close();
    this.converting = true;
    try {
      // DuckDB's native binary is loaded here, on the first conversion, never at import.
      const { bytes, memoryLimit } = await csvToParquet(this.table, staged.path, this.path, {
        memoryLimits: this.memoryLimits,
      });
      return {
        table: this.table.name,
        path: this.path,
        rows: staged.rows,
        bytes,
        ...(memoryLimit !== this.memoryLimits[0] ? { parquetMemoryLimit: memoryLimit } : {}),
      };
    } finally {
      await rm(staged.path, { force: true });
    }
  }

  async abort(): Promise<void> {
    await this.staging.abort();
    if (this.converting) await rm(this.path, { force: true });
  }
}

/**
 * Opens a writer for one table in one format, writing `<dir>/<table>.<ext>`.
 *
 * @example
 * const writer = createRowWriter('csv', IMAGES_TABLE, '/tmp/export');
 * await writer.write(row);
 * const file = await writer.close(); // { table: 'images', path: '/tmp/export/images.csv', rows: 1, bytes: 412 }
 */
export function createRowWriter(
  format: ExportFormat,
  table: ExportTableDefinition,
  dir: string,
  options: RowWriterOptions = {},
): RowWriter {
  const path = join(dir, `${table.name}.${FORMAT_EXTENSIONS[format]}`);
  switch (format) {
    case 'ndjson':
      return new TextRowWriter(table, path, (row) => toNdjsonLine(table, row));
    case 'csv':
      return new TextRowWriter(table, path, (row) => toCsvRecord(table, row, options.csv), csvHeader(table));
    case 'parquet':
      return new ParquetRowWriter(table, path, options.parquetMemoryLimits);
    default:
      throw new SyncError('export.unknownFormat', `unknown export format ${String(format)}`, { format });
  }
}
