/**
 * The report's SQL: THE one set of queries behind every number of the posture report, over the four
 * export tables (`images`, `findings`, `scans`, `changes`, docs/analytics.md). The report runs them on
 * DuckDB over the Parquet files of an export; docs/analytics.md shows the same queries for Athena,
 * generated from this module with the {@link ATHENA} dialect (a test checks the page holds them).
 *
 * Parameters are numbers and one timestamp, validated and inlined as literals: no text from the user or
 * from the data is ever pasted into a query.
 *
 * Time base. Every timeline uses console scan times: a finding opens at the scan time of the first
 * report listing it and closes at the scan time of the first report without it. The change feed's
 * `at` is when a sync noticed a change, so each change takes the scan time of the scan its run
 * recorded for that image (`scans.observed_at`, joined on image and `run_id`); a resolution by image
 * removal has no scan, and keeps the removal time. Days are UTC days.
 */
import { SyncError } from '../common/errors.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Days a finding of each severity may stay open (the SLA). */
export type SlaDays = Readonly<Record<Severity, number>>;

export const DEFAULT_SLA: SlaDays = { critical: 15, high: 30, medium: 90, low: 180 };

/** What the queries are asked. */
export interface ReportParams {
  /** The report's "now" (ISO time): ages, SLA and staleness are measured to it; the last day is its UTC day. */
  asOf: string;
  /** Days of the trend, ending with `asOf`'s UTC day. */
  days: number;
  sla: SlaDays;
  /** An image whose last scan is older than this many days is stale. */
  staleDays: number;
  /** Rows of the top vulnerabilities and riskiest repositories. */
  top: number;
  /** At most this many SLA breaches listed (the total is always counted). */
  breachRows: number;
}

/** The few functions DuckDB and Athena (Trino) spell differently. */
export interface SqlDialect {
  name: 'duckdb' | 'athena';
  /** A FROM item with one DATE column `day` per UTC day from `first` to `last` (`YYYY-MM-DD`). */
  daySeries(first: string, last: string): string;
  /** The p-th percentile of `expr` (0 < p < 1). */
  percentile(expr: string, p: number): string;
}

export const DUCKDB: SqlDialect = {
  name: 'duckdb',
  daySeries: (first, last) =>
    `(SELECT CAST(t.day AS DATE) AS day FROM UNNEST(generate_series(TIMESTAMP '${first} 00:00:00', TIMESTAMP '${last} 00:00:00', INTERVAL '1' DAY)) AS t(day))`,
  // Linear interpolation between the two nearest ranks, as numpy's default and Excel's PERCENTILE.INC.
  percentile: (expr, p) => `quantile_cont(${expr}, ${p})`,
};

export const ATHENA: SqlDialect = {
  name: 'athena',
  daySeries: (first, last) =>
    `(SELECT t.day FROM UNNEST(sequence(DATE '${first}', DATE '${last}', INTERVAL '1' DAY)) AS t(day))`,
  // Athena has no exact percentile: approx_percentile is within about 1% of the rank.
  percentile: (expr, p) => `approx_percentile(${expr}, ${p})`,
};

/** The report's queries by name, in the order the report shows them. */
export type QueryName =
  | 'tiles'
  | 'openTrend'
  | 'newResolved'
  | 'timeToFix'
  | 'openAge'
  | 'slaBreaches'
  | 'topVulnerabilities'
  | 'riskiestRepositories';

const DAY_MS = 86_400_000;

function checkParams(params: ReportParams): void {
  const bad = (what: string) => {
    throw new SyncError('config.invalid', `report: ${what}`, { what });
  };
  if (Number.isNaN(Date.parse(params.asOf))) bad(`not an ISO time: ${params.asOf}`);
  if (!Number.isInteger(params.days) || params.days < 1 || params.days > 3660)
    bad(`days: expected a whole number from 1 to 3660, got ${params.days}`);
  for (const severity of SEVERITIES) {
    const limit = params.sla[severity];
    if (!Number.isInteger(limit) || limit < 0 || limit > 36_600)
      bad(`sla.${severity}: expected whole days from 0 to 36600, got ${limit}`);
  }
  if (!Number.isInteger(params.staleDays) || params.staleDays < 1 || params.staleDays > 36_600)
    bad(`staleDays: expected a whole number from 1 to 36600, got ${params.staleDays}`);
  for (const [name, n] of [
    ['top', params.top],
    ['breachRows', params.breachRows],
  ] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 100_000) bad(`${name}: expected a whole number, got ${n}`);
  }
}

