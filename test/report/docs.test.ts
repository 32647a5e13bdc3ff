import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ATHENA, DEFAULT_SLA, DUCKDB, reportQueries } from '../../lambda/report/sql.js';

const doc = () => readFile(new URL('../../docs/analytics.md', import.meta.url), 'utf8');

/** The parameters the page's Athena text was generated with. */
const DOC_PARAMS = {
  asOf: '2025-06-30T00:00:00.000Z',
  days: 90,
  sla: DEFAULT_SLA,
  staleDays: 30,
  top: 10,
  breachRows: 200,
};

describe("docs/analytics.md: the report's SQL", () => {
  it('holds every report query, Athena form, verbatim', async () => {
    const text = await doc();
    for (const [name, sql] of Object.entries(reportQueries(ATHENA, DOC_PARAMS))) {
      expect(text, name).toContain(`\`\`\`sql athena:report-${name}\n${sql};\n\`\`\``);
    }
  });

  it('differs from the DuckDB form only in the day series and the percentile', () => {
    const athena = reportQueries(ATHENA, DOC_PARAMS);
    const duckdb = reportQueries(DUCKDB, DOC_PARAMS);
    for (const name of Object.keys(athena) as Array<keyof typeof athena>) {
      const strip = (sql: string) =>
        sql
          .replace(
            /\(SELECT (CAST\()?t\.day.*? FROM UNNEST\((generate_series|sequence)\(.*?\)\) AS t\(day\)\)/g,
            'DAYS',
          )
          .replace(/(quantile_cont|approx_percentile)\(/g, 'PERCENTILE(');
      expect(strip(athena[name]), name).toBe(strip(duckdb[name]));
    }
  });
});
