import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import {
  glueViews,
  itemHiveType,
  prestoViewText,
  RAW_TABLES,
  viewSql,
} from '../../lambda/export/aws/athena-views.js';
import {
  compactTime,
  dataPrefixOf,
  type ExporterState,
  type ExportStatus,
  emptyExporterState,
  exportsInFlight,
  planExports,
  publishedExports,
  withStarted,
} from '../../lambda/export/aws/export-plan.js';
import {
  type ExporterClients,
  exportRequest,
  partitionChanges,
  runExporter,
  settingsFromEnv,
} from '../../lambda/export/aws/handler.js';
import { CHANGES_TABLE, EXPORT_TABLES, FINDINGS_TABLE } from '../../lambda/export/schema.js';

const BASE = 'dynamodb/images';
const at = (iso: string) => new Date(iso);
const none = new Map<string, ExportStatus>();
const arn = (id: string) =>
  `arn:aws:dynamodb:eu-west-1:111111111111:table/prisma-registry-images/export/${id}`;

function completedSnapshot(time: string): ExporterState {
  return {
    version: 1,
    snapshot: {
      exportArn: arn('full-1'),
      s3Prefix: `${BASE}/full/started=x/`,
      status: 'COMPLETED',
      exportTime: time,
    },
    increments: [],
  };
}

