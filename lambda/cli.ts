#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import {
  type Output,
  printJson,
  processOutput,
  progressReporter,
  quarantineLines,
  stderrLogger,
  table,
} from './cli/output.js';
import { ConfigError, isSyncError } from './common/errors.js';
import type { Logger } from './common/logger.js';
import { escapeControl } from './common/redact.js';
import {
  type AppConfig,
  type ConfigInput,
  nameSettings,
  parseConfig,
  type ScanOngoingPolicy,
} from './config.js';
import { addExportCommand } from './export/cli.js';
import { fetchScanProgress } from './prisma/index.js';
import { addReportCommand } from './report/cli.js';
import { createTables, type Stores } from './store/index.js';
import { type QuarantineEntry, runSync, type SyncResult, tuneProcessForSync } from './sync/engine.js';
import { consoleClientFor, createDocumentClient, requireConsoleId, storesFor } from './wiring.js';

/**
 * How long `sync` runs at most when `--max-duration` is not given: a console whose pages never end
 * must not hold a run forever. An hour pages about 180,000 images at the console's own rate (50 a
 * second); a larger console finishes over several `sync` calls, each resuming the checkpoint (exit 3
 * until the pass completes; a checkpoint is resumed for 24 hours).
 */
export const DEFAULT_MAX_DURATION = '1h';

/** Exit codes of SPEC §3. */
export const EXIT = { ok: 0, failed: 1, usage: 2, partial: 3 } as const;

/** Flags that override environment variables, one per variable. */
const CONFIG_FLAGS: Array<{ flag: string; env: keyof ConfigInput; description: string }> = [
  {
    flag: '--console-url <url>',
    env: 'PRISMA_CONSOLE_URL',
    description: 'console base URL, path prefix allowed',
  },
  {
    flag: '--api-version <v>',
    env: 'PRISMA_API_VERSION',
    description: 'API version, e.g. v34.04 (v1 = legacy paths)',
  },
  { flag: '--username <name>', env: 'PRISMA_USERNAME', description: 'console user or access key' },
  {
    flag: '--secret-arn <arn>',
    env: 'PRISMA_SECRET_ARN',
    description: 'Secrets Manager secret {"username","password"}',
  },
  { flag: '--ca-bundle <file>', env: 'PRISMA_CA_BUNDLE', description: 'extra CA certificates (PEM file)' },
  { flag: '--table-prefix <prefix>', env: 'SYNC_TABLE_PREFIX', description: 'prefix of every table name' },
  { flag: '--console-id <id>', env: 'PRISMA_CONSOLE_ID', description: "the console's id in the tables" },
  {
    flag: '--max-page-bytes <size>',
    env: 'PRISMA_MAX_PAGE_BYTES',
    description: 'largest decoded console page, e.g. 64MiB (default: 1/16 of the Lambda memory, 64MiB)',
  },
  {
    flag: '--request-timeout <seconds>',
    env: 'PRISMA_REQUEST_TIMEOUT',
    description: 'longest single console request, first byte to last (default 90)',
  },
  {
    flag: '--max-retry-after <seconds>',
    env: 'PRISMA_MAX_RETRY_AFTER',
    description: 'longest Retry-After waited for; longer stops the run partial (default 120)',
  },
  { flag: '--region <region>', env: 'AWS_REGION', description: 'AWS region' },
  {
    flag: '--endpoint <url>',
    env: 'AWS_ENDPOINT_URL_DYNAMODB',
    description: 'DynamoDB endpoint (e.g. DynamoDB Local)',
  },
];

function attributeName(flag: string): string {
  const name = flag.split(' ')[0]?.replace(/^--/, '') ?? '';
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Environment overlaid with the global flags; the password is deliberately env-only (no shell history). */
function configInput(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): ConfigInput {
  const input: ConfigInput = {};
  for (const key of Object.keys(env)) (input as Record<string, string | undefined>)[key] = env[key];
  for (const { flag, env: variable } of CONFIG_FLAGS) {
    const value = flags[attributeName(flag)];
    if (typeof value === 'string') input[variable] = value;
  }
  if (flags.insecureTls === true) input.PRISMA_INSECURE_TLS = '1';
  if (flags.allowHttp === true) input.PRISMA_ALLOW_HTTP = '1';
  return input;
}

function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match)
    throw new ConfigError(`--max-duration: expected a duration like 90s, 10m or 1h, got "${value}"`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}

