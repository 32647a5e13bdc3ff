/**
 * The Athena side of the export (pure): Glue column types for DynamoDB's export files, and the four
 * views `images`, `findings`, `scans`, `changes` with exactly the columns and types of the local
 * export (`../schema.ts`), so the documented SQL runs on both.
 *
 * Export files are DynamoDB JSON, one item per line: `{"Item":{"pk":{"S":"…"},"cvss":{"N":"7.5"}}}`
 * in a full export, `{"Metadata":{"WriteTimestampMicros":{"N":"…"}},"Keys":{…},"NewImage":{…}}` in an
 * incremental one (no `NewImage`: the item was deleted). The OpenX JSON SerDe lower-cases keys, so
 * `scanTime` is `item.scantime.s`. `current_items` keeps, per key, the newest version (an increment
 * beats the snapshot; the newest increment wins) and drops deleted items.
 */
import { SyncError } from '../../common/errors.js';
import type { ChangeEntry, ChangeItem, FindingItem, HistoryItem, ImageItem } from '../../store/items.js';
import {
  ATHENA_TYPES,
  CHANGES_TABLE,
  type ColumnDefinition,
  type ExportTableDefinition,
  type ExportTableName,
  FINDINGS_TABLE,
  GLUE_TYPES,
  IMAGES_TABLE,
  SCANS_TABLE,
} from '../schema.js';

/** Glue names of the raw export tables and the internal view. */
export const RAW_TABLES = {
  full: 'ddb_images_full',
  incremental: 'ddb_images_incremental',
  currentItems: 'ddb_images_current_items',
} as const;

type DynamoType = 'S' | 'N' | 'BOOL' | 'COUNTS' | 'LIST_S' | 'CHANGE_ENTRIES';

/**
 * An attribute of a stored item, by the store model's own names: a renamed or dropped attribute
 * fails the type check here instead of reading NULL in Athena.
 */
type ItemAttribute =
  | keyof ImageItem
  | keyof FindingItem
  | keyof HistoryItem
  | keyof ChangeItem
  | keyof ChangeEntry;

/** The attributes of one entry of a change item's `findings` list (`ChangeEntry`). */
const CHANGE_ENTRY_ATTRIBUTES: ReadonlyArray<keyof ChangeEntry> = [
  'findingKey',
  'id',
  'packageName',
  'packageVersion',
  'severity',
  'observedAt',
  'reason',
];

/** The item attributes the views read, with their DynamoDB type. */
const ITEM_ATTRIBUTES: Readonly<Partial<Record<ItemAttribute, DynamoType>>> = {
  pk: 'S',
  sk: 'S',
  type: 'S',
  consoleId: 'S',
  registry: 'S',
  repo: 'S',
  tag: 'S',
  imageKey: 'S',
  reportId: 'S',
  digest: 'S',
  imageId: 'S',
  scanTime: 'S',
  lastScannedAt: 'S',
  firstSeenAt: 'S',
  updatedAt: 'S',
  removed: 'BOOL',
  removedAt: 'S',
  osDistro: 'S',
  osDistroVersion: 'S',
  scanVersion: 'S',
  vulnerabilityCounts: 'COUNTS',
  complianceCounts: 'COUNTS',
  packageCount: 'N',
  findingCount: 'N',
  riskFactorCount: 'N',
  contentHash: 'S',
  findingKey: 'S',
  id: 'S',
  severity: 'S',
  vendorSeverity: 'S',
  cvss: 'N',
  packageName: 'S',
  packageVersion: 'S',
  packageType: 'S',
  status: 'S',
  fixDate: 'S',
  published: 'S',
  title: 'S',
  link: 'S',
  vector: 'S',
  riskFactors: 'LIST_S',
  description: 'S',
  firstSeen: 'S',
  resolvedAt: 'S',
  resolvedReason: 'S',
  occurrences: 'N',
  observedAt: 'S',
  seenAt: 'S',
  runId: 'S',
  change: 'S',
  at: 'S',
  reason: 'S',
  findings: 'CHANGE_ENTRIES',
};

function hiveType(type: DynamoType): string {
  switch (type) {
    case 'S':
      return 'struct<s:string>';
    case 'N':
      return 'struct<n:string>';
    case 'BOOL':
      return 'struct<bool:boolean>';
    case 'LIST_S':
      return 'struct<l:array<struct<s:string>>>';
    case 'COUNTS':
      return `struct<m:struct<${['critical', 'high', 'medium', 'low', 'total'].map((s) => `${s}:struct<n:string>`).join(',')}>>`;
    case 'CHANGE_ENTRIES':
      return `struct<l:array<struct<m:struct<${CHANGE_ENTRY_ATTRIBUTES.map((a) => `${a.toLowerCase()}:struct<s:string>`).join(',')}>>>>`;
  }
}

