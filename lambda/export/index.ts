/**
 * `export`: the store's data as four flat tables (`images`, `findings`, `scans`, `changes`), one file
 * each, in Parquet, NDJSON or CSV, streamed in bounded memory. Schema: `schema.ts` and
 * docs/analytics.md.
 */
import { mkdir } from 'node:fs/promises';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requireChoice, SyncError } from '../common/errors.js';
import type { CsvOptions } from './encode.js';
import { EXPORT_TABLES, type ExportTableName } from './schema.js';
import {
  type ExportReadStats,
  estimateItemCount,
  newExportReadStats,
  readExportRecords,
} from './store-reader.js';
import {
  createRowWriter,
  EXPORT_FORMATS,
  type ExportFormat,
  type RowWriter,
  type WrittenFile,
} from './writers.js';

export { EXPORT_FORMATS, type ExportFormat, type WrittenFile } from './writers.js';

export interface ExportProgress {
  phase: 'reading' | 'converting' | 'done';
  /** Items read from DynamoDB so far. */
  itemsRead: number;
  /** DynamoDB's item count estimate of the `images` table (full exports only; refreshed every ~6 h). */
  estimatedItems: number | undefined;
  rows: Record<ExportTableName, number>;
  elapsedMs: number;
}

export interface ExportOptions {
  client: DynamoDBDocumentClient;
  tablePrefix: string;
  /** Only this console (Query only; removed images are in full exports only). */
  consoleId?: string;
  /** Only rows the sync wrote at or after this ISO time (Query only). */
  since?: string;
  outDir: string;
  /** Default `parquet`. */
  format?: ExportFormat;
  /** Parallel Scan segments of a full export (default 4). */
  segments?: number;
  /** Items per DynamoDB page (default 100). */
  pageSize?: number;
  csv?: CsvOptions;
  /** DuckDB memory limits the Parquet conversion tries in turn (default 64MB, then 160MB, then 400MB). */
  parquetMemoryLimits?: readonly string[];
  /** Called after every page read and once per phase change. */
  onProgress?: (progress: ExportProgress) => void;
  now?: () => Date;
}

export interface ExportResult {
  /** One file per table, in schema order. */
  files: WrittenFile[];
  /** `scan` for a full export, `query` with `consoleId` or `since`. */
  access: 'scan' | 'query';
  stats: ExportReadStats;
  durationMs: number;
}

/**
 * Exports the four tables to `outDir` (created if missing; files of the same format are replaced).
 * On any failure every file of this export is removed and the error rethrown.
 *
 * @example
 * const { files } = await exportTables({ client, tablePrefix: 'prisma-registry', outDir: 'export-out', format: 'parquet' });
 * // files: [{ table: 'images', path: 'export-out/images.parquet', rows: 1200, bytes: 81234 }, ...]
 */
export async function exportTables(options: ExportOptions): Promise<ExportResult> {
  const format = options.format ?? 'parquet';
  requireChoice('format', format, EXPORT_FORMATS);
  const now = options.now ?? (() => new Date());
  const started = now().getTime();
  const access = options.consoleId === undefined && options.since === undefined ? 'scan' : 'query';
  const estimatedItems =
    access === 'scan' ? await estimateItemCount(options.client, options.tablePrefix) : undefined;
  const stats = newExportReadStats();
  const rows = { images: 0, findings: 0, scans: 0, changes: 0 } satisfies Record<ExportTableName, number>;
  const report = (phase: ExportProgress['phase']) =>
    options.onProgress?.({
      phase,
      itemsRead: stats.itemsRead,
      estimatedItems,
      rows: { ...rows },
      elapsedMs: now().getTime() - started,
    });

  await createOutDir(options.outDir);
  const writers = openWriters(format, options);
  const files: WrittenFile[] = [];
  try {
    report('reading');
    for await (const batch of readExportRecords(readerOptions(options, now), stats)) {
      for (const { table, row } of batch) {
        // One awaited write at a time: a slow disk slows the read, it never piles rows up in memory.
        await writers.get(table)?.write(row);
        rows[table] += 1;
      }
      report('reading');
    }
    report('converting');
    for (const table of EXPORT_TABLES) {
      const writer = writers.get(table.name);
      if (writer) files.push(await writer.close());
    }
  } catch (error) {
    await Promise.all([...writers.values()].map((writer) => writer.abort()));
    throw error;
  }
  report('done');
  return { files, access, stats, durationMs: now().getTime() - started };
}

async function createOutDir(outDir: string): Promise<void> {
  try {
    await mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new SyncError('export.writeFailed', `could not create ${outDir}`, { outDir }, error);
  }
}

/** One writer per table, in schema order. */
function openWriters(format: ExportFormat, options: ExportOptions): Map<ExportTableName, RowWriter> {
  const writerOptions = {
    ...(options.csv ? { csv: options.csv } : {}),
    ...(options.parquetMemoryLimits ? { parquetMemoryLimits: options.parquetMemoryLimits } : {}),
  };
  return new Map<ExportTableName, RowWriter>(
    EXPORT_TABLES.map((table) => [table.name, createRowWriter(format, table, options.outDir, writerOptions)]),
  );
}

function readerOptions(options: ExportOptions, now: () => Date): Parameters<typeof readExportRecords>[0] {
  return {
    client: options.client,
    tablePrefix: options.tablePrefix,
    ...(options.consoleId !== undefined ? { consoleId: options.consoleId } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.segments !== undefined ? { segments: options.segments } : {}),
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
    now,
  };
}