/** `TIMESTAMP 'YYYY-MM-DD HH:mm:ss.sss'`, a literal both engines read as UTC wall time. */
const timestampLiteral = (iso: string) =>
  `TIMESTAMP '${new Date(iso).toISOString().replace('T', ' ').replace('Z', '')}'`;
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Age in days (fractional, to the millisecond) from `from` to `to`. */
const ageDays = (from: string, to: string) => `date_diff('millisecond', ${from}, ${to}) / 86400000.0`;

const SEVERITY_VALUES = `(VALUES ${SEVERITIES.map((s, i) => `('${s}', ${i + 1})`).join(', ')}) AS sv(severity, severity_rank)`;

/** Open findings of current images, with whether the console lists a fix and its version. */
const OPEN_FINDINGS = `open_findings AS (
  SELECT f.console_id, f.registry, f.repo, f.image_key, f.finding_key, f.vulnerability_id, f.severity,
         f.package_name, f.package_version, f.first_seen,
         lower(coalesce(f.status, '')) LIKE 'fixed in%' AS fixable,
         CASE WHEN lower(coalesce(f.status, '')) LIKE 'fixed in%' THEN trim(substr(f.status, 9)) END AS fix_version
  FROM findings f
  JOIN images i ON i.console_id = f.console_id AND i.registry = f.registry AND i.repo = f.repo AND i.tag = f.tag
  WHERE f.is_open AND NOT i.removed
)`;

/**
 * Every open period of every finding, from the change feed: opened at a `new` change, closed at the
 * next change of the same finding when that is a `resolved` one (a reopened finding has several).
 * `fixed` is true when it closed because a rescan no longer listed it (not by the image's removal).
 */
const INTERVALS = `scan_times AS (
  SELECT console_id, image_key, run_id, min(observed_at) AS observed_at
  FROM scans GROUP BY console_id, image_key, run_id
),
events AS (
  SELECT c.console_id, c.image_key, c.finding_key, c.change, c.severity, c.reason,
         coalesce(s.observed_at, c."at") AS t
  FROM changes c
  LEFT JOIN scan_times s
    ON c.reason IS NULL AND s.console_id = c.console_id AND s.image_key = c.image_key AND s.run_id = c.run_id
),
ordered AS (
  SELECT *,
         lead(change) OVER (PARTITION BY console_id, image_key, finding_key ORDER BY t, change) AS next_change,
         lead(t) OVER (PARTITION BY console_id, image_key, finding_key ORDER BY t, change) AS next_t,
         lead(reason) OVER (PARTITION BY console_id, image_key, finding_key ORDER BY t, change) AS next_reason
  FROM events
),
intervals AS (
  SELECT console_id, image_key, finding_key, severity, t AS opened_at,
         CASE WHEN next_change = 'resolved' THEN next_t END AS closed_at,
         next_change = 'resolved' AND next_reason IS NULL AS fixed
  FROM ordered
  WHERE change = 'new'
)`;

/** What every query is built from: the parameters as SQL literals and fragments. */
interface QueryContext {
  dialect: SqlDialect;
  params: ReportParams;
  /** `asOf` as a TIMESTAMP literal. */
  asOf: string;
  firstDay: string;
  lastDay: string;
  /** The period's first instant and the instant after its last day, as TIMESTAMP expressions. */
  periodStart: string;
  periodEnd: string;
  /** The SLA days of the row's `severity`. */
  slaCase: string;
  /** One `count(*) FILTER (…) AS <severity>` column per severity, joined by `,\n<indent>`. */
  severityCounts(indent: string): string;
}