/** What the CLI may change in its own process; tests pass a recorder instead. */
export interface ShellHooks {
  /** Sets V8 flags of this process (default `v8.setFlagsFromString`); see `SYNC_V8_FLAGS`. */
  setV8Flags?: (flags: string) => void;
  /** The `sync` ceiling without `--max-duration` (default `DEFAULT_MAX_DURATION`); tests shorten it. */
  defaultMaxDuration?: string;
}

interface Context {
  out: Output;
  env: NodeJS.ProcessEnv;
  exitCode: number;
  hooks: ShellHooks;
}

/**
 * Builds the `prisma-registry-sync` program. Commands set `context.exitCode`; nothing calls
 * `process.exit` here, so tests can run the program in-process.
 */
export function buildProgram(context: Context): Command {
  const { out } = context;
  const program = rootCommand(out);
  const config: ConfigFor = (needConsole) =>
    parseConfig(configInput(context.env, program.opts()), { needConsole });
  const logger = () => stderrLogger(out, { verbose: program.opts().verbose === true });

  addTablesCommand(program, out, config);
  addSyncCommand(program, context, config, logger);
  addProgressCommand(program, out, config, logger);
  addQueryCommands(program, context, config);
  // Flat files for analytics (docs/analytics.md); DuckDB loads only when a Parquet file is written.
  const store = () => {
    const cfg = config(false);
    return { client: createDocumentClient(cfg), tablePrefix: cfg.tablePrefix };
  };
  addExportCommand(program, { out, store });
  addReportCommand(program, { out, store });
  addLocalCommands(program, context);
  return program;
}

/** The configuration of a command; `needConsole` when it talks to the console. */
type ConfigFor = (needConsole: boolean) => AppConfig;

