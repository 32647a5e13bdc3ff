/**
 * The scheduled analytics export function: starts native DynamoDB exports of the `images` table to
 * S3 (a weekly full snapshot, hourly increments; see `export-plan.ts`) and publishes the finished
 * ones to Athena as Glue partitions. It never reads the table itself. Each run is short: a few
 * Describe calls, at most one export started, and a Glue reconciliation. Runs may overlap (no reserved
 * concurrency: reserving any fails in accounts at the new-account quota): an export request carries a
 * ClientToken, and the state object is written only if nobody wrote it since this run read it; the run
 * that loses stops without publishing, and the winner publishes.
 *
 * Bundled on its own (no DuckDB, no store code): only the AWS SDK clients below.
 */
import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  DescribeExportCommand,
  DynamoDBClient,
  ExportTableToPointInTimeCommand,
  type ExportTableToPointInTimeCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  GetPartitionsCommand,
  type GetPartitionsCommandOutput,
  GetTableCommand,
  GlueClient,
  type StorageDescriptor,
} from '@aws-sdk/client-glue';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SyncError } from '../../common/errors.js';
import {
  dataPrefixOf,
  type ExportAction,
  type ExporterState,
  type ExportPlanConfig,
  type ExportRef,
  type ExportStatus,
  emptyExporterState,
  exportIdOf,
  exportsInFlight,
  planExports,
  publishedExports,
  withStarted,
} from './export-plan.js';

/** What the function reads from its environment (set by `AnalyticsConstruct`). */
export interface ExporterSettings {
  tableArn: string;
  bucket: string;
  /** Key prefix of this table's exports, e.g. `dynamodb/images`. */
  basePrefix: string;
  stateKey: string;
  database: string;
  fullTable: string;
  incrementalTable: string;
  plan: Partial<ExportPlanConfig>;
}

/** Only `send` is used: tests pass fakes at this boundary. */
export interface Sender {
  send(command: object): Promise<unknown>;
}

export interface ExporterClients {
  dynamodb: Sender;
  s3: Sender;
  glue: Sender;
}

export interface ExporterRunResult {
  /** Another run wrote the state first: this one saved and published nothing. */
  superseded?: true;
  started?: { kind: ExportAction['kind']; exportArn: string };
  failed: string[];
  published: { snapshot?: string; increments: number };
  partitions: { created: number; deleted: number };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new SyncError('config.invalid', `${name} is not set`, { variable: name });
  return value;
}

function positive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new SyncError('config.invalid', `${name} must be a positive number, got ${value}`, {
      variable: name,
    });
  }
  return number;
}

/** Settings from the environment; a missing or bad variable is a `config.invalid` naming it. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): ExporterSettings {
  const fullEveryHours = positive(env, 'EXPORT_FULL_EVERY_HOURS');
  const incrementalEveryMinutes = positive(env, 'EXPORT_INCREMENTAL_EVERY_MINUTES');
  return {
    tableArn: required(env, 'EXPORT_TABLE_ARN'),
    bucket: required(env, 'EXPORT_BUCKET'),
    basePrefix: required(env, 'EXPORT_BASE_PREFIX'),
    stateKey: required(env, 'EXPORT_STATE_KEY'),
    database: required(env, 'GLUE_DATABASE'),
    fullTable: required(env, 'GLUE_FULL_TABLE'),
    incrementalTable: required(env, 'GLUE_INCREMENTAL_TABLE'),
    plan: {
      ...(fullEveryHours !== undefined ? { fullEveryHours } : {}),
      ...(incrementalEveryMinutes !== undefined ? { incrementalEveryMinutes } : {}),
    },
  };
}

/** The state and the version it was read at: the condition of the next write. */
interface LoadedState {
  state: ExporterState;
  /** `IfNoneMatch: '*'` when there was no state object, `IfMatch: <etag>` otherwise. */
  condition: { IfNoneMatch: '*' } | { IfMatch: string } | Record<string, never>;
}

async function loadState(clients: ExporterClients, settings: ExporterSettings): Promise<LoadedState> {
  try {
    const response = (await clients.s3.send(
      new GetObjectCommand({ Bucket: settings.bucket, Key: settings.stateKey }),
    )) as { Body?: { transformToString(): Promise<string> }; ETag?: string };
    const text = (await response.Body?.transformToString()) ?? '';
    const state = JSON.parse(text) as ExporterState;
    if (state.version !== 1 || !Array.isArray(state.increments)) {
      throw new SyncError(
        'export.stateInvalid',
        `s3://${settings.bucket}/${settings.stateKey} is not an exporter state`,
      );
    }
    return { state, condition: response.ETag ? { IfMatch: response.ETag } : {} };
  } catch (error) {
    if (error instanceof NoSuchKey || (error instanceof Error && error.name === 'NoSuchKey'))
      return { state: emptyExporterState(), condition: { IfNoneMatch: '*' } };
    if (error instanceof SyncError) throw error;
    throw new SyncError(
      'export.stateUnreadable',
      `could not read the exporter state`,
      { key: settings.stateKey },
      error,
    );
  }
}

