/**
 * Runs the report's SQL (`sql.ts`) on DuckDB over the files of an export and returns the numbers,
 * typed. DuckDB reads the Parquet (or NDJSON) files in streaming, under an explicit memory limit, so
 * the report's memory does not grow with the export.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SyncError } from '../common/errors.js';
import { DUCKDB_TYPES, EXPORT_TABLES } from '../export/schema.js';
import {
  DUCKDB,
  type QueryName,
  type ReportParams,
  reportPeriod,
  reportQueries,
  type Severity,
} from './sql.js';

export interface SeverityCounts {
  critical: number;
  high: number;
  medium: number;
  low: number;
}

export interface ReportTiles extends SeverityCounts {
  images: number;
  staleImages: number;
  openFindings: number;
  /** Open findings the console lists a fix for (`status` "fixed in ..."). */
  fixable: number;
  /** `fixable / openFindings`, 0 when nothing is open. */
  fixableShare: number;
  imagesWithCritical: number;
  slaBreaches: number;
}

export interface SlaBreach {
  consoleId: string;
  imageKey: string;
  vulnerabilityId: string;
  severity: Severity;
  packageName: string;
  packageVersion: string;
  fixVersion: string | null;
  firstSeen: string;
  ageDays: number;
  slaDays: number;
  overdueDays: number;
}

export interface ReportData {
  /** What the numbers were asked with (SLA, period, as-of time). */
  params: ReportParams;
  period: { first: string; last: string };
  /** What the timelines show. */
  timeBase: 'console scan time';
  tiles: ReportTiles;
  /** Open findings at the end of each UTC day, by severity. */
  openTrend: Array<{ day: string } & SeverityCounts>;
  /** Open periods that began / ended on each UTC day (ended: fixed or image removed). */
  newResolved: Array<{ day: string; new: number; resolved: number }>;
  /** Days from opened to fixed, for fixes within the period. Null when nothing was fixed. */
  timeToFix: Array<{ severity: Severity; fixed: number; medianDays: number | null; p90Days: number | null }>;
  /** Open findings by age bucket (days since first seen, upper bound included). */
  openAge: Array<{ bucket: string } & SeverityCounts>;
  slaBreaches: { total: number; rows: SlaBreach[] };
  topVulnerabilities: Array<{
    vulnerabilityId: string;
    severity: Severity;
    images: number;
    imagesFixable: number;
  }>;
  riskiestRepositories: Array<
    { consoleId: string; registry: string; repo: string; images: number; total: number } & SeverityCounts
  >;
}

/** DuckDB settings of the report's queries: one thread and a fixed memory limit keep the peak flat. */
export interface QueryLimits {
  memoryLimit: string;
  threads: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { memoryLimit: '96MB', threads: 1 };

type Row = Record<string, unknown>;

const DUCKDB_MODULE: string = '@duckdb/node-api';

const num = (value: unknown): number => {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value !== '') return Number(value);
  throw new SyncError('report.badResult', `expected a number, got ${String(value)}`, {});
};
const numOrNull = (value: unknown): number | null =>
  value === null || value === undefined ? null : num(value);
const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));
/** DuckDB's JSON form of a TIMESTAMP (`2025-06-02 08:00:00.123`) as ISO UTC. */
const iso = (value: unknown): string => {
  const raw = text(value);
  const time = Date.parse(raw.includes('T') ? raw : `${raw.replace(' ', 'T')}Z`);
  if (Number.isNaN(time)) throw new SyncError('report.badResult', `expected a time, got ${raw}`, {});
  return new Date(time).toISOString();
};
const severityCounts = (row: Row): SeverityCounts => ({
  critical: num(row.critical),
  high: num(row.high),
  medium: num(row.medium),
  low: num(row.low),
});

/** Rows of `[key, severity, n]` pivoted to one object per key, in first-seen order. */
function pivot<K extends string>(
  rows: Row[],
  key: K,
  value: string,
): Array<Record<K, string> & SeverityCounts> {
  const out = new Map<string, Record<K, string> & SeverityCounts>();
  for (const row of rows) {
    const k = text(row[key]);
    let entry = out.get(k);
    if (!entry) {
      entry = { [key]: k, critical: 0, high: 0, medium: 0, low: 0 } as Record<K, string> & SeverityCounts;
      out.set(k, entry);
    }
    entry[text(row.severity) as Severity] = num(row[value]);
  }
  return [...out.values()];
}

/** Files of the export in `dir`: Parquet when present, else NDJSON. */
async function tableSources(dir: string): Promise<Array<{ name: string; sql: string }>> {
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );
  const sources: Array<{ name: string; sql: string }> = [];
  for (const table of EXPORT_TABLES) {
    const parquet = join(dir, `${table.name}.parquet`);
    const ndjson = join(dir, `${table.name}.ndjson`);
    const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
    if (await exists(parquet)) {
      sources.push({ name: table.name, sql: `SELECT * FROM read_parquet(${quote(parquet)})` });
    } else if (await exists(ndjson)) {
      const columns = table.columns.map((c) => `${quote(c.name)}: ${quote(DUCKDB_TYPES[c.type])}`).join(', ');
      sources.push({
        name: table.name,
        sql: `SELECT * FROM read_json(${quote(ndjson)}, format = 'newline_delimited', columns = {${columns}})`,
      });
    } else {
      throw new SyncError(
        'report.missingTable',
        `no ${table.name}.parquet or ${table.name}.ndjson in ${dir} (write them with \`export\`)`,
        { dir, table: table.name },
      );
    }
  }
  return sources;
}

