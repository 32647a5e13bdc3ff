/**
 * The flat analytics schema: THE one list of columns. The NDJSON, CSV and Parquet writers, the
 * DynamoDB export reader, the Athena views of the AWS path and the tests all read it; the hand-written
 * `docs/analytics.md` is checked against it by a test.
 *
 * Four tables, one file each:
 * - `images`: the current state of every image (removed ones included, flagged).
 * - `findings`: one row per finding of an image, open or resolved, with its lifecycle.
 * - `scans`: the scan history, one row per content change of an image.
 * - `changes`: the change feed, one row per finding that appeared or was resolved.
 *
 * Times are UTC. In NDJSON and CSV they are ISO-8601 strings (`2024-05-01T12:00:00.000Z`); in Parquet
 * they are `TIMESTAMP` (microseconds, no time zone, UTC by convention, as Athena's `timestamp`).
 */
import { SyncError } from '../common/errors.js';

/** Logical column types, each with one physical type per engine (see {@link DUCKDB_TYPES}). */
export type ColumnType = 'varchar' | 'integer' | 'bigint' | 'double' | 'boolean' | 'timestamp';

export interface ColumnDefinition {
  /** snake_case, so SQL needs no quoting on DuckDB, Athena or Spark. */
  name: string;
  type: ColumnType;
  /** False only for key columns and columns every item carries. */
  nullable: boolean;
  /** One sentence: what the value means, in the user's words. */
  description: string;
}

export type ExportTableName = 'images' | 'findings' | 'scans' | 'changes';

export interface ExportTableDefinition {
  name: ExportTableName;
  description: string;
  /** The columns that identify a row (unique within one export). */
  key: readonly string[];
  columns: readonly ColumnDefinition[];
}

/** A value of one cell: ISO strings for timestamps, numbers for integer/bigint/double. */
export type CellValue = string | number | boolean | null;

/** One row: every column of its table present (null when unknown). */
export type ExportRow = Record<string, CellValue>;

/** DuckDB (and Parquet, through DuckDB) type of each logical type. */
export const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
  varchar: 'VARCHAR',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

/** Athena (Trino) SQL type of each logical type, as the views cast to. */
export const ATHENA_TYPES: Readonly<Record<ColumnType, string>> = {
  varchar: 'varchar',
  integer: 'integer',
  bigint: 'bigint',
  double: 'double',
  boolean: 'boolean',
  timestamp: 'timestamp(3)',
};

/** Glue / Hive type of each logical type (the view's column list in the Data Catalog). */
export const GLUE_TYPES: Readonly<Record<ColumnType, string>> = {
  varchar: 'string',
  integer: 'int',
  bigint: 'bigint',
  double: 'double',
  boolean: 'boolean',
  timestamp: 'timestamp',
};

const col = (name: string, type: ColumnType, nullable: boolean, description: string): ColumnDefinition => ({
  name,
  type,
  nullable,
  description,
});

/** The image identity columns every table starts with. */
const IDENTITY: readonly ColumnDefinition[] = [
  col('console_id', 'varchar', false, 'Console the image belongs to (`PRISMA_CONSOLE_ID`).'),
  col('registry', 'varchar', false, 'Registry host; empty for Docker Hub / local images.'),
  col('repo', 'varchar', false, 'Repository, e.g. `library/alpine`.'),
  col('tag', 'varchar', false, 'Tag, e.g. `3.19`.'),
  col('image_key', 'varchar', false, '`registry/repo:tag`, handy for display and joins within one console.'),
];

const severityCounts = (prefix: string, what: string): ColumnDefinition[] =>
  (['critical', 'high', 'medium', 'low', 'total'] as const).map((severity) =>
    col(
      `${prefix}_${severity}`,
      'integer',
      false,
      severity === 'total' ? `All ${what} of the scan.` : `${what} of severity ${severity}.`,
    ),
  );