/**
 * The Hive type of a DynamoDB JSON item holding the attributes the views read (others are ignored
 * by the SerDe). Shared by both raw tables, so `UNION ALL` lines up.
 */
export function itemHiveType(): string {
  return `struct<${Object.entries(ITEM_ATTRIBUTES)
    .map(([name, type]) => `${name.toLowerCase()}:${hiveType(type)}`)
    .join(',')}>`;
}

/** Columns of the full-export table. */
export function fullTableColumns(): Array<{ name: string; type: string }> {
  return [{ name: 'item', type: itemHiveType() }];
}

/** Columns of the incremental-export table. */
export function incrementalTableColumns(): Array<{ name: string; type: string }> {
  return [
    { name: 'metadata', type: 'struct<writetimestampmicros:struct<n:string>>' },
    { name: 'keys', type: 'struct<pk:struct<s:string>,sk:struct<s:string>>' },
    { name: 'newimage', type: itemHiveType() },
  ];
}

const attr = (
  alias: string,
  name: ItemAttribute,
  type: DynamoType = ITEM_ATTRIBUTES[name] ?? 'S',
): string => {
  const field = name.toLowerCase();
  switch (type) {
    case 'S':
      return `${alias}.${field}.s`;
    case 'N':
      return `${alias}.${field}.n`;
    case 'BOOL':
      return `${alias}.${field}.bool`;
    default:
      return `${alias}.${field}`;
  }
};

const ts = (expression: string) =>
  `CAST(from_iso8601_timestamp(${expression}) AT TIME ZONE 'UTC' AS ${ATHENA_TYPES.timestamp})`;

/** The identity columns every table starts with, over the item alias `i`. */
const IDENTITY_COLUMNS = {
  console_id: attr('i', 'consoleId'),
  registry: attr('i', 'registry'),
  repo: attr('i', 'repo'),
  tag: attr('i', 'tag'),
  image_key: `coalesce(${attr('i', 'imageKey')}, ${attr('i', 'registry')} || '/' || ${attr('i', 'repo')} || ':' || ${attr('i', 'tag')})`,
};

/** `<prefix>_critical` … `<prefix>_total` from a severity-count map attribute. */
const counts = (prefix: string, attribute: string) =>
  Object.fromEntries(
    ['critical', 'high', 'medium', 'low', 'total'].map((severity) => [
      `${prefix}_${severity}`,
      `coalesce(CAST(i.${attribute.toLowerCase()}.m.${severity}.n AS integer), 0)`,
    ]),
  );

const integer = (name: ItemAttribute) => `CAST(${attr('i', name)} AS integer)`;

/** The SQL expression of every column of every table, over the item alias `i` (image item: `img`). */
function columnExpressions(table: ExportTableName): Record<string, string> {
  switch (table) {
    case 'images':
      return imageColumns();
    case 'findings':
      return findingColumns();
    case 'scans':
      return scanColumns();
    case 'changes':
      return changeColumns();
  }
}

function imageColumns(): Record<string, string> {
  return {
    ...IDENTITY_COLUMNS,
    report_id: attr('i', 'reportId'),
    digest: attr('i', 'digest'),
    image_id: attr('i', 'imageId'),
    scan_time: ts(attr('i', 'scanTime')),
    last_scanned_at: ts(attr('i', 'lastScannedAt')),
    first_seen_at: ts(attr('i', 'firstSeenAt')),
    updated_at: ts(attr('i', 'updatedAt')),
    removed: `coalesce(${attr('i', 'removed')}, false)`,
    removed_at: ts(attr('i', 'removedAt')),
    os_distro: attr('i', 'osDistro'),
    os_distro_version: attr('i', 'osDistroVersion'),
    scan_version: attr('i', 'scanVersion'),
    ...counts('vulnerabilities', 'vulnerabilityCounts'),
    ...counts('compliance', 'complianceCounts'),
    package_count: integer('packageCount'),
    finding_count: integer('findingCount'),
    risk_factor_count: integer('riskFactorCount'),
    content_hash: attr('i', 'contentHash'),
  };
}