describe('export plan', () => {
  it('starts with a full export', () => {
    const plan = planExports(emptyExporterState(), none, {
      now: at('2025-06-02T08:00:00.000Z'),
      basePrefix: BASE,
    });
    expect(plan.start).toEqual({ kind: 'startFull', s3Prefix: `${BASE}/full/started=20250602T080000Z/` });
  });

  it('starts nothing while the first full export runs', () => {
    const state = withStarted(
      emptyExporterState(),
      { kind: 'startFull', s3Prefix: 'p/' },
      { exportArn: arn('f'), exportTime: '2025-06-02T08:00:00.000Z' },
      at('2025-06-02T08:00:00.000Z'),
    );
    const plan = planExports(state, new Map([[arn('f'), 'IN_PROGRESS']]), {
      now: at('2025-06-02T09:00:00.000Z'),
      basePrefix: BASE,
    });
    expect(plan.start).toBeUndefined();
    expect(exportsInFlight(plan.state)).toEqual([arn('f')]);
  });

  it('publishes a finished full export and follows it with hourly increments from its time', () => {
    const state = withStarted(
      emptyExporterState(),
      { kind: 'startFull', s3Prefix: 'p/' },
      { exportArn: arn('f'), exportTime: '2025-06-02T08:00:00.000Z' },
      at('2025-06-02T08:00:00.000Z'),
    );
    const plan = planExports(state, new Map([[arn('f'), 'COMPLETED']]), {
      now: at('2025-06-02T09:30:00.000Z'),
      basePrefix: BASE,
    });
    expect(plan.state.snapshot?.exportArn).toBe(arn('f'));
    expect(plan.start).toEqual({
      kind: 'startIncremental',
      from: '2025-06-02T08:00:00.000Z',
      to: '2025-06-02T09:20:00.000Z',
      s3Prefix: `${BASE}/incremental/window=20250602T080000Z-20250602T092000Z/`,
    });
  });

  it('waits until a window is due and never asks for one shorter than 15 minutes', () => {
    const state = completedSnapshot('2025-06-02T08:00:00.000Z');
    expect(
      planExports(state, none, { now: at('2025-06-02T08:50:00.000Z'), basePrefix: BASE }).start,
    ).toBeUndefined();
    const short = planExports(state, none, {
      now: at('2025-06-02T08:20:00.000Z'),
      basePrefix: BASE,
      config: { incrementalEveryMinutes: 1 },
    });
    expect(short.start).toBeUndefined();
  });

  it('catches up a long gap in windows of at most 24 hours, in order', () => {
    const state = completedSnapshot('2025-06-02T08:00:00.000Z');
    const plan = planExports(state, none, { now: at('2025-06-04T08:00:00.000Z'), basePrefix: BASE });
    expect(plan.start).toMatchObject({
      kind: 'startIncremental',
      from: '2025-06-02T08:00:00.000Z',
      to: '2025-06-03T08:00:00.000Z',
    });
  });

  it('publishes increments only up to the first unfinished one, so history has no holes', () => {
    let state = completedSnapshot('2025-06-02T08:00:00.000Z');
    state = withStarted(
      state,
      {
        kind: 'startIncremental',
        s3Prefix: 'a/',
        from: '2025-06-02T08:00:00.000Z',
        to: '2025-06-02T09:00:00.000Z',
      },
      { exportArn: arn('i1') },
      at('2025-06-02T09:10:00.000Z'),
    );
    const after = planExports(state, new Map([[arn('i1'), 'COMPLETED']]), {
      now: at('2025-06-02T10:15:00.000Z'),
      basePrefix: BASE,
    });
    expect(after.start).toMatchObject({ from: '2025-06-02T09:00:00.000Z' });
    const next = withStarted(
      after.state,
      after.start!,
      { exportArn: arn('i2') },
      at('2025-06-02T10:15:00.000Z'),
    );
    expect(publishedExports(next).increments.map((i) => i.exportArn)).toEqual([arn('i1')]);
  });

  it('asks again for a window whose export failed', () => {
    let state = completedSnapshot('2025-06-02T08:00:00.000Z');
    state = withStarted(
      state,
      {
        kind: 'startIncremental',
        s3Prefix: 'a/',
        from: '2025-06-02T08:00:00.000Z',
        to: '2025-06-02T09:00:00.000Z',
      },
      { exportArn: arn('i1') },
      at('2025-06-02T09:10:00.000Z'),
    );
    const plan = planExports(state, new Map([[arn('i1'), 'FAILED']]), {
      now: at('2025-06-02T10:15:00.000Z'),
      basePrefix: BASE,
    });
    expect(plan.failed).toEqual([arn('i1')]);
    expect(plan.start).toMatchObject({ kind: 'startIncremental', from: '2025-06-02T08:00:00.000Z' });
  });

  it('renews the snapshot weekly and then drops the increments it supersedes', () => {
    let state = completedSnapshot('2025-06-02T08:00:00.000Z');
    state = {
      ...state,
      increments: [
        {
          exportArn: arn('old'),
          s3Prefix: 'a/',
          status: 'COMPLETED',
          from: '2025-06-02T08:00:00.000Z',
          to: '2025-06-09T07:00:00.000Z',
        },
      ],
    };
    const due = planExports(state, none, { now: at('2025-06-09T08:00:00.000Z'), basePrefix: BASE });
    expect(due.start?.kind).toBe('startFull');
    const started = withStarted(
      due.state,
      due.start!,
      { exportArn: arn('full-2'), exportTime: '2025-06-09T08:00:00.000Z' },
      at('2025-06-09T08:00:00.000Z'),
    );
    const done = planExports(started, new Map([[arn('full-2'), 'COMPLETED']]), {
      now: at('2025-06-09T09:30:00.000Z'),
      basePrefix: BASE,
    });
    expect(done.state.snapshot?.exportArn).toBe(arn('full-2'));
    expect(done.state.increments).toEqual([]);
    expect(done.start).toMatchObject({ from: '2025-06-09T08:00:00.000Z' });
  });

  it('names where DynamoDB writes an export and prefixes without colons', () => {
    expect(dataPrefixOf({ exportArn: arn('0168-abc'), s3Prefix: 'x/y/', status: 'COMPLETED' })).toBe(
      'x/y/AWSDynamoDB/0168-abc/data/',
    );
    expect(compactTime('2025-06-02T08:00:00.000Z')).toBe('20250602T080000Z');
  });
});