export const IMAGES_TABLE: ExportTableDefinition = {
  name: 'images',
  description: 'Current state of every image the sync has seen, one row per image (removed images included).',
  key: ['console_id', 'registry', 'repo', 'tag'],
  columns: [
    ...IDENTITY,
    col('report_id', 'varchar', true, "The report's `_id`: a sha256, or an image name on older consoles."),
    col('digest', 'varchar', true, 'Image digest of the latest scan.'),
    col('image_id', 'varchar', true, 'Image id of the latest scan.'),
    col('scan_time', 'timestamp', true, 'When the console last scanned the image.'),
    col(
      'last_scanned_at',
      'timestamp',
      true,
      'Time of the latest scan the sync stored (`scan_time`, or the sync time without one).',
    ),
    col('first_seen_at', 'timestamp', true, 'Scan time of the first report the sync stored for the image.'),
    col(
      'updated_at',
      'timestamp',
      true,
      'When the sync last wrote the image (new content, a rescan, or its removal).',
    ),
    col('removed', 'boolean', false, 'True when a complete sync no longer found the image on the console.'),
    col('removed_at', 'timestamp', true, 'When the image was marked removed.'),
    col('os_distro', 'varchar', true, 'Operating system distribution, e.g. `debian`.'),
    col('os_distro_version', 'varchar', true, 'Distribution version, e.g. `12`.'),
    col('scan_version', 'varchar', true, 'Version of the scanner that produced the report.'),
    ...severityCounts('vulnerabilities', 'Vulnerabilities'),
    ...severityCounts('compliance', 'Compliance issues'),
    col('package_count', 'integer', true, 'Installed packages the report lists.'),
    col(
      'finding_count',
      'integer',
      true,
      'Vulnerability findings the report lists (rows in `findings` that are open).',
    ),
    col(
      'risk_factor_count',
      'integer',
      true,
      'Distinct risk factors across the findings, when the report has them.',
    ),
    col(
      'content_hash',
      'varchar',
      true,
      'Hash of the meaningful report content; equal hashes mean nothing changed.',
    ),
  ],
};

export const FINDINGS_TABLE: ExportTableDefinition = {
  name: 'findings',
  description:
    'One row per vulnerability finding of an image (vulnerability id + package + version), open or resolved.',
  key: ['console_id', 'registry', 'repo', 'tag', 'finding_key'],
  columns: [
    ...IDENTITY,
    col('finding_key', 'varchar', false, 'Stable key of the finding within the image: `id|package|version`.'),
    col('vulnerability_id', 'varchar', false, 'CVE id, or the vendor id when the report has no CVE.'),
    col('severity', 'varchar', false, 'Normalized severity: `critical`, `high`, `medium` or `low`.'),
    col('vendor_severity', 'varchar', true, "The console's own severity word, e.g. `important`."),
    col('cvss', 'double', true, 'CVSS score.'),
    col('package_name', 'varchar', false, 'Affected package.'),
    col('package_version', 'varchar', false, 'Installed version of the affected package.'),
    col('package_type', 'varchar', true, 'Package type, e.g. `os`, `nodejs`, `python`.'),
    col(
      'status',
      'varchar',
      true,
      "The console's status text, e.g. `fixed in 1.8.3-1`, `open`, `will not fix`.",
    ),
    col('fix_date', 'timestamp', true, 'When a fix was published upstream (null when none is known).'),
    col('published', 'timestamp', true, 'When the vulnerability was published.'),
    col('title', 'varchar', true, 'Short title, when the report has one.'),
    col('link', 'varchar', true, 'Advisory link.'),
    col('vector', 'varchar', true, 'CVSS vector.'),
    col(
      'risk_factors',
      'varchar',
      true,
      'Risk factors as a JSON array of strings, e.g. `["Has fix","Remote execution"]`.',
    ),
    col('description', 'varchar', true, 'Description, at most 8,192 characters.'),
    col('is_open', 'boolean', false, 'True while the latest scan of the image still lists the finding.'),
    col(
      'first_seen',
      'timestamp',
      false,
      'Scan time of the first report listing the finding (again, after it came back).',
    ),
    col(
      'last_seen',
      'timestamp',
      true,
      "Open: the image's `last_scanned_at` (its latest scan still lists it); resolved: `resolved_at`.",
    ),
    col(
      'resolved_at',
      'timestamp',
      true,
      'Scan time of the first report without the finding, or the removal time (null while open).',
    ),
    col('resolved_reason', 'varchar', true, '`goneFromReport` (fixed or package removed) or `imageRemoved`.'),
    col(
      'occurrences',
      'integer',
      true,
      'How many times the finding has been opened (above 1 when it came back).',
    ),
    col(
      'updated_at',
      'timestamp',
      true,
      'When the sync last wrote the finding (appeared, changed or resolved).',
    ),
  ],
};