function findingColumns(): Record<string, string> {
  const resolved = attr('i', 'resolvedAt');
  return {
    ...IDENTITY_COLUMNS,
    finding_key: attr('i', 'findingKey'),
    vulnerability_id: attr('i', 'id'),
    severity: attr('i', 'severity'),
    vendor_severity: attr('i', 'vendorSeverity'),
    cvss: `CAST(${attr('i', 'cvss')} AS double)`,
    package_name: attr('i', 'packageName'),
    package_version: attr('i', 'packageVersion'),
    package_type: attr('i', 'packageType'),
    status: attr('i', 'status'),
    fix_date: ts(attr('i', 'fixDate')),
    published: ts(attr('i', 'published')),
    title: attr('i', 'title'),
    link: attr('i', 'link'),
    vector: attr('i', 'vector'),
    risk_factors: `CASE WHEN cardinality(i.riskfactors.l) > 0 THEN json_format(CAST(transform(i.riskfactors.l, x -> x.s) AS json)) END`,
    description: attr('i', 'description'),
    is_open: `(${resolved} IS NULL)`,
    first_seen: ts(`coalesce(${attr('i', 'firstSeen')}, ${attr('i', 'updatedAt')})`),
    last_seen: ts(`coalesce(${resolved}, ${attr('img', 'lastScannedAt')})`),
    resolved_at: ts(resolved),
    resolved_reason: `CASE WHEN ${resolved} IS NOT NULL THEN ${attr('i', 'resolvedReason')} END`,
    occurrences: integer('occurrences'),
    updated_at: ts(attr('i', 'updatedAt')),
  };
}

function scanColumns(): Record<string, string> {
  return {
    ...IDENTITY_COLUMNS,
    observed_at: ts(attr('i', 'observedAt')),
    scan_time: ts(attr('i', 'scanTime')),
    seen_at: ts(attr('i', 'seenAt')),
    digest: attr('i', 'digest'),
    image_id: attr('i', 'imageId'),
    content_hash: attr('i', 'contentHash'),
    ...counts('vulnerabilities', 'vulnerabilityCounts'),
    ...counts('compliance', 'complianceCounts'),
    package_count: integer('packageCount'),
    finding_count: integer('findingCount'),
    run_id: attr('i', 'runId'),
  };
}

function changeColumns(): Record<string, string> {
  // One row per finding of a change item (`e.entry`); an item of the one-per-finding layout has
  // no list and gives one row from its own attributes.
  const entry = (name: keyof ChangeEntry & ItemAttribute) =>
    `coalesce(element_at(e.entry, '${name}'), ${attr('i', name)})`;
  return {
    console_id: IDENTITY_COLUMNS.console_id,
    change: `CASE WHEN ${attr('i', 'change')} = 'resolved' THEN 'resolved' ELSE 'new' END`,
    at: ts(attr('i', 'at')),
    registry: IDENTITY_COLUMNS.registry,
    repo: IDENTITY_COLUMNS.repo,
    tag: IDENTITY_COLUMNS.tag,
    image_key: IDENTITY_COLUMNS.image_key,
    finding_key: entry('findingKey'),
    vulnerability_id: entry('id'),
    package_name: entry('packageName'),
    package_version: entry('packageVersion'),
    severity: entry('severity'),
    reason: entry('reason'),
    run_id: attr('i', 'runId'),
  };
}

/** Every column's expression, cast to its declared type (so the view's types are exactly the schema's). */
function selectList(table: ExportTableDefinition): string {
  const expressions = columnExpressions(table.name);
  return table.columns
    .map((column: ColumnDefinition) => {
      const expression = expressions[column.name];
      if (expression === undefined) {
        throw new SyncError(
          'export.viewColumnMissing',
          `no Athena expression for ${table.name}.${column.name}`,
          {
            table: table.name,
            column: column.name,
          },
        );
      }
      return `  CAST(${expression} AS ${ATHENA_TYPES[column.type]}) AS ${column.name}`;
    })
    .join(',\n');
}

/** SQL of the internal view: the newest version of every item across the snapshot and the increments. */
export function currentItemsSql(database: string): string {
  return [
    'SELECT item FROM (',
    '  SELECT item, row_number() OVER (PARTITION BY pk, sk ORDER BY ts DESC) AS rn FROM (',
    `    SELECT item.pk.s AS pk, item.sk.s AS sk, CAST(0 AS bigint) AS ts, item FROM "${database}"."${RAW_TABLES.full}" WHERE item IS NOT NULL`,
    '    UNION ALL',
    `    SELECT keys.pk.s, keys.sk.s, CAST(metadata.writetimestampmicros.n AS bigint), newimage FROM "${database}"."${RAW_TABLES.incremental}" WHERE keys IS NOT NULL`,
    '  )',
    ') WHERE rn = 1 AND item IS NOT NULL',
  ].join('\n');
}