async function rows(connection: DuckDBConnection, sql: string, name: QueryName): Promise<Row[]> {
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Row[];
  } catch (error) {
    throw new SyncError('report.queryFailed', `report query ${name} failed`, { query: name }, error);
  }
}

function toTiles(row: Row): ReportTiles {
  const openFindings = num(row.open_findings);
  const fixable = num(row.fixable);
  return {
    images: num(row.images),
    staleImages: num(row.stale_images),
    openFindings,
    ...severityCounts(row),
    fixable,
    fixableShare: openFindings === 0 ? 0 : fixable / openFindings,
    imagesWithCritical: num(row.images_with_critical),
    slaBreaches: num(row.sla_breaches),
  };
}

function toBreach(row: Row): SlaBreach {
  return {
    consoleId: text(row.console_id),
    imageKey: text(row.image_key),
    vulnerabilityId: text(row.vulnerability_id),
    severity: text(row.severity) as Severity,
    packageName: text(row.package_name),
    packageVersion: text(row.package_version),
    fixVersion: row.fix_version === null || row.fix_version === undefined ? null : text(row.fix_version),
    firstSeen: iso(row.first_seen),
    ageDays: num(row.age_days),
    slaDays: num(row.sla_days),
    overdueDays: num(row.overdue_days),
  };
}

/** Shapes the raw rows of every query into {@link ReportData} (pure). */
export function toReportData(params: ReportParams, raw: Record<QueryName, Row[]>): ReportData {
  const tiles = raw.tiles[0];
  if (!tiles) throw new SyncError('report.badResult', 'the tiles query returned no row', {});
  return {
    params,
    period: reportPeriod(params),
    timeBase: 'console scan time',
    tiles: toTiles(tiles),
    openTrend: pivot(raw.openTrend, 'day', 'open'),
    newResolved: raw.newResolved.map((row) => ({
      day: text(row.day),
      new: num(row.new),
      resolved: num(row.resolved),
    })),
    timeToFix: raw.timeToFix.map((row) => ({
      severity: text(row.severity) as Severity,
      fixed: num(row.fixed),
      medianDays: numOrNull(row.median_days),
      p90Days: numOrNull(row.p90_days),
    })),
    openAge: pivot(raw.openAge, 'bucket', 'findings'),
    slaBreaches: {
      total: raw.slaBreaches[0] ? num(raw.slaBreaches[0].total) : 0,
      rows: raw.slaBreaches.map(toBreach),
    },
    topVulnerabilities: raw.topVulnerabilities.map((row) => ({
      vulnerabilityId: text(row.vulnerability_id),
      severity: text(row.severity) as Severity,
      images: num(row.images),
      imagesFixable: num(row.images_fixable),
    })),
    riskiestRepositories: raw.riskiestRepositories.map((row) => ({
      consoleId: text(row.console_id),
      registry: text(row.registry),
      repo: text(row.repo),
      images: num(row.images),
      ...severityCounts(row),
      total: num(row.total),
    })),
  };
}

/**
 * Runs every report query over the export in `dir` (files `images`, `findings`, `scans`, `changes`,
 * `.parquet` or `.ndjson`) and returns the numbers.
 *
 * @example
 * const data = await queryReportData('export-out', { asOf: new Date().toISOString(), days: 90, sla: DEFAULT_SLA, staleDays: 30, top: 10, breachRows: 200 });
 * data.tiles.critical; // open critical findings
 */
export async function queryReportData(
  dir: string,
  params: ReportParams,
  limits: QueryLimits = DEFAULT_QUERY_LIMITS,
): Promise<ReportData> {
  const queries = reportQueries(DUCKDB, params);
  const sources = await tableSources(dir);
  // Loaded on first use, by a specifier bundlers cannot follow: DuckDB ships a native binary per
  // platform, so no bundle may inline it (as the Parquet export loads it).
  const { DuckDBInstance } = (await import(DUCKDB_MODULE)) as typeof import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: limits.memoryLimit,
    threads: String(limits.threads),
    preserve_insertion_order: 'false',
  });
  const connection = await instance.connect();
  try {
    // UTC wall time everywhere: CAST(timestamp AS DATE) must be the UTC day whatever the machine's zone.
    await connection.run(`SET TimeZone = 'UTC'`);
    for (const source of sources) await connection.run(`CREATE VIEW ${source.name} AS ${source.sql}`);
    const raw = {} as Record<QueryName, Row[]>;
    for (const name of Object.keys(queries) as QueryName[])
      raw[name] = await rows(connection, queries[name], name);
    return toReportData(params, raw);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
