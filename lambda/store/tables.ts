/**
 * The tables of the store: THE single definition both `tables create` ({@link createTables}) and the
 * CDK stack build from, so the two never drift apart.
 *
 * Three tables, every key prefixed with the console id so several consoles share one set:
 *
 * - `images` (stream NEW_AND_OLD_IMAGES, read by analytics): per image partition
 *   `I#<console>#<registry>#<repo>#<tag>` holding the image item (`IMAGE`), its finding items
 *   (`F#<findingKey>`, open and resolved) and its scan history (`H#<time>#<contentHash>`); plus the
 *   change feed in partitions `CHG#<console>#<yyyy-mm>#<shard>` sorted by detection time.
 * - `raw-reports` (no stream: binary chunks would only flood consumers): the gzip-compressed raw
 *   report per image and content hash, split into chunks below 350 KB.
 * - `runs` (TTL `ttl`): per console partition `C#<console>` with lease, checkpoint and run records;
 *   seen-key pages per run (`C#<console>#RUN#<runId>`, expiring after 30 days); the console registry.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  ResourceInUseException,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { type Backoff, backoffDelay } from '../common/backoff.js';
import { SyncError } from '../common/errors.js';
import { type IndexDefinition, physicalTableName, type TableDefinition } from './table-definition.js';

/** Logical table names (physical: `${prefix}-${name}`). */
export const TABLE_NAMES = {
  images: 'images',
  rawReports: 'raw-reports',
  runs: 'runs',
} as const;

/** Index names, as the queries use them. */
export const INDEX_NAMES = {
  /** Sparse: only image items not removed carry `curPk`/`curSk`. pk = console, sk = registry#repo#tag. */
  currentImages: 'current-images',
  /** Sparse like `current-images`, for "images of a repo" across registries. pk = console#repo. */
  currentImagesByRepo: 'current-images-by-repo',
  /** Sparse: only OPEN finding items carry `vulnPk`/`vulnSk`. pk = console#vulnerabilityId. */
  openFindingsByVulnerability: 'open-findings-by-vulnerability',
  /** Run records of a console by start time (recent first with ScanIndexForward=false). */
  runsByStart: 'runs-by-start',
} as const;

/** Attributes the image-listing indexes project: what `query images` and the sweep need. */
const IMAGE_SUMMARY_ATTRIBUTES = [
  'consoleId',
  'registry',
  'repo',
  'tag',
  'imageKey',
  'digest',
  'imageId',
  'scanTime',
  'lastScannedAt',
  'vulnerabilityCounts',
];

const S = (name: string) => ({ name, type: 'S' as const });

/**
 * Every table of the store.
 *
 * @example
 * import { TABLE_DEFINITIONS } from '../lambda/store/tables.js';
 * for (const def of TABLE_DEFINITIONS) new dynamodb.TableV2(stack, def.name, toTableProps(def));
 */
export const TABLE_DEFINITIONS: readonly TableDefinition[] = [
  {
    name: TABLE_NAMES.images,
    partitionKey: S('pk'),
    sortKey: S('sk'),
    globalSecondaryIndexes: [
      {
        indexName: INDEX_NAMES.currentImages,
        partitionKey: S('curPk'),
        sortKey: S('curSk'),
        projection: { include: IMAGE_SUMMARY_ATTRIBUTES },
      },
      {
        indexName: INDEX_NAMES.currentImagesByRepo,
        partitionKey: S('repoPk'),
        sortKey: S('repoSk'),
        projection: { include: IMAGE_SUMMARY_ATTRIBUTES },
      },
      {
        indexName: INDEX_NAMES.openFindingsByVulnerability,
        partitionKey: S('vulnPk'),
        sortKey: S('vulnSk'),
        projection: {
          include: [
            'consoleId',
            'registry',
            'repo',
            'tag',
            'imageKey',
            'id',
            'packageName',
            'packageVersion',
            'severity',
            'vendorSeverity',
            'cvss',
            'firstSeen',
          ],
        },
      },
    ],
    stream: 'NEW_AND_OLD_IMAGES',
  },
  {
    name: TABLE_NAMES.rawReports,
    partitionKey: S('pk'),
    sortKey: S('sk'),
    globalSecondaryIndexes: [],
  },
  {
    name: TABLE_NAMES.runs,
    partitionKey: S('pk'),
    sortKey: S('sk'),
    globalSecondaryIndexes: [
      {
        indexName: INDEX_NAMES.runsByStart,
        partitionKey: S('runsPk'),
        sortKey: S('runsSk'),
        projection: 'ALL',
      },
    ],
    timeToLiveAttribute: 'ttl',
  },
];

/** The definition of one logical table (throws for an unknown name: a programming error). */
export function tableDefinition(name: string): TableDefinition {
  const found = TABLE_DEFINITIONS.find((def) => def.name === name);
  if (!found) throw new SyncError('store.unknownTable', `no table definition named ${name}`, { name });
  return found;
}

/** The physical names of the store's tables for a prefix. */
export interface TableNames {
  images: string;
  rawReports: string;
  runs: string;
}

/** Physical table names for a prefix (`SYNC_TABLE_PREFIX`). */
export function tableNames(prefix: string): TableNames {
  return {
    images: physicalTableName(prefix, { name: TABLE_NAMES.images }),
    rawReports: physicalTableName(prefix, { name: TABLE_NAMES.rawReports }),
    runs: physicalTableName(prefix, { name: TABLE_NAMES.runs }),
  };
}