function queryContext(dialect: SqlDialect, params: ReportParams): QueryContext {
  const { first: firstDay, last: lastDay } = reportPeriod(params);
  return {
    dialect,
    params,
    asOf: timestampLiteral(params.asOf),
    firstDay,
    lastDay,
    periodStart: `TIMESTAMP '${firstDay} 00:00:00'`,
    periodEnd: `(TIMESTAMP '${lastDay} 00:00:00' + INTERVAL '1' DAY)`,
    slaCase: `CASE severity ${SEVERITIES.map((s) => `WHEN '${s}' THEN ${params.sla[s]}`).join(' ')} END`,
    severityCounts: (indent) =>
      SEVERITIES.map((s) => `count(*) FILTER (WHERE severity = '${s}') AS ${s}`).join(`,\n${indent}`),
  };
}

/** Each query of the report, in the order they are listed. */
const QUERIES: Readonly<Record<QueryName, (q: QueryContext) => string>> = {
  tiles: ({ params, asOf, slaCase, severityCounts }) => `WITH ${OPEN_FINDINGS}
SELECT
  (SELECT count(*) FROM images WHERE NOT removed) AS images,
  (SELECT count(*) FROM images
    WHERE NOT removed AND (last_scanned_at IS NULL OR last_scanned_at < ${asOf} - INTERVAL '${params.staleDays}' DAY)) AS stale_images,
  count(*) AS open_findings,
  ${severityCounts('  ')},
  count(*) FILTER (WHERE fixable) AS fixable,
  count(DISTINCT CASE WHEN severity = 'critical' THEN console_id || '|' || image_key END) AS images_with_critical,
  count(*) FILTER (WHERE ${ageDays('first_seen', asOf)} > ${slaCase}) AS sla_breaches
FROM open_findings`,

  openTrend: ({ dialect, firstDay, lastDay }) => `WITH ${INTERVALS},
deltas AS (
  SELECT severity, CAST(opened_at AS DATE) AS day, 1 AS delta FROM intervals
  UNION ALL
  SELECT severity, CAST(closed_at AS DATE) AS day, -1 AS delta FROM intervals WHERE closed_at IS NOT NULL
),
per_day AS (SELECT severity, day, sum(delta) AS delta FROM deltas GROUP BY severity, day)
SELECT d.day, sv.severity, coalesce(sum(p.delta), 0) AS open
FROM ${dialect.daySeries(firstDay, lastDay)} AS d
CROSS JOIN ${SEVERITY_VALUES}
LEFT JOIN per_day p ON p.severity = sv.severity AND p.day <= d.day
GROUP BY d.day, sv.severity, sv.severity_rank
ORDER BY d.day, sv.severity_rank`,

  newResolved: ({ dialect, firstDay, lastDay }) => `WITH ${INTERVALS},
moves AS (
  SELECT CAST(opened_at AS DATE) AS day, 1 AS opened, 0 AS closed FROM intervals
  UNION ALL
  SELECT CAST(closed_at AS DATE) AS day, 0 AS opened, 1 AS closed FROM intervals WHERE closed_at IS NOT NULL
)
SELECT d.day, coalesce(sum(m.opened), 0) AS new, coalesce(sum(m.closed), 0) AS resolved
FROM ${dialect.daySeries(firstDay, lastDay)} AS d
LEFT JOIN moves m ON m.day = d.day
GROUP BY d.day
ORDER BY d.day`,

  timeToFix: ({ dialect, periodStart, periodEnd }) => `WITH ${INTERVALS},
fixes AS (
  SELECT severity, ${ageDays('opened_at', 'closed_at')} AS days
  FROM intervals
  WHERE fixed AND closed_at >= ${periodStart} AND closed_at < ${periodEnd}
)
SELECT sv.severity, count(f.days) AS fixed,
       ${dialect.percentile('f.days', 0.5)} AS median_days,
       ${dialect.percentile('f.days', 0.9)} AS p90_days
FROM ${SEVERITY_VALUES}
LEFT JOIN fixes f ON f.severity = sv.severity
GROUP BY sv.severity, sv.severity_rank
ORDER BY sv.severity_rank`,

  openAge: ({ asOf }) => `WITH ${OPEN_FINDINGS},
aged AS (SELECT severity, ${ageDays('first_seen', asOf)} AS age FROM open_findings),
buckets AS (
  SELECT * FROM (VALUES (1, '0-7 days', 0, 7), (2, '7-30 days', 7, 30), (3, '30-90 days', 30, 90),
                        (4, '90-180 days', 90, 180), (5, 'over 180 days', 180, 1000000)) AS b(bucket_rank, bucket, low, high)
)
SELECT b.bucket, sv.severity, count(a.age) AS findings
FROM buckets b
CROSS JOIN ${SEVERITY_VALUES}
LEFT JOIN aged a ON a.severity = sv.severity AND (b.low = 0 OR a.age > b.low) AND a.age <= b.high
GROUP BY b.bucket, b.bucket_rank, sv.severity, sv.severity_rank
ORDER BY b.bucket_rank, sv.severity_rank`,

  slaBreaches: ({ params, asOf, slaCase }) => `WITH ${OPEN_FINDINGS},
aged AS (SELECT *, ${ageDays('first_seen', asOf)} AS age_days, ${slaCase} AS sla_days FROM open_findings)
SELECT console_id, image_key, vulnerability_id, severity, package_name, package_version, fix_version,
       first_seen, age_days, sla_days, age_days - sla_days AS overdue_days, count(*) OVER () AS total
FROM aged
WHERE age_days > sla_days
ORDER BY first_seen, console_id, image_key, finding_key
LIMIT ${params.breachRows}`,

  topVulnerabilities: ({ params }) => `WITH ${OPEN_FINDINGS}
SELECT o.vulnerability_id,
       CASE min(sv.severity_rank) ${SEVERITIES.map((s, i) => `WHEN ${i + 1} THEN '${s}'`).join(' ')} END AS severity,
       count(DISTINCT o.console_id || '|' || o.image_key) AS images,
       count(DISTINCT CASE WHEN o.fixable THEN o.console_id || '|' || o.image_key END) AS images_fixable
FROM open_findings o
JOIN ${SEVERITY_VALUES} ON sv.severity = o.severity
GROUP BY o.vulnerability_id
ORDER BY images DESC, min(sv.severity_rank), o.vulnerability_id
LIMIT ${params.top}`,

  riskiestRepositories: ({ params, severityCounts }) => `WITH ${OPEN_FINDINGS}
SELECT console_id, registry, repo,
       count(DISTINCT image_key) AS images,
       ${severityCounts('       ')},
       count(*) AS total
FROM open_findings
GROUP BY console_id, registry, repo
ORDER BY critical DESC, high DESC, medium DESC, low DESC, console_id, registry, repo
LIMIT ${params.top}`,
};

/**
 * The report's queries for one dialect and set of parameters.
 *
 * @example
 * const sql = reportQueries(DUCKDB, { asOf: '2025-06-02T08:00:00Z', days: 90, sla: DEFAULT_SLA, staleDays: 30, top: 10, breachRows: 200 });
 * await connection.runAndReadAll(sql.tiles);
 */
export function reportQueries(dialect: SqlDialect, params: ReportParams): Record<QueryName, string> {
  checkParams(params);
  const context = queryContext(dialect, params);
  const queries = {} as Record<QueryName, string>;
  for (const [name, query] of Object.entries(QUERIES) as Array<[QueryName, (q: QueryContext) => string]>) {
    queries[name] = query(context);
  }
  return queries;
}

/** The first and last day of the trend (UTC, `YYYY-MM-DD`). */
export function reportPeriod(params: Pick<ReportParams, 'asOf' | 'days'>): { first: string; last: string } {
  const last = dateOf(Date.parse(params.asOf));
  return { first: dateOf(Date.parse(`${last}T00:00:00Z`) - (params.days - 1) * DAY_MS), last };
}