/** The program with its global options: the configuration flags, `--verbose`, the two dangerous switches. */
function rootCommand(out: Output): Command {
  const program = new Command('prisma-registry-sync')
    .description(
      'Keep a DynamoDB copy of every registry image scan report of a Prisma Cloud Compute console.\n' +
        'Configuration comes from environment variables (PRISMA_CONSOLE_URL, PRISMA_USERNAME, PRISMA_PASSWORD, ...);\n' +
        'each also has a flag below. The password is read from PRISMA_PASSWORD only.',
    )
    .option('-v, --verbose', 'log progress details to stderr')
    .addOption(new Option('--insecure-tls', 'DANGEROUS: do not verify the console TLS certificate'))
    .addOption(
      new Option('--allow-http', 'DANGEROUS: send the console credentials over plain http:// (not loopback)'),
    )
    .configureOutput({
      writeOut: (s) => out.stdout.write(s),
      writeErr: (s) => out.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const { flag, description } of CONFIG_FLAGS) program.option(flag, description);
  return program;
}

/** `tables create`. */
function addTablesCommand(program: Command, out: Output, config: ConfigFor): void {
  const tables = program.command('tables').description('manage the DynamoDB tables');
  tables
    .command('create')
    .description('create the tables on the configured endpoint (idempotent)')
    .option('--json', 'print one JSON document')
    .option('--no-streams', 'leave the images stream off (DynamoDB Local with no stream consumer)')
    .action(async (opts: { json?: boolean; streams: boolean }) => {
      const cfg = config(false);
      const documentClient = createDocumentClient(cfg);
      const result = await createTables(documentClient, cfg.tablePrefix, { streams: opts.streams });
      if (opts.json) printJson(out, result);
      else
        out.stdout.write(
          `tables created: ${result.created.join(', ') || '-'}; already there: ${result.existing.join(', ') || '-'}\n`,
        );
    });
}

/** `progress`: the console's registry scan progress. */
function addProgressCommand(program: Command, out: Output, config: ConfigFor, logger: () => Logger): void {
  program
    .command('progress')
    .description("the console's registry scan progress")
    .option('--json', 'print one JSON document')
    .action(async (opts: { json?: boolean }) => {
      const cfg = config(true);
      const client = await consoleClientFor(cfg, logger());
      try {
        const progress = await fetchScanProgress(client);
        if (opts.json) printJson(out, progress);
        else if (progress.length === 0) out.stdout.write('no registry scan reported\n');
        else for (const p of progress as Array<Record<string, unknown>>) out.stdout.write(progressLine(p));
      } finally {
        await client.close();
      }
    });
}

function progressLine(p: Record<string, unknown>): string {
  const step = (s: unknown) => {
    const o = (s ?? {}) as Record<string, unknown>;
    return `${o.scanned ?? 0}/${o.total ?? 0}${o.title ? ` (${String(o.title)})` : ''}`;
  };
  return `scan ongoing: ${p.isScanOngoing === true ? 'yes' : 'no'}; discovery ${step(p.discovery)}; images ${step(p.imageScan)}\n`;
}

/** `sync`: one pass of the engine, resumed from a checkpoint unless `--fresh`. */
function addSyncCommand(program: Command, context: Context, config: ConfigFor, logger: () => Logger): void {
  program
    .command('sync')
    .description('run one sync pass; resumes an unfinished run unless --fresh')
    .option(
      '--max-duration <duration>',
      `stop cleanly with a checkpoint before this long (e.g. 10m; default ${DEFAULT_MAX_DURATION}); exit 3, the next sync resumes`,
    )
    .option('--fresh', 'start a new pass even if an unfinished run has a checkpoint')
    .addOption(
      new Option('--when-scan-ongoing <policy>', 'what to do while the console scans its registries').choices(
        ['wait', 'skip', 'proceed'],
      ),
    )
    .option('--json', 'print one JSON document with the run figures')
    .action((opts: SyncOptions) => runSyncCommand(context, config(true), logger(), opts));
}

interface SyncOptions {
  maxDuration?: string;
  fresh?: boolean;
  whenScanOngoing?: ScanOngoingPolicy;
  json?: boolean;
}

async function runSyncCommand(
  context: Context,
  cfg: AppConfig,
  log: Logger,
  opts: SyncOptions,
): Promise<void> {
  const { out } = context;
  tuneProcessForSync(context.hooks.setV8Flags);
  const maxDurationMs = parseDuration(
    opts.maxDuration ?? context.hooks.defaultMaxDuration ?? DEFAULT_MAX_DURATION,
  );
  const consoleId = requireConsoleId(cfg);
  const deadline = Date.now() + maxDurationMs;
  const client = await consoleClientFor(cfg, log, { deadline: () => deadline });
  const progress = opts.json ? undefined : progressReporter(out);
  try {
    const result = await runSync(
      { client, stores: storesFor(cfg, consoleId), consoleId, logger: log },
      {
        trigger: 'cli',
        fresh: opts.fresh === true,
        whenScanOngoing: opts.whenScanOngoing ?? cfg.whenScanOngoing,
        deadline,
        ...(progress ? { onProgress: (p) => progress.update(p) } : {}),
      },
    );
    progress?.done();
    if (opts.json) printJson(out, result);
    else out.stdout.write(syncSummary(result) + quarantineLines(result.quarantine, result.quarantined));
    context.exitCode = result.status === 'partial' ? EXIT.partial : EXIT.ok;
  } finally {
    progress?.done();
    await client.close();
  }
}

/** The one line `sync` prints for a finished run. */
function syncSummary(result: SyncResult): string {
  return (
    `${result.status}: run ${result.runId}${result.resumed ? ' (resumed)' : ''}: ${result.images} images in ${result.pages} pages, ` +
    `${result.requests} requests (${result.throttled} throttled, ${result.retries} retries), ` +
    `${result.written} items written, ${result.unchanged} unchanged, ${result.removed} removed, ` +
    `${result.quarantined} quarantined, ` +
    `${(result.durationMs / 1000).toFixed(1)} s${result.reason ? ` — ${escapeControl(nameSettings(result.reason), { newlines: false })}` : ''}\n`
  );
}

function addQueryCommands(program: Command, context: Context, config: ConfigFor): void {
  const { out } = context;
  const query = program
    .command('query')
    .description('ask the tables (Query/GetItem only, never a Scan)')
    .option('--console <id>', 'console id, when the tables hold more than one');
  const storesOf = () => {
    const cfg = config(false);
    const consoleId = requireConsoleId(cfg, query.opts().console as string | undefined);
    return storesFor(cfg, consoleId).queries;
  };
  addImageQueries(query, context, storesOf);

  query
    .command('images')
    .description('images currently known (not removed)')
    .option('--registry <registry>', 'only this registry')
    .option('--repo <repo>', 'only this repository')
    .option('--json', 'print one JSON document')
    .action(async (opts: { registry?: string; repo?: string; json?: boolean }) => {
      const images = await collect(storesOf().images({ registry: opts.registry, repo: opts.repo }));
      printRows(out, images, opts.json, ['registry', 'repo', 'tag', 'digest', 'scanTime']);
    });

  query
    .command('cve <id>')
    .description('images currently affected by one vulnerability')
    .option('--json', 'print one JSON document')
    .action(async (id: string, opts: { json?: boolean }) => {
      const rows = await storesOf().cve(id);
      printRows(out, rows, opts.json, [
        'registry',
        'repo',
        'tag',
        'packageName',
        'packageVersion',
        'severity',
      ]);
    });

  query
    .command('changes')
    .description('findings that appeared or were resolved since a time')
    .requiredOption('--since <time>', 'ISO time, e.g. 2026-11-01T00:00:00Z')
    .option('--json', 'print one JSON document')
    .action(async (opts: { since: string; json?: boolean }) => {
      if (Number.isNaN(Date.parse(opts.since)))
        throw new ConfigError(`--since: not an ISO time: "${opts.since}"`);
      const rows = await storesOf().changes(new Date(opts.since).toISOString());
      printRows(out, rows, opts.json, ['at', 'change', 'id', 'registry', 'repo', 'tag']);
    });

  addRunsQuery(query, out, storesOf);
}

/** `query runs`: recent runs, then what each quarantined and why it skipped a sweep. */
function addRunsQuery(query: Command, out: Output, storesOf: () => Stores['queries']): void {
  query
    .command('runs')
    .description('recent sync runs with their figures')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print one JSON document')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number.parseInt(opts.limit, 10);
      if (!Number.isInteger(limit) || limit < 1)
        throw new ConfigError(`--limit: expected a positive integer, got "${opts.limit}"`);
      const rows = await storesOf().runs(limit);
      printRows(out, rows, opts.json, [
        'runId',
        'status',
        'images',
        'pages',
        'requests',
        'throttled',
        'written',
        'quarantined',
        'durationMs',
      ]);
      for (const run of rows) out.stdout.write(runNotes(run));
    });
}

