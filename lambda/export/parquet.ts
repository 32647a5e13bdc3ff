/**
 * Staged CSV → Parquet through DuckDB's node API. Loaded lazily (only a Parquet export pays for the
 * native binary); never part of the Lambda bundle.
 *
 * Why DuckDB rather than a pure-JS Parquet writer: see docs/analytics.md ("Why DuckDB"). In short,
 * it is maintained by the DuckDB team, writes spec-complete Parquet (typed logical columns, zstd,
 * statistics, proper row groups) that Athena, Spark and pandas read, streams the conversion under
 * an explicit memory limit, and is the engine the example queries run on, so the test that checks
 * them exercises the very files users get.
 *
 * Why the rows are staged as CSV rather than NDJSON: DuckDB's JSON reader holds two buffers of at
 * least 16 MiB each whatever `maximum_object_size` says (about 40 MB of RSS for the findings table),
 * while its CSV reader takes an explicit `buffer_size` (2 MiB here, about 10 MB of RSS). The staging
 * file is RFC 4180 as the CSV export writes it (without the spreadsheet formula guard), which
 * `read_csv` reads back exactly: an empty unquoted field is null, `""` an empty string.
 */
import { stat } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SyncError } from '../common/errors.js';
import { DUCKDB_TYPES, type ExportTableDefinition } from './schema.js';

/**
 * Bytes of one Parquet row group as DuckDB's writer holds it in memory (it closes a group at this size
 * or at {@link ROW_GROUP_MAX_ROWS}, whichever comes first). Bounding groups by bytes rather than rows
 * keeps the writer's memory flat whatever the width of the rows: about 3,500 findings with their
 * descriptions, 10,000s of narrow change rows. Why 4 MiB and not 8: bench/results.md "Figures behind code comments".
 */
export const ROW_GROUP_BYTES = 4 * 1024 * 1024;

/** Upper bound on the rows of one row group (DuckDB's default), reached only by narrow rows. */
export const ROW_GROUP_MAX_ROWS = 122_880;

/**
 * The longest staged CSV record DuckDB accepts, and its read buffer (which must be at least as long).
 * A store item is below 400 KB, so a record is below 800 KB even with every quote doubled.
 */
export const CSV_MAX_LINE_BYTES = 2 * 1024 * 1024;

/** A string literal for DuckDB SQL (paths, type names). */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A quoted identifier for DuckDB SQL. */
export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The `COPY` statement converting one table's staged CSV file (header, CRLF, RFC 4180 quoting, no
 * formula guard: see `toCsvRecord`) to Parquet, with explicit types (pure). Nothing is sniffed:
 * columns and types come from the schema. Timestamps are read as text and cast, so a malformed time
 * fails loudly instead of becoming null.
 *
 * @example
 * parquetCopySql(IMAGES_TABLE, '/tmp/images.csv', '/tmp/images.parquet')
 * // COPY (SELECT "console_id", ..., CAST("scan_time" AS TIMESTAMP) AS "scan_time", ... FROM read_csv(...)) TO ...
 */
export function parquetCopySql(table: ExportTableDefinition, csvPath: string, parquetPath: string): string {
  const readTypes = table.columns
    .map(
      (column) =>
        `${sqlString(column.name)}: ${sqlString(column.type === 'timestamp' ? 'VARCHAR' : DUCKDB_TYPES[column.type])}`,
    )
    .join(', ');
  const select = table.columns
    .map((column) =>
      column.type === 'timestamp'
        ? `CAST(${sqlIdentifier(column.name)} AS TIMESTAMP) AS ${sqlIdentifier(column.name)}`
        : sqlIdentifier(column.name),
    )
    .join(', ');
  return [
    `COPY (SELECT ${select} FROM read_csv(${sqlString(csvPath)}, columns = {${readTypes}},`,
    ` header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',`,
    ` nullstr = '', allow_quoted_nulls = false, strict_mode = true,`,
    ` buffer_size = ${CSV_MAX_LINE_BYTES}, max_line_size = ${CSV_MAX_LINE_BYTES}))`,
    ` TO ${sqlString(parquetPath)} (FORMAT parquet, COMPRESSION zstd,`,
    ` ROW_GROUP_SIZE ${ROW_GROUP_MAX_ROWS}, ROW_GROUP_SIZE_BYTES ${ROW_GROUP_BYTES})`,
  ].join('');
}

/**
 * A specifier bundlers cannot follow: DuckDB ships a native binary per platform, so no bundle (the
 * CLI's, a Lambda's) may inline it; it is loaded from node_modules when a conversion runs.
 */
const DUCKDB_MODULE: string = '@duckdb/node-api';

/**
 * Opens an in-memory DuckDB with a memory limit and few threads (the export runs beside other work).
 *
 * @example
 * const { connection, close } = await openDuckDb({ memoryLimit: '64MB' });
 */
export async function openDuckDb(
  options: { memoryLimit?: string; threads?: number; tempDirectory?: string } = {},
): Promise<{ connection: DuckDBConnection; close: () => void }> {
  const { DuckDBInstance } = (await import(DUCKDB_MODULE)) as typeof import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: options.memoryLimit ?? PARQUET_MEMORY_LIMITS[0],
    threads: String(options.threads ?? 1),
    // Row order within a file carries no meaning; not preserving it lets DuckDB stream with less memory.
    preserve_insertion_order: 'false',
    ...(options.tempDirectory ? { temp_directory: options.tempDirectory } : {}),
  });
  const connection = await instance.connect();
  return {
    connection,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * DuckDB memory limits tried in turn. Row groups bounded by bytes keep a conversion within the first
 * for any row width measured (20,000 images, or findings of 10 KB each); the larger ones are a safety
 * net: a DuckDB out-of-memory error retries with the next limit instead of failing the export.
 */
export const PARQUET_MEMORY_LIMITS = ['64MB', '160MB', '400MB'] as const;

const isOutOfMemory = (error: unknown) => error instanceof Error && /Out of Memory/i.test(error.message);

/**
 * Converts one table's staged CSV file (see {@link parquetCopySql}) to Parquet; returns the file's
 * size and the DuckDB memory limit that sufficed.
 *
 * @example
 * const { bytes } = await csvToParquet(IMAGES_TABLE, '/tmp/images.csv', '/tmp/images.parquet');
 */
export async function csvToParquet(
  table: ExportTableDefinition,
  csvPath: string,
  parquetPath: string,
  options: { memoryLimits?: readonly string[] } = {},
): Promise<{ bytes: number; memoryLimit: string }> {
  const limits = options.memoryLimits ?? PARQUET_MEMORY_LIMITS;
  for (const [attempt, memoryLimit] of limits.entries()) {
    const duck = await openDuckDb({ memoryLimit });
    try {
      await duck.connection.run(parquetCopySql(table, csvPath, parquetPath));
      return { bytes: (await stat(parquetPath)).size, memoryLimit };
    } catch (error) {
      if (isOutOfMemory(error) && attempt < limits.length - 1) continue;
      throw new SyncError(
        'export.parquetFailed',
        `could not convert ${table.name} to Parquet: ${error instanceof Error ? error.message : String(error)}`,
        { table: table.name, path: parquetPath, memoryLimit },
        error,
      );
    } finally {
      duck.close();
    }
  }
  throw new SyncError('export.parquetFailed', `no DuckDB memory limit given for ${table.name}`, {
    table: table.name,
  });
}
