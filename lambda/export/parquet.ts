/**
 * NDJSON → Parquet through DuckDB's node API. Loaded lazily (only a Parquet export pays for the
 * native binary); never part of the Lambda bundle.
 *
 * Why DuckDB rather than a pure-JS Parquet writer: see docs/analytics.md ("Why DuckDB"). In short,
 * it is maintained by the DuckDB team, writes spec-complete Parquet (typed logical columns, zstd,
 * statistics, proper row groups) that Athena, Spark and pandas read, streams the conversion under
 * an explicit memory limit, and is the engine the example queries run on, so the test that checks
 * them exercises the very files users get.
 */
import { stat } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SyncError } from '../common/errors.js';
import { DUCKDB_TYPES, type ExportTableDefinition } from './schema.js';

/**
 * Rows per Parquet row group. DuckDB's writer holds one row group in memory per thread; its default
 * (122,880 rows) is over 100 MB of findings with their descriptions. 16,384 rows keeps the conversion
 * within its memory limit while row groups stay large enough for column pruning and statistics.
 */
export const ROW_GROUP_ROWS = 8_192;

/** A string literal for DuckDB SQL (paths, type names). */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A quoted identifier for DuckDB SQL. */
export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The `COPY` statement converting one table's NDJSON file to Parquet, with explicit types (pure).
 * Timestamps are read as text and cast, so a malformed time fails loudly instead of becoming null.
 * One row may be up to 1 MiB of JSON (a store item is below 400 KB); a larger cap would only grow
 * DuckDB's read buffers.
 *
 * @example
 * parquetCopySql(IMAGES_TABLE, '/tmp/images.ndjson', '/tmp/images.parquet')
 * // COPY (SELECT "console_id", ..., CAST("scan_time" AS TIMESTAMP) AS "scan_time", ... FROM read_json(...)) TO ...
 */
export function parquetCopySql(
  table: ExportTableDefinition,
  ndjsonPath: string,
  parquetPath: string,
): string {
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
    `COPY (SELECT ${select} FROM read_json(${sqlString(ndjsonPath)}, columns = {${readTypes}},`,
    ` format = 'newline_delimited', maximum_object_size = 1048576))`,
    ` TO ${sqlString(parquetPath)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
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
 * DuckDB memory limits tried in turn. DuckDB's Parquet writer needs more memory for wide rows (a
 * findings table whose texts run to kilobytes per row) than for typical ones; starting low keeps a
 * typical export small, and a DuckDB out-of-memory error retries with the next limit instead of
 * failing the export.
 */
export const PARQUET_MEMORY_LIMITS = ['64MB', '160MB', '400MB'] as const;

const isOutOfMemory = (error: unknown) => error instanceof Error && /Out of Memory/i.test(error.message);

/**
 * Converts one table's NDJSON file to Parquet; returns the file's size and the DuckDB memory limit
 * that sufficed.
 *
 * @example
 * const { bytes } = await ndjsonToParquet(IMAGES_TABLE, '/tmp/images.ndjson', '/tmp/images.parquet');
 */
export async function ndjsonToParquet(
  table: ExportTableDefinition,
  ndjsonPath: string,
  parquetPath: string,
  options: { memoryLimits?: readonly string[] } = {},
): Promise<{ bytes: number; memoryLimit: string }> {
  const limits = options.memoryLimits ?? PARQUET_MEMORY_LIMITS;
  for (const [attempt, memoryLimit] of limits.entries()) {
    const duck = await openDuckDb({ memoryLimit });
    try {
      await duck.connection.run(parquetCopySql(table, ndjsonPath, parquetPath));
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