function keySchema(partitionKey: { name: string }, sortKey?: { name: string }): KeySchemaElement[] {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
}

function projection(index: IndexDefinition) {
  if (index.projection === 'ALL' || index.projection === 'KEYS_ONLY') {
    return { ProjectionType: index.projection };
  }
  return { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: index.projection.include };
}

/**
 * The CreateTable request for a definition (pure: on-demand billing, stream as defined unless
 * `streams: false`).
 *
 * @example
 * const input = toCreateTableInput('prisma-registry', TABLE_DEFINITIONS[0]!);
 */
export function toCreateTableInput(
  prefix: string,
  def: TableDefinition,
  options: { streams?: boolean } = {},
): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const define = (key: { name: string; type: 'S' | 'N' | 'B' } | undefined) => {
    if (key) attributes.set(key.name, { AttributeName: key.name, AttributeType: key.type });
  };
  define(def.partitionKey);
  define(def.sortKey);
  for (const index of def.globalSecondaryIndexes) {
    define(index.partitionKey);
    define(index.sortKey);
  }
  return {
    TableName: physicalTableName(prefix, def),
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()],
    KeySchema: keySchema(def.partitionKey, def.sortKey),
    ...(def.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: projection(index),
          })),
        }
      : {}),
    ...(def.stream && options.streams !== false
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: def.stream } }
      : {}),
  };
}

/** Differences between an existing table and its definition (empty when it matches). */
export function tableMismatches(def: TableDefinition, table: TableDescription): string[] {
  const problems: string[] = [];
  const want = keySchema(def.partitionKey, def.sortKey);
  const have = table.KeySchema ?? [];
  if (
    JSON.stringify(want) !==
    JSON.stringify(have.map((k) => ({ AttributeName: k.AttributeName, KeyType: k.KeyType })))
  ) {
    problems.push(`key schema is ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`);
  }
  const indexes = new Set((table.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of def.globalSecondaryIndexes) {
    if (!indexes.has(index.indexName)) problems.push(`index ${index.indexName} is missing`);
  }
  return problems;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** DescribeTable polls: the first within 200 ms, later ones up to 5 s apart (lambda/common/backoff.ts). */
const POLL: Backoff = { baseMs: 200, maxMs: 5_000 };

async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  timeoutMs: number,
  random: () => number = Math.random,
): Promise<TableDescription> {
  const deadline = Date.now() + timeoutMs;
  for (let poll = 1; ; poll += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === 'ACTIVE',
    );
    if (Table && Table.TableStatus === 'ACTIVE' && indexesActive) return Table;
    if (Date.now() > deadline) {
      throw new SyncError(
        'store.tableNotActive',
        `table ${tableName} did not become ACTIVE within ${timeoutMs} ms`,
        {
          tableName,
          status: Table?.TableStatus,
        },
      );
    }
    await sleep(backoffDelay(poll, POLL, random));
  }
}

async function enableTimeToLive(client: DynamoDBClient, tableName: string, attribute: string): Promise<void> {
  const current = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = current.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: attribute },
    }),
  );
}

/**
 * Creates every table of {@link TABLE_DEFINITIONS} that does not exist yet, waits until each is ACTIVE
 * and enables TTL where defined. Idempotent: existing tables are checked against their definition
 * (a key schema or index mismatch is a `store.tableMismatch` error) and left alone.
 *
 * `streams: false` leaves the stream off, for DynamoDB Local with no stream consumer (the demo, the
 * tests): its emulated stream keeps every record and makes each later write slower (bench/results.md
 * "Figures behind code comments").
 *
 * @example
 * const { created, existing } = await createTables(new DynamoDBClient({}), 'prisma-registry');
 */
export async function createTables(
  client: DynamoDBClient,
  prefix: string,
  options: { timeoutMs?: number; streams?: boolean } = {},
): Promise<{ created: string[]; existing: string[] }> {
  const created: string[] = [];
  const existing: string[] = [];
  const timeoutMs = options.timeoutMs ?? 300_000;
  await Promise.all(
    TABLE_DEFINITIONS.map(async (def) => {
      const tableName = physicalTableName(prefix, def);
      let isNew = false;
      try {
        await client.send(new DescribeTableCommand({ TableName: tableName }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) {
          throw new SyncError(
            'store.describeFailed',
            `could not describe table ${tableName}`,
            { tableName },
            error,
          );
        }
        try {
          await client.send(
            new CreateTableCommand(toCreateTableInput(prefix, def, { streams: options.streams })),
          );
          isNew = true;
        } catch (createError) {
          // Another process created it between our describe and create: that is fine.
          if (!(createError instanceof ResourceInUseException)) {
            throw new SyncError(
              'store.createFailed',
              `could not create table ${tableName}`,
              { tableName },
              createError,
            );
          }
        }
      }
      const table = await waitUntilActive(client, tableName, timeoutMs);
      const problems = tableMismatches(def, table);
      if (problems.length > 0) {
        throw new SyncError(
          'store.tableMismatch',
          `table ${tableName} exists but differs: ${problems.join('; ')}`,
          {
            tableName,
            problems,
          },
        );
      }
      if (def.timeToLiveAttribute) await enableTimeToLive(client, tableName, def.timeToLiveAttribute);
      (isNew ? created : existing).push(tableName);
    }),
  );
  return { created: created.sort(), existing: existing.sort() };
}
