/**
 * The `export` CLI command, as a function the program registers (`addExportCommand(program, deps)`),
 * and its progress display: a redrawn bar on a TTY, a line per phase otherwise.
 */
import { setFlagsFromString } from 'node:v8';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Command, Option } from 'commander';
import { ConfigError } from '../common/errors.js';
import { type ExportProgress, type ExportResult, exportTables } from './index.js';
import { EXPORT_FORMATS, type ExportFormat } from './writers.js';

export interface ExportCommandDeps {
  out: {
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream & { isTTY?: boolean };
  };
  /** The store to read, from the program's configuration (called when the command runs). */
  store: () => { client: DynamoDBDocumentClient; tablePrefix: string };
  now?: () => Date;
  /** Sets V8 flags of this process (default `v8.setFlagsFromString`); see {@link EXPORT_V8_FLAGS}. */
  setV8Flags?: (flags: string) => void;
}

/**
 * V8 flags the export command sets for its own process before reading. After each full GC, V8 lets the
 * old generation grow to several times the live heap when its heap limit is large (any machine with
 * plenty of RAM). An export's live heap is small (the CLI's modules, one page per Scan segment) but it
 * allocates a great many short-lived objects (the SDK's unmarshalled pages, rows, encoded lines), so
 * the old generation fills with garbage up to that limit and the peak RSS follows it (figures in
 * bench/results.md, "Figures behind code comments"). A factor of 1.5 keeps it near the live heap for a few more, cheap,
 * full GCs, and unlike `--max-old-space-size` caps nothing. Set at run time because V8 reads this flag
 * at every GC, so the command needs no Node option; the process ends with the command, so nothing else
 * runs under it.
 */
export const EXPORT_V8_FLAGS = '--heap-growing-percent=50';

interface ExportCommandOptions {
  out: string;
  format: ExportFormat;
  console?: string;
  since?: string;
  segments: string;
  formulaGuard: boolean;
  json?: boolean;
}

const number = (n: number) => n.toLocaleString('en-US');

/**
 * Renders export progress on stderr: on a TTY a bar redrawn at most every 200 ms (items read against
 * DynamoDB's estimate when known, rows per table); otherwise one line per phase.
 *
 * @example
 * const progress = exportProgressReporter(process.stderr);
 * await exportTables({ ..., onProgress: progress.update });
 * progress.done();
 */
export function exportProgressReporter(
  stderr: NodeJS.WritableStream & { isTTY?: boolean },
  now: () => number = Date.now,
): { update(progress: ExportProgress): void; done(): void } {
  const tty = stderr.isTTY === true;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastPhase: ExportProgress['phase'] | undefined;
  let drawn = false;
  return {
    update(progress) {
      const rows = `images ${number(progress.rows.images)}  findings ${number(progress.rows.findings)}  scans ${number(progress.rows.scans)}  changes ${number(progress.rows.changes)}`;
      if (!tty) {
        if (progress.phase !== lastPhase) {
          stderr.write(`export ${progress.phase}: items ${number(progress.itemsRead)}  ${rows}\n`);
          lastPhase = progress.phase;
        }
        return;
      }
      if (progress.phase === 'reading' && now() - lastDraw < 200) return;
      lastDraw = now();
      const width = 24;
      const ratio =
        progress.phase !== 'reading'
          ? 1
          : progress.estimatedItems
            ? Math.min(1, progress.itemsRead / progress.estimatedItems)
            : 0;
      const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
      const items = progress.estimatedItems
        ? `${number(progress.itemsRead)}/~${number(progress.estimatedItems)}`
        : number(progress.itemsRead);
      const phase = progress.phase === 'converting' ? ' writing files…' : '';
      stderr.write(`\r[${bar}] items ${items}  ${rows}${phase}   `);
      drawn = true;
    },
    done() {
      if (drawn) stderr.write('\n');
    },
  };
}

function summary(result: ExportResult): string {
  const lines = result.files.map(
    (file) =>
      `${file.table.padEnd(9)} ${number(file.rows).padStart(12)} rows  ${(file.bytes / 1e6).toFixed(1).padStart(8)} MB  ${file.path}`,
  );
  const skipped =
    result.stats.orphansSkipped > 0 ? `, ${result.stats.orphansSkipped} orphan items skipped` : '';
  return `${lines.join('\n')}\nread ${number(result.stats.itemsRead)} items by ${result.access} in ${(result.durationMs / 1000).toFixed(1)} s${skipped}\n`;
}

/**
 * Registers `export --out DIR [--format parquet|ndjson|csv] [--console C] [--since T]`.
 *
 * @example
 * addExportCommand(program, { out, store: () => ({ client: createDocumentClient(cfg), tablePrefix: cfg.tablePrefix }) });
 */
export function addExportCommand(program: Command, deps: ExportCommandDeps): Command {
  return program
    .command('export')
    .description(
      'write the tables as flat files for analytics: images, findings, scans, changes (docs/analytics.md)',
    )
    .requiredOption('--out <dir>', 'output directory (created if missing)')
    .addOption(new Option('--format <format>', 'file format').choices([...EXPORT_FORMATS]).default('parquet'))
    .option('--console <id>', 'only this console (Query only; current images)')
    .option('--since <time>', 'only rows the sync wrote at or after this ISO time (Query only)')
    .option('--segments <n>', 'parallel Scan segments of a full export', '4')
    .option('--no-formula-guard', "CSV: keep cells starting with = + - @ as they are (no ' prefix)")
    .option('--json', 'print one JSON document')
    .action(async (opts: ExportCommandOptions) => {
      if (opts.since !== undefined && Number.isNaN(Date.parse(opts.since))) {
        throw new ConfigError(`--since: not an ISO time: "${opts.since}"`);
      }
      const segments = Number(opts.segments);
      if (!Number.isInteger(segments) || segments < 1 || segments > 64) {
        throw new ConfigError(`--segments: expected an integer from 1 to 64, got "${opts.segments}"`);
      }
      (deps.setV8Flags ?? setFlagsFromString)(EXPORT_V8_FLAGS);
      const { client, tablePrefix } = deps.store();
      const progress = exportProgressReporter(deps.out.stderr);
      let result: ExportResult;
      try {
        result = await exportTables({
          client,
          tablePrefix,
          outDir: opts.out,
          format: opts.format,
          segments,
          csv: { formulaGuard: opts.formulaGuard },
          ...(opts.console !== undefined ? { consoleId: opts.console } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
          onProgress: progress.update,
          ...(deps.now ? { now: deps.now } : {}),
        });
      } finally {
        progress.done();
      }
      if (opts.json) deps.out.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else deps.out.stdout.write(summary(result));
    });
}