/** A run's quarantine list and skipped sweep, if any, as printed under `query runs`. */
function runNotes(run: Awaited<ReturnType<Stores['queries']['runs']>>[number]): string {
  let text = '';
  const listed = Array.isArray(run.quarantine) ? (run.quarantine as QuarantineEntry[]) : [];
  if (listed.length > 0) {
    text += `\nrun ${run.runId}: ${quarantineLines(listed, Number(run.quarantined ?? listed.length))}`;
  }
  if (typeof run.sweepSkipped === 'string') {
    text += `run ${run.runId}: ${escapeControl(run.sweepSkipped, { newlines: false })}\n`;
  }
  return text;
}

/** `query image` and `query history`: one image, named by registry, repository and tag. */
function addImageQueries(query: Command, context: Context, storesOf: () => Stores['queries']): void {
  const { out } = context;
  const imageKey = (o: { registry?: string; repo: string; tag: string }) => ({
    registry: o.registry ?? '',
    repo: o.repo,
    tag: o.tag,
  });

  query
    .command('image')
    .description('current state of one image with its open findings')
    .option('--registry <registry>', 'registry host ("" for Docker Hub)', '')
    .requiredOption('--repo <repo>', 'repository, e.g. library/alpine')
    .requiredOption('--tag <tag>', 'tag, e.g. 3.19')
    .option('--json', 'print one JSON document')
    .action(async (opts: { registry?: string; repo: string; tag: string; json?: boolean }) => {
      const image = await storesOf().image(imageKey(opts));
      if (!image) {
        out.stderr.write(`no such image: ${opts.registry ?? ''}/${opts.repo}:${opts.tag}\n`);
        context.exitCode = EXIT.failed;
        if (opts.json) printJson(out, null);
        return;
      }
      if (opts.json) return printJson(out, image);
      const c = image.vulnerabilityCounts;
      out.stdout.write(
        `${image.registry}/${image.repo}:${image.tag}${image.removed ? ' (removed)' : ''}\n` +
          `digest ${image.digest ?? '-'}  scanned ${image.scanTime ?? '-'}\n` +
          `vulnerabilities: ${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low (${c.total})\n`,
      );
      printRows(out, image.findings, false, [
        'id',
        'severity',
        'cvss',
        'packageName',
        'packageVersion',
        'status',
        'firstSeen',
      ]);
    });

  query
    .command('history')
    .description("one image's scans over time")
    .option('--registry <registry>', 'registry host ("" for Docker Hub)', '')
    .requiredOption('--repo <repo>', 'repository')
    .requiredOption('--tag <tag>', 'tag')
    .option('--json', 'print one JSON document')
    .action(async (opts: { registry?: string; repo: string; tag: string; json?: boolean }) => {
      const rows = await storesOf().history(imageKey(opts));
      printRows(out, rows, opts.json, ['scanTime', 'digest', 'vulnerabilityCounts']);
    });
}

