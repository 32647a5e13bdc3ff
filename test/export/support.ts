/**
 * Test helpers for the export: rows that satisfy the schema, an RFC 4180 CSV parser that keeps the
 * difference between null (empty field) and empty text (`""`), and DuckDB queries returning plain JS.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDuckDb } from '../../lambda/export/parquet.js';
import type { CellValue, ExportRow, ExportTableDefinition } from '../../lambda/export/schema.js';

/** A fresh temporary directory. */
export function tempDir(prefix = 'export-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A row of `table` with a plausible value in every column, `seed` making rows distinct. */
export function sampleRow(table: ExportTableDefinition, seed: number, overrides: ExportRow = {}): ExportRow {
  const row: ExportRow = {};
  for (const column of table.columns) {
    let value: CellValue;
    switch (column.type) {
      case 'varchar':
        value = `${column.name}-${seed}`;
        break;
      case 'integer':
        value = seed % 1000;
        break;
      case 'bigint':
        value = seed * 1_000_003;
        break;
      case 'double':
        value = (seed % 100) / 10;
        break;
      case 'boolean':
        value = seed % 2 === 0;
        break;
      case 'timestamp':
        value = new Date(Date.UTC(2024, 0, 1) + seed * 3_600_000).toISOString();
        break;
    }
    row[column.name] = value;
  }
  return { ...row, ...overrides };
}

/**
 * Parses RFC 4180 CSV (CRLF or LF records, `""` escapes, newlines inside quotes). An empty unquoted
 * field becomes null, a quoted one the empty string.
 */
export function parseCsv(text: string): Array<Array<string | null>> {
  const records: Array<Array<string | null>> = [];
  let record: Array<string | null> = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let i = 0;
  const endField = () => {
    record.push(field === '' && !wasQuoted ? null : field);
    field = '';
    wasQuoted = false;
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i += 1;
        continue;
      }
      field += ch;
      i += 1;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      wasQuoted = true;
      i += 1;
    } else if (ch === ',') {
      endField();
      i += 1;
    } else if (ch === '\r' && text[i + 1] === '\n') {
      endField();
      records.push(record);
      record = [];
      i += 2;
    } else if (ch === '\n') {
      endField();
      records.push(record);
      record = [];
      i += 1;
    } else {
      field += ch;
      i += 1;
    }
  }
  if (field !== '' || wasQuoted || record.length > 0) {
    endField();
    records.push(record);
  }
  return records;
}

/** CSV text back to typed rows using the table's column types. */
export function csvToRows(table: ExportTableDefinition, text: string): ExportRow[] {
  const [header, ...records] = parseCsv(text);
  if (!header) return [];
  return records.map((record) => {
    const row: ExportRow = {};
    header.forEach((name, index) => {
      const column = table.columns.find((c) => c.name === name);
      const raw = record[index] ?? null;
      if (!column || raw === null) {
        row[name ?? ''] = raw;
        return;
      }
      row[column.name] =
        column.type === 'boolean'
          ? raw === 'true'
          : column.type === 'integer' || column.type === 'bigint' || column.type === 'double'
            ? Number(raw)
            : raw;
    });
    return row;
  });
}

/** Runs SQL on an in-memory DuckDB and returns rows as JSON-friendly objects (times as text). */
export async function duckQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const duck = await openDuckDb({ memoryLimit: '256MB' });
  try {
    const reader = await duck.connection.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Array<Record<string, unknown>>;
  } finally {
    duck.close();
  }
}
