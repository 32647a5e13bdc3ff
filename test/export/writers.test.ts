import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { csvHeader, toCsvRecord, toNdjsonLine } from '../../lambda/export/encode.js';
import { parquetCopySql } from '../../lambda/export/parquet.js';
import {
  CHANGES_TABLE,
  EXPORT_TABLES,
  type ExportRow,
  FINDINGS_TABLE,
  IMAGES_TABLE,
} from '../../lambda/export/schema.js';
import { createRowWriter } from '../../lambda/export/writers.js';
import { csvToRows, duckQuery, parseCsv, sampleRow, tempDir } from './support.js';

describe('encoders', () => {
  it('writes NDJSON columns in schema order with null for missing values', () => {
    const row = sampleRow(CHANGES_TABLE, 1);
    delete row.reason;
    const line = toNdjsonLine(CHANGES_TABLE, row);
    expect(line.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(CHANGES_TABLE.columns.map((column) => column.name));
    expect(parsed.reason).toBeNull();
  });

  it('quotes CSV fields holding commas, quotes and line breaks, doubling quotes', () => {
    const row = sampleRow(FINDINGS_TABLE, 2, {
      title: 'a, "quoted"\r\nsecond line',
      description: '',
      link: null,
    });
    const record = toCsvRecord(FINDINGS_TABLE, row);
    expect(record).toContain('"a, ""quoted""\r\nsecond line"');
    const [parsed] = parseCsv(record);
    const index = (name: string) => FINDINGS_TABLE.columns.findIndex((column) => column.name === name);
    expect(parsed?.[index('title')]).toBe('a, "quoted"\r\nsecond line');
    expect(parsed?.[index('description')]).toBe('');
    expect(parsed?.[index('link')]).toBeNull();
  });

  it('neutralizes text cells a spreadsheet would run as formulas unless the guard is off', () => {
    const row = sampleRow(FINDINGS_TABLE, 3, {
      title: '=HYPERLINK("http://evil")',
      package_name: '@scope/pkg',
    });
    const guarded = parseCsv(toCsvRecord(FINDINGS_TABLE, row))[0]!;
    const raw = parseCsv(toCsvRecord(FINDINGS_TABLE, row, { formulaGuard: false }))[0]!;
    const index = (name: string) => FINDINGS_TABLE.columns.findIndex((column) => column.name === name);
    expect(guarded[index('title')]).toBe(`'=HYPERLINK("http://evil")`);
    expect(guarded[index('package_name')]).toBe(`'@scope/pkg`);
    expect(raw[index('title')]).toBe('=HYPERLINK("http://evil")');
  });

  it('never alters numbers or times, whatever their sign', () => {
    const row = sampleRow(FINDINGS_TABLE, 4, { cvss: -1.5 });
    const record = parseCsv(toCsvRecord(FINDINGS_TABLE, row))[0]!;
    const index = FINDINGS_TABLE.columns.findIndex((column) => column.name === 'cvss');
    expect(record[index]).toBe('-1.5');
  });

  it('rejects a value of the wrong type with a stable code naming the column', () => {
    const row = sampleRow(IMAGES_TABLE, 5, { vulnerabilities_total: '12' });
    try {
      toNdjsonLine(IMAGES_TABLE, row);
      expect.unreachable();
    } catch (error) {
      expect(isSyncError(error, 'export.badValue')).toBe(true);
      expect((error as Error).message).toContain('images.vulnerabilities_total');
    }
  });

  it('starts every CSV file with a header of the column names', () => {
    expect(csvHeader(IMAGES_TABLE).trimEnd().split(',')).toEqual(IMAGES_TABLE.columns.map((c) => c.name));
  });
});

describe('row writers', () => {
  const rows = (count: number) => Array.from({ length: count }, (_, i) => sampleRow(FINDINGS_TABLE, i));

  it('writes NDJSON that parses back to the same rows', async () => {
    const dir = await tempDir();
    const writer = createRowWriter('ndjson', FINDINGS_TABLE, dir);
    const input = rows(500);
    for (const row of input) await writer.write(row);
    const file = await writer.close();
    expect(file).toMatchObject({ table: 'findings', rows: 500, path: `${dir}/findings.ndjson` });
    const text = await readFile(file.path, 'utf8');
    expect(Buffer.byteLength(text)).toBe(file.bytes);
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(input);
  });

  it('writes CSV that parses back to the same rows', async () => {
    const dir = await tempDir();
    const writer = createRowWriter('csv', FINDINGS_TABLE, dir);
    const input = rows(300).map(
      (row, i): ExportRow => ({ ...row, title: i % 3 === 0 ? 'x,"y"\nz' : (row.title ?? null), link: null }),
    );
    for (const row of input) await writer.write(row);
    const file = await writer.close();
    expect(csvToRows(FINDINGS_TABLE, await readFile(file.path, 'utf8'))).toEqual(input);
  });

  it('writes typed Parquet whose values read back unchanged on DuckDB', async () => {
    const dir = await tempDir();
    const writer = createRowWriter('parquet', FINDINGS_TABLE, dir);
    const input = rows(200);
    for (const row of input) await writer.write(row);
    const file = await writer.close();
    expect(file.rows).toBe(200);
    expect(await readdir(dir)).toEqual(['findings.parquet']);
    const types = await duckQuery(`DESCRIBE SELECT * FROM '${file.path}'`);
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toMatchObject({
      cvss: 'DOUBLE',
      first_seen: 'TIMESTAMP',
      is_open: 'BOOLEAN',
      occurrences: 'INTEGER',
      severity: 'VARCHAR',
    });
    const back = await duckQuery(
      `SELECT * REPLACE (strftime(first_seen, '%Y-%m-%dT%H:%M:%S.%g') || 'Z' AS first_seen) FROM '${file.path}' ORDER BY finding_key`,
    );
    const expected = [...input].sort((a, b) => String(a.finding_key).localeCompare(String(b.finding_key)));
    expect(back.map((row) => [row.finding_key, row.first_seen, row.cvss, row.is_open])).toEqual(
      expected.map((row) => [row.finding_key, row.first_seen, row.cvss, row.is_open]),
    );
  });

  it('writes an empty table as a header-only CSV, an empty NDJSON and a typed Parquet with no rows', async () => {
    const dir = await tempDir();
    for (const format of ['csv', 'ndjson', 'parquet'] as const) {
      const file = await createRowWriter(format, IMAGES_TABLE, dir).close();
      expect(file.rows).toBe(0);
    }
    expect(await readFile(`${dir}/images.csv`, 'utf8')).toBe(csvHeader(IMAGES_TABLE));
    expect(await readFile(`${dir}/images.ndjson`, 'utf8')).toBe('');
    const types = await duckQuery(`DESCRIBE SELECT * FROM '${dir}/images.parquet'`);
    expect(types.map((t) => t.column_name)).toEqual(IMAGES_TABLE.columns.map((c) => c.name));
  });

  it('converts wide rows (kilobytes of text each) within 24 MB of DuckDB memory', async () => {
    const dir = await tempDir();
    // Row groups are bounded by bytes, not rows, so 10 KB rows need no more memory than narrow ones.
    const writer = createRowWriter('parquet', FINDINGS_TABLE, dir, { parquetMemoryLimits: ['24MB'] });
    for (let i = 0; i < 3000; i += 1) {
      await writer.write(
        sampleRow(FINDINGS_TABLE, i, { description: 'd'.repeat(8192), title: 't'.repeat(2000) }),
      );
    }
    const file = await writer.close();
    expect(file.rows).toBe(3000);
    expect(file.parquetMemoryLimit).toBeUndefined();
    const [count] = await duckQuery(
      `SELECT count(*) AS n, min(length(description)) AS d FROM '${file.path}'`,
    );
    expect(count).toEqual({ n: '3000', d: '8192' });
  });

  it('retries the conversion with the next memory limit when DuckDB runs out of memory', async () => {
    const dir = await tempDir();
    // 8 MB is too small for any conversion: the retry with the next limit must succeed.
    const writer = createRowWriter('parquet', FINDINGS_TABLE, dir, {
      parquetMemoryLimits: ['8MB', '160MB'],
    });
    for (const row of rows(100)) await writer.write(row);
    const file = await writer.close();
    expect(file).toMatchObject({ rows: 100, parquetMemoryLimit: '160MB' });
    expect(await duckQuery(`SELECT count(*) AS n FROM '${file.path}'`)).toEqual([{ n: '100' }]);
  });

  it('carries every text through the staged CSV into Parquet unchanged, empty text apart from null', async () => {
    const dir = await tempDir();
    const texts = [
      '',
      'a, "quoted"\r\nsecond line',
      'bare \r and \n',
      '"',
      '""',
      ',',
      '=HYPERLINK("http://evil")',
      '@scope/pkg',
      ' padded ',
      'NULL',
      '\\N',
      'tab\there',
      'nul\u0000byte',
      'ünïcødé 🚀',
      'x'.repeat(300_000),
    ];
    const input = texts.map((title, i) =>
      sampleRow(FINDINGS_TABLE, i, { title, description: i % 2 === 0 ? null : title }),
    );
    const writer = createRowWriter('parquet', FINDINGS_TABLE, dir);
    for (const row of input) await writer.write(row);
    const file = await writer.close();
    const back = await duckQuery(`SELECT finding_key, title, description FROM '${file.path}'`);
    const sorted = <T extends { finding_key?: unknown }>(list: T[]) =>
      [...list].sort((a, b) => String(a.finding_key).localeCompare(String(b.finding_key)));
    expect(sorted(back)).toEqual(
      sorted(input).map((row) => ({
        finding_key: row.finding_key,
        title: row.title,
        description: row.description,
      })),
    );
  });

  it('fails with a stable code naming the table when no memory limit suffices', async () => {
    const dir = await tempDir();
    const writer = createRowWriter('parquet', FINDINGS_TABLE, dir, { parquetMemoryLimits: ['8MB'] });
    for (let i = 0; i < 100; i += 1) await writer.write(sampleRow(FINDINGS_TABLE, i));
    await expect(writer.close()).rejects.toMatchObject({ code: 'export.parquetFailed' });
    await writer.abort();
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves no file behind when aborted', async () => {
    const dir = await tempDir();
    for (const format of ['csv', 'parquet'] as const) {
      const writer = createRowWriter(format, FINDINGS_TABLE, dir);
      for (const row of rows(10)) await writer.write(row);
      await writer.abort();
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('generates one typed COPY statement per table with every column', () => {
    for (const table of EXPORT_TABLES) {
      const sql = parquetCopySql(table, "/tmp/it's.csv", '/tmp/out.parquet');
      expect(sql).toContain("'/tmp/it''s.csv'");
      for (const column of table.columns) expect(sql).toContain(`"${column.name}"`);
    }
  });
});