describe('exporter run', () => {
  const settings = settingsFromEnv({
    EXPORT_TABLE_ARN: 'arn:aws:dynamodb:eu-west-1:111111111111:table/prisma-registry-images',
    EXPORT_BUCKET: 'bucket',
    EXPORT_BASE_PREFIX: BASE,
    EXPORT_STATE_KEY: 'state/exporter-images.json',
    GLUE_DATABASE: 'db',
    GLUE_FULL_TABLE: RAW_TABLES.full,
    GLUE_INCREMENTAL_TABLE: RAW_TABLES.incremental,
  });

  /** AWS at the SDK boundary: answers by command name, records what was sent. */
  function fakeAws(state: ExporterState | undefined, partitions: string[] = []) {
    const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
    let stored = state ? JSON.stringify(state) : undefined;
    const send = async (command: object) => {
      const name = command.constructor.name;
      const input = (command as { input: Record<string, unknown> }).input;
      sent.push({ name, input });
      switch (name) {
        case 'GetObjectCommand':
          if (!stored) throw Object.assign(new Error('missing'), { name: 'NoSuchKey' });
          return { Body: { transformToString: async () => stored } };
        case 'PutObjectCommand':
          stored = String(input.Body);
          return {};
        case 'DescribeExportCommand':
          return { ExportDescription: { ExportStatus: 'COMPLETED' } };
        case 'ExportTableToPointInTimeCommand':
          return {
            ExportDescription: { ExportArn: arn('new'), ExportTime: new Date('2025-06-02T08:00:00.000Z') },
          };
        case 'GetPartitionsCommand':
          return {
            Partitions: input.TableName === RAW_TABLES.full ? partitions.map((p) => ({ Values: [p] })) : [],
          };
        case 'GetTableCommand':
          return { Table: { StorageDescriptor: { Columns: [{ Name: 'item', Type: 'struct<>' }] } } };
        default:
          return {};
      }
    };
    const clients: ExporterClients = { dynamodb: { send }, s3: { send }, glue: { send } };
    return { clients, sent, stored: () => (stored ? (JSON.parse(stored) as ExporterState) : undefined) };
  }

  it('starts the first full export and remembers it', async () => {
    const aws = fakeAws(undefined);
    const result = await runExporter(settings, aws.clients, at('2025-06-02T08:00:00.000Z'));
    expect(result.started).toEqual({ kind: 'startFull', exportArn: arn('new') });
    const request = aws.sent.find((c) => c.name === 'ExportTableToPointInTimeCommand')?.input;
    expect(request).toMatchObject({
      ExportType: 'FULL_EXPORT',
      S3Bucket: 'bucket',
      S3SseAlgorithm: 'AES256',
      ExportFormat: 'DYNAMODB_JSON',
    });
    expect(aws.stored()?.pendingFull?.exportArn).toBe(arn('new'));
    expect(result.partitions).toEqual({ created: 0, deleted: 0 });
  });

  it('publishes a finished snapshot as the only partition of the full table', async () => {
    const state = withStarted(
      emptyExporterState(),
      { kind: 'startFull', s3Prefix: `${BASE}/full/started=a/` },
      { exportArn: arn('f1'), exportTime: '2025-06-02T08:00:00.000Z' },
      at('2025-06-02T08:00:00.000Z'),
    );
    const aws = fakeAws(state, ['stale-export']);
    const result = await runExporter(settings, aws.clients, at('2025-06-02T08:30:00.000Z'));
    expect(result.published.snapshot).toBe('2025-06-02T08:00:00.000Z');
    const create = aws.sent.find((c) => c.name === 'BatchCreatePartitionCommand')?.input as {
      PartitionInputList: Array<{ Values: string[]; StorageDescriptor: { Location: string } }>;
    };
    expect(create.PartitionInputList).toEqual([
      expect.objectContaining({
        Values: ['f1'],
        StorageDescriptor: expect.objectContaining({
          Location: `s3://bucket/${BASE}/full/started=a/AWSDynamoDB/f1/data/`,
        }),
      }),
    ]);
    const removed = aws.sent.find((c) => c.name === 'BatchDeletePartitionCommand')?.input;
    expect(removed).toMatchObject({
      TableName: RAW_TABLES.full,
      PartitionsToDelete: [{ Values: ['stale-export'] }],
    });
  });

  it('asks DynamoDB for the same export again when a run is retried', () => {
    const action = { kind: 'startFull' as const, s3Prefix: 'p/' };
    expect(exportRequest(settings, action).ClientToken).toBe(exportRequest(settings, action).ClientToken);
    const incremental = exportRequest(settings, {
      kind: 'startIncremental',
      s3Prefix: 'q/',
      from: '2025-06-02T08:00:00.000Z',
      to: '2025-06-02T09:00:00.000Z',
    });
    expect(incremental).toMatchObject({
      ExportType: 'INCREMENTAL_EXPORT',
      IncrementalExportSpecification: { ExportViewType: 'NEW_IMAGE' },
    });
  });

  it('names a missing setting', () => {
    try {
      settingsFromEnv({});
      expect.unreachable();
    } catch (error) {
      expect(isSyncError(error, 'config.invalid')).toBe(true);
      expect((error as Error).message).toContain('EXPORT_TABLE_ARN');
    }
  });

  it('computes partition changes as a plain difference', () => {
    expect(
      partitionChanges(
        new Set(['a', 'b']),
        new Map([
          ['b', 'lb'],
          ['c', 'lc'],
        ]),
      ),
    ).toEqual({
      create: [{ value: 'c', location: 'lc' }],
      delete: ['a'],
    });
  });
});