/** S3's answers to a conditional write that lost: 412, or 409 when two writes race. */
function isLostRace(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'PreconditionFailed' || error.name === 'ConditionalRequestConflict')
  );
}

/** Writes the state unless another run wrote it since it was read; `false` when it lost that race. */
async function saveState(
  clients: ExporterClients,
  settings: ExporterSettings,
  state: ExporterState,
  condition: LoadedState['condition'],
): Promise<boolean> {
  try {
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: settings.bucket,
        Key: settings.stateKey,
        Body: JSON.stringify(state, null, 2),
        ContentType: 'application/json',
        ...condition,
      }),
    );
    return true;
  } catch (error) {
    if (isLostRace(error)) return false;
    throw error;
  }
}

async function describeStatuses(
  clients: ExporterClients,
  arns: string[],
): Promise<Map<string, ExportStatus>> {
  const statuses = new Map<string, ExportStatus>();
  for (const exportArn of arns) {
    const response = (await clients.dynamodb.send(new DescribeExportCommand({ ExportArn: exportArn }))) as {
      ExportDescription?: { ExportStatus?: string };
    };
    const status = response.ExportDescription?.ExportStatus;
    if (status === 'COMPLETED' || status === 'FAILED' || status === 'IN_PROGRESS')
      statuses.set(exportArn, status);
  }
  return statuses;
}

/**
 * The ExportTableToPointInTime request of an action (pure). The client token makes a retried run
 * (Lambda retries, a crash before the state was saved) start the same export, not a second one.
 */
export function exportRequest(
  settings: ExporterSettings,
  action: ExportAction,
): ExportTableToPointInTimeCommandInput {
  const token = createHash('sha256')
    .update(`${settings.tableArn}|${action.s3Prefix}`)
    .digest('hex')
    .slice(0, 32);
  return {
    TableArn: settings.tableArn,
    S3Bucket: settings.bucket,
    S3Prefix: action.s3Prefix.replace(/\/$/, ''),
    S3SseAlgorithm: 'AES256',
    ExportFormat: 'DYNAMODB_JSON',
    ClientToken: token,
    ...(action.kind === 'startFull'
      ? { ExportType: 'FULL_EXPORT' }
      : {
          ExportType: 'INCREMENTAL_EXPORT',
          IncrementalExportSpecification: {
            ExportFromTime: new Date(action.from),
            ExportToTime: new Date(action.to),
            ExportViewType: 'NEW_IMAGE',
          },
        }),
  };
}

/** Which partitions (values = export ids) to create and delete so Glue shows exactly `desired` (pure). */
export function partitionChanges(
  existing: ReadonlySet<string>,
  desired: ReadonlyMap<string, string>,
): { create: Array<{ value: string; location: string }>; delete: string[] } {
  return {
    create: [...desired]
      .filter(([value]) => !existing.has(value))
      .map(([value, location]) => ({ value, location })),
    delete: [...existing].filter((value) => !desired.has(value)),
  };
}

async function reconcilePartitions(
  clients: ExporterClients,
  settings: ExporterSettings,
  table: string,
  refs: ExportRef[],
): Promise<{ created: number; deleted: number }> {
  const desired = new Map(
    refs.map((ref) => [exportIdOf(ref.exportArn), `s3://${settings.bucket}/${dataPrefixOf(ref)}`]),
  );
  const existing = new Set<string>();
  let nextToken: string | undefined;
  do {
    const page = (await clients.glue.send(
      new GetPartitionsCommand({ DatabaseName: settings.database, TableName: table, NextToken: nextToken }),
    )) as GetPartitionsCommandOutput;
    for (const partition of page.Partitions ?? []) {
      const value = partition.Values?.[0];
      if (value !== undefined) existing.add(value);
    }
    nextToken = page.NextToken;
  } while (nextToken);

  const changes = partitionChanges(existing, desired);
  if (changes.create.length > 0) {
    const { Table } = (await clients.glue.send(
      new GetTableCommand({ DatabaseName: settings.database, Name: table }),
    )) as { Table?: { StorageDescriptor?: StorageDescriptor } };
    const descriptor = Table?.StorageDescriptor ?? {};
    for (let i = 0; i < changes.create.length; i += 100) {
      await clients.glue.send(
        new BatchCreatePartitionCommand({
          DatabaseName: settings.database,
          TableName: table,
          PartitionInputList: changes.create.slice(i, i + 100).map(({ value, location }) => ({
            Values: [value],
            StorageDescriptor: { ...descriptor, Location: location },
          })),
        }),
      );
    }
  }
  for (let i = 0; i < changes.delete.length; i += 25) {
    await clients.glue.send(
      new BatchDeletePartitionCommand({
        DatabaseName: settings.database,
        TableName: table,
        PartitionsToDelete: changes.delete.slice(i, i + 25).map((value) => ({ Values: [value] })),
      }),
    );
  }
  return { created: changes.create.length, deleted: changes.delete.length };
}

