/**
 * The `report` CLI command, as a function the program registers (`addReportCommand(program, deps)`).
 * The report's modules (DuckDB, Vega) load only when the command runs.
 */
import { setFlagsFromString } from 'node:v8';
import { type Command, Option } from 'commander';
import { ConfigError } from '../common/errors.js';
import { EXPORT_V8_FLAGS, type ExportCommandDeps } from '../export/cli.js';
import { DEFAULT_SLA, type SlaDays } from './sql.js';

/** What the `report` command gets, as the `export` command: output streams, the store to read, a clock, the V8 flag setter. */
export type ReportCommandDeps = ExportCommandDeps;

interface ReportCommandOptions {
  out: string;
  format: 'html' | 'json' | 'md';
  console?: string;
  from?: string;
  days: string;
  sla?: string;
  staleDays: string;
  json?: boolean;
}

const wholeNumber = (flag: string, value: string, max: number): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max)
    throw new ConfigError(`${flag}: expected a whole number from 1 to ${max}, got "${value}"`);
  return n;
};

/**
 * Registers `report --out FILE [--format html|json|md] [--console C] [--days N] [--sla ...]`.
 *
 * @example
 * addReportCommand(program, { out, store: () => ({ client, tablePrefix }) });
 */
export function addReportCommand(program: Command, deps: ReportCommandDeps): Command {
  return program
    .command('report')
    .description(
      'the posture report: trends, time to fix, SLA breaches, top vulnerabilities, riskiest repositories (docs/analytics.md)',
    )
    .requiredOption('--out <file>', 'file to write')
    .addOption(new Option('--format <format>', 'file format').choices(['html', 'json', 'md']).default('html'))
    .option('--console <id>', 'only this console (current images)')
    .option('--from <dir>', 'report on the files of an earlier `export` instead of reading the tables')
    .option('--days <n>', 'days of the trend, ending today (UTC)', '90')
    .option('--sla <limits>', 'days a finding may stay open, e.g. critical=15,high=30,medium=90,low=180')
    .option('--stale-days <n>', 'an image whose last scan is older than this is stale', '30')
    .option('--json', 'print a JSON summary (path, format, tiles) instead of a line')
    .action(async (opts: ReportCommandOptions) => {
      const days = wholeNumber('--days', opts.days, 3660);
      const staleDays = wholeNumber('--stale-days', opts.staleDays, 36_600);
      if (opts.from !== undefined && opts.console !== undefined)
        throw new ConfigError('--from and --console: pick one (an export is already one set of consoles)');
      const { writeReport } = await import('./index.js');
      const sla = opts.sla === undefined ? undefined : parseSla(opts.sla);
      // Same reason as the export command: keep V8's old generation near the live heap while reading.
      (deps.setV8Flags ?? setFlagsFromString)(EXPORT_V8_FLAGS);
      const source =
        opts.from !== undefined
          ? ({ kind: 'export', dir: opts.from } as const)
          : ({
              kind: 'store',
              ...deps.store(),
              ...(opts.console !== undefined ? { consoleId: opts.console } : {}),
            } as const);
      const result = await writeReport({
        source,
        out: opts.out,
        format: opts.format,
        days,
        staleDays,
        ...(sla ? { sla } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      });
      if (opts.json) {
        deps.out.stdout.write(
          `${JSON.stringify({ path: result.path, format: result.format, bytes: result.bytes, durationMs: result.durationMs, tiles: result.data.tiles }, null, 2)}\n`,
        );
      } else {
        const t = result.data.tiles;
        deps.out.stdout.write(
          `report written: ${result.path} (${result.format}, ${(result.bytes / 1024).toFixed(0)} KB): ${t.images} images, ${t.openFindings} open findings (${t.critical} critical), ${t.slaBreaches} SLA breaches\n`,
        );
      }
    });
}

/**
 * Parses `critical=15,high=30,medium=90,low=180` (any subset; the rest keep their defaults).
 *
 * @example
 * parseSla('critical=7'); // { critical: 7, high: 30, medium: 90, low: 180 }
 */
export function parseSla(value: string, base: SlaDays = DEFAULT_SLA): SlaDays {
  const sla = { ...base };
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const match = /^(critical|high|medium|low)=(\d{1,5})$/.exec(part);
    if (!match?.[1] || !match[2]) {
      throw new ConfigError(`--sla: expected severity=days pairs like critical=15,high=30, got "${part}"`, {
        part,
      });
    }
    sla[match[1] as keyof SlaDays] = Number(match[2]);
  }
  return sla;
}
