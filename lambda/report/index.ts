/**
 * `report`: the posture report (trends, time to fix, SLA breaches, top vulnerabilities, riskiest
 * repositories) as one self-contained HTML page, JSON or Markdown.
 *
 * Pipeline: the tables go through the public `export` (Parquet, to a temporary directory, bounded
 * memory), DuckDB runs the report's SQL over those files (`sql.ts`, the same queries docs/analytics.md
 * shows for Athena), Vega renders the charts to SVG, and the page is written in one piece.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requireChoice, SyncError } from '../common/errors.js';
import { type ExportProgress, exportTables } from '../export/index.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits, queryReportData, type ReportData } from './data.js';
import {
  REPORT_FORMATS,
  type ReportFormat,
  type ReportMeta,
  renderHtml,
  renderJson,
  renderMarkdown,
} from './render.js';
import { DEFAULT_SLA, type ReportParams, type SlaDays } from './sql.js';

export type { ReportData, ReportTiles, SlaBreach } from './data.js';
export { REPORT_FORMATS, type ReportFormat } from './render.js';
export { DEFAULT_SLA, type ReportParams, SEVERITIES, type Severity, type SlaDays } from './sql.js';

/** Where the tables come from: the store (exported first) or the files of an earlier export. */
export type ReportSource =
  | { kind: 'store'; client: DynamoDBDocumentClient; tablePrefix: string; consoleId?: string }
  | { kind: 'export'; dir: string };

export interface ReportOptions {
  source: ReportSource;
  /** The file to write (its directory must exist). */
  out: string;
  /** Default `html`. */
  format?: ReportFormat;
  /** Default 90. */
  days?: number;
  /** Default {@link DEFAULT_SLA}. */
  sla?: SlaDays;
  /** Default 30. */
  staleDays?: number;
  /** Rows of the top lists (default 10). */
  top?: number;
  /** SLA breaches listed (default 200; all are counted). */
  breachRows?: number;
  queryLimits?: QueryLimits;
  onExportProgress?: (progress: ExportProgress) => void;
  now?: () => Date;
}

export interface ReportResult {
  path: string;
  format: ReportFormat;
  data: ReportData;
  bytes: number;
  durationMs: number;
}

/**
 * Writes the report. With a `store` source the tables are exported first (Parquet, temporary
 * directory, removed afterwards).
 *
 * @example
 * const { path, data } = await writeReport({ source: { kind: 'store', client, tablePrefix: 'prisma-registry' }, out: 'report.html' });
 */
export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  const format = options.format ?? 'html';
  requireChoice('format', format, REPORT_FORMATS);
  const now = options.now ?? (() => new Date());
  const started = now();
  const data = await readReportData(options, reportParams(options, started), now);
  const body = await renderReport(format, data, {
    scope: scopeOf(options.source),
    generatedAt: started.toISOString(),
  });
  await writeWhole(options.out, body);
  return {
    path: options.out,
    format,
    data,
    bytes: Buffer.byteLength(body),
    durationMs: now().getTime() - started.getTime(),
  };
}

/** The queries' parameters: the options, defaults filled in, as of `started`. */
function reportParams(options: ReportOptions, started: Date): ReportParams {
  return {
    asOf: started.toISOString(),
    days: options.days ?? 90,
    sla: options.sla ?? DEFAULT_SLA,
    staleDays: options.staleDays ?? 30,
    top: options.top ?? 10,
    breachRows: options.breachRows ?? 200,
  };
}

/** The report's numbers, from an earlier export or from the store exported to a scratch directory. */
async function readReportData(
  options: ReportOptions,
  params: ReportParams,
  now: () => Date,
): Promise<ReportData> {
  const { source } = options;
  const limits = options.queryLimits ?? DEFAULT_QUERY_LIMITS;
  if (source.kind === 'export') return queryReportData(source.dir, params, limits);
  const scratch = await mkdtemp(join(tmpdir(), 'prs-report-'));
  try {
    await exportTables({
      client: source.client,
      tablePrefix: source.tablePrefix,
      ...(source.consoleId !== undefined ? { consoleId: source.consoleId } : {}),
      outDir: scratch,
      format: 'parquet',
      ...(options.onExportProgress ? { onProgress: options.onExportProgress } : {}),
      now,
    });
    return await queryReportData(scratch, params, limits);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function scopeOf(source: ReportSource): string {
  if (source.kind === 'export') return `export ${source.dir}`;
  return source.consoleId !== undefined ? `console ${source.consoleId}` : 'all consoles';
}

async function renderReport(format: ReportFormat, data: ReportData, meta: ReportMeta): Promise<string> {
  if (format === 'json') return renderJson(data, meta);
  if (format === 'md') return renderMarkdown(data, meta);
  // Vega loads only for the HTML page.
  const { renderCharts } = await import('./charts.js');
  return renderHtml(data, await renderCharts(data), meta);
}

/** Written beside the target and renamed: a report file you see is whole. */
async function writeWhole(out: string, body: string): Promise<void> {
  const partial = join(dirname(out), `.${Date.now()}-${process.pid}.report.partial`);
  try {
    await writeFile(partial, body);
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { force: true });
    throw new SyncError('report.writeFailed', `could not write ${out}`, { out }, error);
  }
}