/**
 * A change item's `findings` as an array of maps (attribute name → text): an array of maps unnests
 * to one column on every Trino and Presto version, where an array of rows may unnest to one column
 * per field.
 */
function changeEntries(item: string): string {
  const names = CHANGE_ENTRY_ATTRIBUTES.map((name) => `'${name}'`).join(', ');
  const values = CHANGE_ENTRY_ATTRIBUTES.map((name) => `x.m.${name.toLowerCase()}.s`).join(', ');
  return `transform(${item}.findings.l, x -> MAP(ARRAY[${names}], ARRAY[${values}]))`;
}

/** SQL of one of the four views. */
export function viewSql(database: string, table: ExportTableDefinition): string {
  const items = `"${database}"."${RAW_TABLES.currentItems}"`;
  const type = { images: 'image', findings: 'finding', scans: 'history', changes: 'change' }[table.name];
  // Findings and history of an image whose item was never committed are left out, as the local export does.
  const from =
    table.name === 'findings' || table.name === 'scans'
      ? `FROM (SELECT item AS i FROM ${items} WHERE item.type.s = '${type}') AS f\nJOIN (SELECT item AS img FROM ${items} WHERE item.type.s = 'image') AS m ON m.img.pk.s = f.i.pk.s`
      : table.name === 'changes'
        ? `FROM (SELECT item AS i FROM ${items} WHERE item.type.s = '${type}') AS f\nLEFT JOIN UNNEST(${changeEntries('f.i')}) AS e(entry) ON true`
        : `FROM (SELECT item AS i FROM ${items} WHERE item.type.s = '${type}') AS f`;
  return `SELECT\n${selectList(table)}\n${from}`;
}

export interface GlueViewDefinition {
  name: string;
  sql: string;
  /** Athena (Trino) types, for the Presto view header. */
  columns: Array<{ name: string; type: string }>;
  /** Glue (Hive) types, for the Data Catalog's column list. */
  glueColumns: Array<{ name: string; type: string }>;
}

/**
 * The five views (the internal `current_items` first), ready to be created as Glue tables of type
 * VIRTUAL_VIEW.
 *
 * @example
 * for (const view of glueViews('prisma_registry')) new glue.CfnTable(scope, view.name, viewTableInput(view, 'prisma_registry'));
 */
export function glueViews(database: string): GlueViewDefinition[] {
  return [
    {
      name: RAW_TABLES.currentItems,
      sql: currentItemsSql(database),
      columns: [{ name: 'item', type: prestoItemType() }],
      glueColumns: [{ name: 'item', type: itemHiveType() }],
    },
    ...[IMAGES_TABLE, FINDINGS_TABLE, SCANS_TABLE, CHANGES_TABLE].map((table) => ({
      name: table.name,
      sql: viewSql(database, table),
      columns: table.columns.map((column) => ({ name: column.name, type: ATHENA_TYPES[column.type] })),
      glueColumns: table.columns.map((column) => ({ name: column.name, type: GLUE_TYPES[column.type] })),
    })),
  ];
}

/** The item type in Trino's spelling (`row(name varchar, …)`), for the internal view's header. */
function prestoItemType(): string {
  const presto = (type: DynamoType): string => {
    switch (type) {
      case 'S':
        return 'row(s varchar)';
      case 'N':
        return 'row(n varchar)';
      case 'BOOL':
        return 'row(bool boolean)';
      case 'LIST_S':
        return 'row(l array(row(s varchar)))';
      case 'COUNTS':
        return `row(m row(${['critical', 'high', 'medium', 'low', 'total'].map((s) => `${s} row(n varchar)`).join(', ')}))`;
      case 'CHANGE_ENTRIES':
        return `row(l array(row(m row(${CHANGE_ENTRY_ATTRIBUTES.map((a) => `${a.toLowerCase()} row(s varchar)`).join(', ')}))))`;
    }
  };
  return `row(${Object.entries(ITEM_ATTRIBUTES)
    .map(([name, type]) => `${name.toLowerCase()} ${presto(type)}`)
    .join(', ')})`;
}

/**
 * The `ViewOriginalText` Athena expects of a view stored in the Glue Data Catalog: the Presto view
 * definition, base64-encoded JSON, in a comment.
 */
export function prestoViewText(view: GlueViewDefinition, database: string): string {
  const definition = {
    originalSql: view.sql,
    catalog: 'awsdatacatalog',
    schema: database,
    columns: view.columns,
  };
  return `/* Presto View: ${Buffer.from(JSON.stringify(definition), 'utf8').toString('base64')} */`;
}