/** Prints `rows` as one JSON document or as a table of `columns`. */
function printRows(out: Output, rows: readonly object[], json: boolean | undefined, columns: string[]): void {
  if (json) printJson(out, rows);
  else out.stdout.write(table(rows as unknown as Array<Record<string, unknown>>, columns));
}

function addLocalCommands(program: Command, context: Context): void {
  program
    .command('simulate')
    .description(
      'serve the console simulator (credentials from PRISMA_USERNAME/PRISMA_PASSWORD, else demo/demo)',
    )
    .option('--port <n>', 'port (default: a free one)')
    .option('--images <n>', 'how many images', '200')
    .option('--seed <s>', 'generator seed', '1')
    .option('--unthrottled', "switch off the console's rate limit (30 requests / 30 s)")
    .action(async (opts: { port?: string; images: string; seed: string; unthrottled?: boolean }) => {
      const { runSimulatorCommand } = await import('../simulator/main.js');
      const port = opts.port === undefined ? undefined : Number.parseInt(opts.port, 10);
      const images = Number.parseInt(opts.images, 10);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
        throw new ConfigError(`--port: not a port: "${opts.port}"`);
      if (!Number.isInteger(images) || images < 0)
        throw new ConfigError(`--images: expected a whole number, got "${opts.images}"`);
      await runSimulatorCommand({ port, images, seed: opts.seed, unthrottled: opts.unthrottled === true });
    });

  program
    .command('demo')
    .description('the `npm start` demo: simulator + embedded DynamoDB Local, a full sync, and a report')
    .option('--images <n>', 'how many simulated images', '300')
    .option('--report <file>', 'where to write the posture report', 'demo-report.html')
    .action(async (opts: { images: string; report: string }) => {
      const { runDemo } = await import('./cli/demo.js');
      tuneProcessForSync(context.hooks.setV8Flags);
      const images = Number.parseInt(opts.images, 10);
      context.exitCode = await runDemo({ out: context.out, images, report: opts.report });
    });
}

async function collect<T>(source: AsyncIterable<T> | Promise<T[]> | T[]): Promise<T[]> {
  if (Symbol.asyncIterator in Object(source)) {
    const rows: T[] = [];
    for await (const row of source as AsyncIterable<T>) rows.push(row);
    return rows;
  }
  return await (source as Promise<T[]>);
}

/** Runs the CLI and returns its exit code (SPEC §3): 0 done, 1 failed, 2 usage/config, 3 partial. */
export async function main(
  argv: string[],
  out: Output = processOutput,
  env: NodeJS.ProcessEnv = process.env,
  hooks: ShellHooks = {},
): Promise<number> {
  const context: Context = { out, env, exitCode: EXIT.ok, hooks };
  const program = buildProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    // Error text may carry console text: never let it drive the terminal.
    const message = escapeControl(nameSettings(error instanceof Error ? error.message : String(error)), {
      newlines: false,
    });
    if (isSyncError(error, 'config') || isSyncError(error, 'client.auth')) {
      out.stderr.write(`error: ${message}\n`);
      return isSyncError(error, 'config') ? EXIT.usage : EXIT.failed;
    }
    const code = isSyncError(error) ? ` [${error.code}]` : '';
    out.stderr.write(`error${code}: ${message}\n`);
    return EXIT.failed;
  }
}

const invokedDirectly = (() => {
  try {
    return (
      process.argv[1] !== undefined &&
      realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