describe('Athena views', () => {
  it('selects every column of every table, cast to its declared type', () => {
    for (const table of EXPORT_TABLES) {
      const sql = viewSql('db', table);
      for (const column of table.columns) expect(sql).toMatch(new RegExp(`AS ${column.name}(,|\\n)`));
    }
    expect(viewSql('db', FINDINGS_TABLE)).toContain(
      "CAST(from_iso8601_timestamp(coalesce(i.resolvedat.s, img.lastscannedat.s)) AT TIME ZONE 'UTC' AS timestamp(3))",
    );
  });

  it('declares the views with the schema types, the internal one first', () => {
    const views = glueViews('db');
    expect(views.map((v) => v.name)).toEqual([
      RAW_TABLES.currentItems,
      'images',
      'findings',
      'scans',
      'changes',
    ]);
    const findings = views.find((v) => v.name === 'findings')!;
    expect(findings.columns.find((c) => c.name === 'cvss')).toEqual({ name: 'cvss', type: 'double' });
    expect(findings.glueColumns.find((c) => c.name === 'first_seen')).toEqual({
      name: 'first_seen',
      type: 'timestamp',
    });
    const header = prestoViewText(findings, 'db');
    const decoded = JSON.parse(
      Buffer.from(header.slice('/* Presto View: '.length, -' */'.length), 'base64').toString('utf8'),
    );
    expect(decoded).toMatchObject({ catalog: 'awsdatacatalog', schema: 'db', originalSql: findings.sql });
  });

  it('reads lower-cased DynamoDB JSON attributes with their type tags', () => {
    const type = itemHiveType();
    expect(type).toContain('scantime:struct<s:string>');
    expect(type).toContain('cvss:struct<n:string>');
    expect(type).toContain('removed:struct<bool:boolean>');
    expect(type).toContain('riskfactors:struct<l:array<struct<s:string>>>');
    expect(type).toContain(
      'findings:struct<l:array<struct<m:struct<findingkey:struct<s:string>,id:struct<s:string>,',
    );
  });

  it('gives one changes row per finding of a change item, and one for an item of the older layout', () => {
    const sql = viewSql('db', CHANGES_TABLE);
    expect(sql).toContain(
      "LEFT JOIN UNNEST(transform(f.i.findings.l, x -> MAP(ARRAY['findingKey', 'id', 'packageName', 'packageVersion', 'severity', 'observedAt', 'reason'], ARRAY[x.m.findingkey.s, x.m.id.s, x.m.packagename.s, x.m.packageversion.s, x.m.severity.s, x.m.observedat.s, x.m.reason.s]))) AS e(entry) ON true",
    );
    expect(sql).toContain("coalesce(element_at(e.entry, 'findingKey'), i.findingkey.s)");
    expect(sql).toContain("coalesce(element_at(e.entry, 'reason'), i.reason.s)");
  });
});
