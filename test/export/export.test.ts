import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ExportProgress, exportTables } from '../../lambda/export/index.js';
import { EXPORT_TABLES, type ExportRow, type ExportTableName } from '../../lambda/export/schema.js';
import { localDocumentClient, localDynamoClient } from '../support/dynamo.js';
import { CONSOLES, ROUNDS, type SyncedDataset, syncDataset, type Truth } from './dataset.js';
import { csvToRows, duckQuery, tempDir } from './support.js';

const DOC = new URL('../../docs/analytics.md', import.meta.url);

/** The SQL blocks of docs/analytics.md tagged ```sql duckdb:<name>. */
async function docQueries(): Promise<Map<string, string>> {
  const text = await readFile(DOC, 'utf8');
  const blocks = new Map<string, string>();
  for (const match of text.matchAll(/```sql duckdb:(\S+)\n([\s\S]*?)```/g)) {
    blocks.set(match[1] as string, match[2] as string);
  }
  return blocks;
}

async function ndjsonRows(dir: string, table: ExportTableName): Promise<ExportRow[]> {
  const text = await readFile(join(dir, `${table}.ndjson`), 'utf8');
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as ExportRow);
}

/** A stable order for comparing row sets. */
function sorted<T>(rows: T[]): T[] {
  return [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** Parquet rows with times rendered as the NDJSON's ISO strings. */
async function parquetRows(dir: string, table: ExportTableName): Promise<ExportRow[]> {
  const definition = EXPORT_TABLES.find((t) => t.name === table)!;
  const select = definition.columns
    .map((c) =>
      c.type === 'timestamp'
        ? `strftime("${c.name}", '%Y-%m-%dT%H:%M:%S.%g') || 'Z' AS "${c.name}"`
        : `"${c.name}"`,
    )
    .join(', ');
  return (await duckQuery(`SELECT ${select} FROM '${join(dir, `${table}.parquet`)}'`)) as ExportRow[];
}

const dayOf = (iso: string) => iso.slice(0, 10);
const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString();

/** Q1's answer from the model. */
function openCriticalPerDay(truth: Truth): Array<{ registry: string; day: string; open_critical: number }> {
  const findings = [...truth.images.values()].flatMap((image) =>
    [...image.findings.values()].map((finding) => ({ image, finding })),
  );
  const firstDay = dayOf(findings.map((f) => f.finding.firstSeen).sort()[0]!);
  const lastDay = dayOf(
    findings
      .map(({ image, finding }) => finding.resolvedAt ?? image.lastScannedAt)
      .sort()
      .at(-1)!,
  );
  const answer: Array<{ registry: string; day: string; open_critical: number }> = [];
  for (let day = firstDay; day <= lastDay; day = dayOf(nextDay(day))) {
    const end = nextDay(day);
    const perRegistry = new Map<string, number>();
    for (const { image, finding } of findings) {
      if (finding.record.severity !== 'critical' || finding.firstSeen >= end) continue;
      if (finding.resolvedAt !== null && finding.resolvedAt < end) continue;
      perRegistry.set(image.registry, (perRegistry.get(image.registry) ?? 0) + 1);
    }
    for (const [registry, count] of [...perRegistry].sort(([a], [b]) => (a < b ? -1 : 1))) {
      answer.push({ registry, day, open_critical: count });
    }
  }
  return answer;
}

describe('export of a synced simulator dataset', () => {
  let dataset: SyncedDataset;
  const dirs: Partial<Record<'parquet' | 'ndjson' | 'csv', string>> = {};
  const progress: ExportProgress[] = [];

  beforeAll(async () => {
    dataset = await syncDataset();
    for (const format of ['ndjson', 'csv', 'parquet'] as const) {
      const dir = await tempDir();
      dirs[format] = dir;
      const result = await exportTables({
        client: localDocumentClient(),
        tablePrefix: dataset.prefix,
        outDir: dir,
        format,
        segments: 3,
        onProgress: (p) => progress.push(p),
      });
      expect(result.access).toBe('scan');
      expect(result.stats.orphansSkipped).toBe(0);
    }
  });

  it('exports every image with its current state, removed ones flagged', async () => {
    const rows = await ndjsonRows(dirs.ndjson!, 'images');
    const expected = [...dataset.truth.images.values()].map((image) => ({
      console_id: image.consoleId,
      image_key: image.key,
      digest: image.latest.image.digest,
      scan_time: image.latest.image.scanTime,
      last_scanned_at: image.lastScannedAt,
      updated_at: image.updatedAt,
      removed: image.removed,
      removed_at: image.removedAt,
      vulnerabilities_total: image.latest.image.vulnerabilityCounts.total,
      vulnerabilities_critical: image.latest.image.vulnerabilityCounts.critical,
      content_hash: image.latest.image.contentHash,
    }));
    const actual = rows.map((row) => Object.fromEntries(Object.keys(expected[0]!).map((k) => [k, row[k]])));
    expect(sorted(actual)).toEqual(sorted(expected));
    expect(rows.filter((row) => row.removed)).toHaveLength(2);
  });

  it('exports one finding row per finding with its lifecycle', async () => {
    const rows = await ndjsonRows(dirs.ndjson!, 'findings');
    const expected = [...dataset.truth.images.values()].flatMap((image) =>
      [...image.findings.entries()].map(([key, finding]) => ({
        console_id: image.consoleId,
        image_key: image.key,
        finding_key: key,
        vulnerability_id: finding.record.id,
        severity: finding.record.severity,
        cvss: finding.record.cvss,
        fix_date: finding.record.fixDate,
        is_open: finding.resolvedAt === null,
        first_seen: finding.firstSeen,
        last_seen: finding.resolvedAt ?? image.lastScannedAt,
        resolved_at: finding.resolvedAt,
        resolved_reason: finding.reason,
        updated_at: finding.updatedAt,
      })),
    );
    const actual = rows.map((row) => Object.fromEntries(Object.keys(expected[0]!).map((k) => [k, row[k]])));
    expect(actual.length).toBeGreaterThan(150);
    expect(sorted(actual)).toEqual(sorted(expected));
    expect(new Set(rows.map((r) => r.resolved_reason))).toEqual(
      new Set([null, 'goneFromReport', 'imageRemoved']),
    );
  });

  it('exports the scan history and the change feed', async () => {
    const scans = await ndjsonRows(dirs.ndjson!, 'scans');
    const expectedScans = [...dataset.truth.images.values()].flatMap((image) =>
      image.history.map((entry) => ({
        console_id: image.consoleId,
        image_key: image.key,
        observed_at: entry.observedAt,
        seen_at: entry.seenAt,
        content_hash: entry.contentHash,
        vulnerabilities_critical: entry.critical,
      })),
    );
    const actualScans = scans.map((row) =>
      Object.fromEntries(Object.keys(expectedScans[0]!).map((k) => [k, row[k]])),
    );
    expect(sorted(actualScans)).toEqual(sorted(expectedScans));

    const changes = await ndjsonRows(dirs.ndjson!, 'changes');
    const expectedChanges = dataset.truth.changes.map((change) => ({
      console_id: change.consoleId,
      change: change.change,
      at: change.at,
      image_key: change.imageKey,
      finding_key: change.findingKey,
      reason: change.reason,
    }));
    const actualChanges = changes.map((row) =>
      Object.fromEntries(Object.keys(expectedChanges[0]!).map((k) => [k, row[k]])),
    );
    expect(sorted(actualChanges)).toEqual(sorted(expectedChanges));
  });

  it('writes the same rows in NDJSON, CSV and Parquet', async () => {
    for (const table of EXPORT_TABLES) {
      const ndjson = sorted(await ndjsonRows(dirs.ndjson!, table.name));
      const csv = sorted(csvToRows(table, await readFile(join(dirs.csv!, `${table.name}.csv`), 'utf8')));
      const parquet = sorted(await parquetRows(dirs.parquet!, table.name));
      expect(ndjson.length).toBeGreaterThan(0);
      // The CSV formula guard only ever touches text starting with = + - @ (none in this dataset's texts).
      expect(csv).toEqual(ndjson);
      expect(parquet).toEqual(ndjson);
    }
  });

  it('reports progress while reading and once done', () => {
    expect(progress.some((p) => p.phase === 'reading' && p.itemsRead > 0)).toBe(true);
    const done = progress.filter((p) => p.phase === 'done').at(-1)!;
    expect(done.rows.images).toBe(dataset.truth.images.size);
  });

  it('answers the documented example questions on DuckDB as the ground truth says', async () => {
    const queries = await docQueries();
    expect([...queries.keys()]).toEqual(['setup', 'q1', 'q2', 'q3', 'q4', 'q5']);
    const setup = queries.get('setup')!.replaceAll("'export-out/", `'${dirs.parquet}/`);
    const run = (name: string) => duckQuery(`${setup}\n${queries.get(name)}`);
    const truth = dataset.truth;
    const images = [...truth.images.values()];
    const findings = images.flatMap((image) =>
      [...image.findings.values()].map((finding) => ({ image, finding })),
    );

    // 1. Open critical findings per registry, day by day.
    const q1 = (await run('q1')).map((r) => ({
      registry: r.registry,
      day: r.day,
      open_critical: Number(r.open_critical),
    }));
    expect(q1).toEqual(openCriticalPerDay(truth));
    expect(q1.length).toBeGreaterThan(10);

    // 2. Mean time to resolve by severity.
    const q2 = await run('q2');
    const order = ['critical', 'high', 'medium', 'low'];
    const expected2 = order
      .map((severity) => {
        const resolved = findings.filter(
          ({ finding }) => finding.record.severity === severity && finding.reason === 'goneFromReport',
        );
        const seconds = resolved.map(
          ({ finding }) =>
            Math.floor(Date.parse(finding.resolvedAt!) / 1000) -
            Math.floor(Date.parse(finding.firstSeen) / 1000),
        );
        const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length / 86400;
        return { severity, resolved: resolved.length, mean_days_to_resolve: Math.round(mean * 100) / 100 };
      })
      .filter((row) => row.resolved > 0);
    expect(q2.map((r) => ({ ...r, resolved: Number(r.resolved) }))).toEqual(expected2);

    // 3. Images still carrying a vulnerability fixed upstream more than 30 days ago.
    const cutoff = Date.now() - 30 * 86_400_000;
    const expected3 = images
      .filter((image) => !image.removed)
      .map((image) => {
        const overdue = [...image.findings.values()].filter(
          (f) => f.resolvedAt === null && f.record.fixDate !== null && Date.parse(f.record.fixDate) < cutoff,
        );
        return { image, ids: new Set(overdue.map((f) => f.record.id)) };
      })
      .filter(({ ids }) => ids.size > 0);
    const q3 = await run('q3');
    expect(q3.length).toBe(expected3.length);
    expect(q3.length).toBeGreaterThan(0);
    expect(
      new Map(
        q3.map((r) => [
          `${r.console_id}|${r.registry}/${r.repo}:${r.tag}`,
          Number(r.overdue_vulnerabilities),
        ]),
      ),
    ).toEqual(new Map(expected3.map(({ image, ids }) => [`${image.consoleId}|${image.key}`, ids.size])));

    // 4. Images whose latest scan has more critical vulnerabilities than the one before.
    const expected4 = images
      .filter((image) => {
        const [previous, latest] = image.history.slice(-2);
        return image.history.length >= 2 && latest!.critical > previous!.critical;
      })
      .map((image) => `${image.consoleId}|${image.key}`)
      .sort();
    const q4 = (await run('q4')).map((r) => `${r.console_id}|${r.registry}/${r.repo}:${r.tag}`).sort();
    expect(q4).toEqual(expected4);

    // 5. Findings that appeared and were resolved, week by week (weeks start on Monday).
    const weekOf = (iso: string) => {
      const date = new Date(Date.parse(iso));
      const monday =
        Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()) -
        ((date.getUTCDay() + 6) % 7) * 86_400_000;
      return new Date(monday).toISOString().slice(0, 10);
    };
    const weeks = new Map<string, { appeared: number; resolved: number }>();
    for (const change of truth.changes) {
      const week = weeks.get(weekOf(change.at)) ?? { appeared: 0, resolved: 0 };
      if (change.change === 'new') week.appeared += 1;
      else week.resolved += 1;
      weeks.set(weekOf(change.at), week);
    }
    const q5 = (await run('q5')).map((r) => ({
      week: String(r.week).slice(0, 10),
      appeared: Number(r.appeared),
      resolved: Number(r.resolved),
    }));
    expect(q5).toEqual(
      [...weeks].sort(([a], [b]) => (a < b ? -1 : 1)).map(([week, counts]) => ({ week, ...counts })),
    );
    expect(q5).toHaveLength(ROUNDS.length);
  });

  it('exports one console with Query only, its current images and everything of theirs', async () => {
    const client = localDynamoClient();
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const dir = await tempDir();
    const result = await exportTables({
      client: DynamoDBDocumentClient.from(client),
      tablePrefix: dataset.prefix,
      consoleId: CONSOLES.alpha.id,
      outDir: dir,
      format: 'ndjson',
    });
    expect(result.access).toBe('query');
    expect(sent).not.toContain('ScanCommand');
    expect(sent).toContain('QueryCommand');

    const full = dirs.ndjson!;
    const current = new Set(
      (await ndjsonRows(full, 'images'))
        .filter((row) => row.console_id === 'alpha' && !row.removed)
        .map((row) => row.image_key),
    );
    for (const table of ['images', 'findings', 'scans'] as const) {
      const expected = (await ndjsonRows(full, table)).filter(
        (row) => row.console_id === 'alpha' && current.has(row.image_key),
      );
      expect(sorted(await ndjsonRows(dir, table))).toEqual(sorted(expected));
    }
    const expectedChanges = (await ndjsonRows(full, 'changes')).filter((row) => row.console_id === 'alpha');
    expect(sorted(await ndjsonRows(dir, 'changes'))).toEqual(sorted(expectedChanges));
  });

  it('exports what the sync wrote since a time, for every console, with Query only', async () => {
    const since = ROUNDS[2];
    const dir = await tempDir();
    const result = await exportTables({
      client: localDocumentClient(),
      tablePrefix: dataset.prefix,
      since,
      outDir: dir,
      format: 'ndjson',
    });
    expect(result.access).toBe('query');
    const full = dirs.ndjson!;
    const currentImages = (await ndjsonRows(full, 'images')).filter((row) => !row.removed);
    const current = new Set(currentImages.map((row) => `${row.console_id}|${row.image_key}`));
    const timeColumn = {
      images: 'updated_at',
      findings: 'updated_at',
      scans: 'seen_at',
      changes: 'at',
    } as const;
    for (const table of ['images', 'findings', 'scans', 'changes'] as const) {
      const expected = (await ndjsonRows(full, table)).filter(
        (row) =>
          String(row[timeColumn[table]]) >= since &&
          (table === 'changes' || current.has(`${row.console_id}|${row.image_key}`)),
      );
      const actual = await ndjsonRows(dir, table);
      expect(actual.length).toBeGreaterThan(0);
      expect(sorted(actual)).toEqual(sorted(expected));
    }
    const consoles = new Set((await ndjsonRows(dir, 'images')).map((row) => row.console_id));
    expect(consoles).toEqual(new Set(['alpha', 'beta']));
  });
});