/**
 * One run: refresh the exports in flight, start what is due, save the state, publish to Glue.
 *
 * @example
 * const result = await runExporter(settingsFromEnv(process.env), clients, new Date());
 */
export async function runExporter(
  settings: ExporterSettings,
  clients: ExporterClients,
  now: Date,
): Promise<ExporterRunResult> {
  const { state: previous, condition } = await loadState(clients, settings);
  const statuses = await describeStatuses(clients, exportsInFlight(previous));
  const plan = planExports(previous, statuses, {
    now,
    basePrefix: settings.basePrefix,
    config: settings.plan,
  });
  let state = plan.state;
  let started: ExporterRunResult['started'];
  if (plan.start) {
    try {
      const exported = await startExport(clients, settings, plan.start);
      state = withStarted(state, plan.start, exported, now);
      started = { kind: plan.start.kind, exportArn: exported.exportArn };
    } catch (error) {
      // Save what we learnt (completed exports) before failing, so the next run does not redo it.
      await saveState(clients, settings, state, condition);
      throw new SyncError(
        'export.startFailed',
        `could not start the ${plan.start.kind} export`,
        { ...plan.start },
        error,
      );
    }
  }
  if (!(await saveState(clients, settings, state, condition))) {
    // The export this run started (same ClientToken: the same export) is in the winner's state, or
    // its files expire with the bucket's lifecycle rule.
    return {
      superseded: true,
      failed: [],
      published: { increments: 0 },
      partitions: { created: 0, deleted: 0 },
    };
  }

  return {
    ...(started ? { started } : {}),
    failed: plan.failed,
    ...(await publish(clients, settings, state)),
  };
}

/** Starts the export the plan asks for; its ARN and, when DynamoDB says, its time. */
async function startExport(
  clients: ExporterClients,
  settings: ExporterSettings,
  action: ExportAction,
): Promise<{ exportArn: string; exportTime?: string }> {
  const response = (await clients.dynamodb.send(
    new ExportTableToPointInTimeCommand(exportRequest(settings, action)),
  )) as { ExportDescription?: { ExportArn?: string; ExportTime?: Date } };
  const exportArn = response.ExportDescription?.ExportArn;
  if (!exportArn) throw new Error('the response carries no ExportArn');
  const exportTime = response.ExportDescription?.ExportTime?.toISOString();
  return { exportArn, ...(exportTime ? { exportTime } : {}) };
}

/** Publishes the finished exports to Glue: the snapshot's partition and the increments'. */
async function publish(
  clients: ExporterClients,
  settings: ExporterSettings,
  state: ExporterState,
): Promise<Pick<ExporterRunResult, 'published' | 'partitions'>> {
  const published = publishedExports(state);
  const full = await reconcilePartitions(
    clients,
    settings,
    settings.fullTable,
    published.snapshot ? [published.snapshot] : [],
  );
  const incremental = await reconcilePartitions(
    clients,
    settings,
    settings.incrementalTable,
    published.increments,
  );
  return {
    published: {
      ...(published.snapshot ? { snapshot: published.snapshot.exportTime } : {}),
      increments: published.increments.length,
    },
    partitions: { created: full.created + incremental.created, deleted: full.deleted + incremental.deleted },
  };
}

let clients: ExporterClients | undefined;
let logger: Logger | undefined;

/** Lambda entry point (EventBridge Scheduler invokes it with any payload). */
export async function handler(): Promise<ExporterRunResult> {
  clients ??= { dynamodb: new DynamoDBClient({}), s3: new S3Client({}), glue: new GlueClient({}) };
  logger ??= new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'prisma-registry-sync-exporter',
  });
  const result = await runExporter(settingsFromEnv(process.env), clients, new Date());
  // One structured line per run for CloudWatch Logs Insights.
  logger.info('analytics export run', { ...result });
  if (result.failed.length > 0) {
    throw new SyncError(
      'export.exportFailed',
      `${result.failed.length} DynamoDB export(s) failed; they are requested again`,
      {
        failed: result.failed,
      },
    );
  }
  return result;
}