export const SCANS_TABLE: ExportTableDefinition = {
  name: 'scans',
  description: "The scan history: one row per content change of an image, in the sync's observation order.",
  key: ['console_id', 'registry', 'repo', 'tag', 'observed_at', 'content_hash'],
  columns: [
    ...IDENTITY,
    col(
      'observed_at',
      'timestamp',
      false,
      "The scan's time (`scan_time`, or `seen_at` without one): the history's order.",
    ),
    col('scan_time', 'timestamp', true, 'When the console scanned the image.'),
    col('seen_at', 'timestamp', true, "When the sync recorded this version (the sync run's page time)."),
    col('digest', 'varchar', true, 'Image digest at that scan.'),
    col('image_id', 'varchar', true, 'Image id at that scan.'),
    col('content_hash', 'varchar', false, 'Hash of the meaningful report content.'),
    ...severityCounts('vulnerabilities', 'Vulnerabilities'),
    ...severityCounts('compliance', 'Compliance issues'),
    col('package_count', 'integer', true, 'Installed packages the report lists.'),
    col('finding_count', 'integer', true, 'Vulnerability findings the report lists.'),
    col('run_id', 'varchar', true, 'The sync run that recorded it.'),
  ],
};

export const CHANGES_TABLE: ExportTableDefinition = {
  name: 'changes',
  description: 'The change feed: one row per finding that appeared on or was resolved from an image.',
  key: ['console_id', 'at', 'image_key', 'finding_key', 'change'],
  columns: [
    col('console_id', 'varchar', false, 'Console the image belongs to.'),
    col('change', 'varchar', false, '`new` (the finding appeared) or `resolved` (it disappeared).'),
    col('at', 'timestamp', false, 'When the sync detected the change.'),
    ...IDENTITY.slice(1),
    col('finding_key', 'varchar', false, 'Stable key of the finding within the image (joins `findings`).'),
    col('vulnerability_id', 'varchar', false, 'CVE id, or the vendor id when the report has no CVE.'),
    col('package_name', 'varchar', true, 'Affected package.'),
    col('package_version', 'varchar', true, 'Installed version of the affected package.'),
    col('severity', 'varchar', true, 'Normalized severity.'),
    col(
      'reason',
      'varchar',
      true,
      'Why a finding was resolved, when not simply gone from the report (`imageRemoved`).',
    ),
    col('run_id', 'varchar', true, 'The sync run that detected it.'),
  ],
};

/**
 * The four tables in export order.
 *
 * @example
 * for (const table of EXPORT_TABLES) console.log(table.name, table.columns.map((c) => c.name).join(','));
 */
export const EXPORT_TABLES: readonly ExportTableDefinition[] = [
  IMAGES_TABLE,
  FINDINGS_TABLE,
  SCANS_TABLE,
  CHANGES_TABLE,
];

/** The definition of one table by name. */
export function exportTable(name: ExportTableName): ExportTableDefinition {
  const table = EXPORT_TABLES.find((candidate) => candidate.name === name);
  if (!table) throw new SyncError('export.unknownTable', `no export table named ${name}`, { name });
  return table;
}
