import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DUCKDB_TYPES, EXPORT_TABLES } from '../../lambda/export/schema.js';

const doc = () => readFile(new URL('../../docs/analytics.md', import.meta.url), 'utf8');

describe('docs/analytics.md', () => {
  it('documents every column of every table with its type and nullability, in schema order', async () => {
    const text = await doc();
    for (const table of EXPORT_TABLES) {
      const start = text.indexOf(`### \`${table.name}\``);
      expect(start, `section of ${table.name}`).toBeGreaterThan(-1);
      const next = text.indexOf('\n#', start + 1);
      const section = text.slice(start, next === -1 ? undefined : next);
      const documented = [...section.matchAll(/^\| `([a-z_]+)` \| ([A-Z]+) \| (yes|no) \|/gm)].map((m) => [
        m[1],
        m[2],
        m[3],
      ]);
      expect(documented).toEqual(
        table.columns.map((column) => [
          column.name,
          DUCKDB_TYPES[column.type],
          column.nullable ? 'yes' : 'no',
        ]),
      );
      expect(section).toContain(table.key.map((k) => `\`${k}\``).join(' + '));
    }
  });

  it('gives five example questions on DuckDB, and Athena forms where the dialect differs', async () => {
    const text = await doc();
    const duckdb = [...text.matchAll(/```sql duckdb:(q\d)/g)].map((m) => m[1]);
    expect(duckdb).toEqual(['q1', 'q2', 'q3', 'q4', 'q5']);
    expect(text).toContain('```sql athena:q1');
  });
});
