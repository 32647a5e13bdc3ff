/**
 * Report memory: peak RSS of the `report` command over the stored data of 20,000 images (target < 256 MB).
 *
 *   npx tsx bench/report-memory.ts [--images 20000] [--format html|json|md]
 *
 * The data is what the export bench serves (bench/export-memory.ts `--serve`: a local HTTP server
 * speaking DynamoDB's protocol with the items a first sync of 20,000 simulator images stores, 480,340
 * items). Two runs, each as users run it, a fresh process whose peak RSS (the kernel's maxRSS, written on
 * exit by a one-line hook preloaded with `--import`) is the figure:
 *
 * 1. `report --out FILE`: reads the tables (the export, to Parquet in a temporary directory), runs the
 *    report's SQL on DuckDB, renders the charts with Vega, writes the page;
 * 2. `report --from DIR --out FILE` over the Parquet files of a previous `export`: the queries and the
 *    page alone.
 *
 * Also reported: CPU and wall time, and the report's tiles (so a run that read nothing cannot pass).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    format: { type: 'string', default: 'html' },
  },
});

const BIN = fileURLToPath(new URL('../bin/prisma-registry-sync.js', import.meta.url));
const EXPORT_BENCH = fileURLToPath(new URL('./export-memory.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));

/** Preloaded into the measured process: on exit, its own resource usage as JSON on fd 3. */
const RUSAGE_HOOK = [
  'data:text/javascript,',
  'import { writeSync } from "node:fs";',
  'process.on("exit", () => writeSync(3, JSON.stringify(process.resourceUsage())));',
].join('');

interface RunFigures {
  run: string;
  peakRssMb: number;
  cpuSeconds: number;
  wallSeconds: number;
  stdout: string;
}

/** Starts the export bench's fake DynamoDB table; resolves with its endpoint and the server process. */
function serveTables(images: number): Promise<{ endpoint: string; child: ChildProcess }> {
  const child = spawn(TSX, [EXPORT_BENCH, '--serve', '--images', String(images)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the table server exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = /^(http:\/\/\S+)\n/m.exec(out)?.[1];
      if (line) resolve({ endpoint: line, child });
    });
  });
}

/** Runs the CLI in a fresh process with the rusage hook; its figures. */
function measure(run: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunFigures> {
  const started = Date.now();
  const childEnv = { ...env };
  delete childEnv.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', RUSAGE_HOOK, BIN, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let usage = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      usage += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${run} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      const rusage = JSON.parse(usage) as NodeJS.ResourceUsage;
      resolve({
        run,
        peakRssMb: Math.round(rusage.maxRSS / 1024),
        cpuSeconds: Math.round((rusage.userCPUTime + rusage.systemCPUTime) / 1e5) / 10,
        wallSeconds: Math.round((Date.now() - started) / 100) / 10,
        stdout,
      });
    });
  });
}

async function main(): Promise<void> {
  const images = Number(values.images);
  const format = values.format ?? 'html';
  const { endpoint, child } = await serveTables(images);
  const work = await mkdtemp(join(tmpdir(), 'report-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SYNC_TABLE_PREFIX: 'bench',
  };
  try {
    process.stdout.write(`images=${images} format=${format} source=fake-dynamodb-http\n`);
    const out = join(work, `report.${format}`);
    const full = await measure(
      'report (tables → export → SQL → page)',
      ['report', '--out', out, '--format', format, '--json'],
      env,
    );
    const summary = JSON.parse(full.stdout) as { bytes: number; tiles: Record<string, number> };
    process.stdout.write(
      `${JSON.stringify({ run: full.run, peakRssMb: full.peakRssMb, cpuSeconds: full.cpuSeconds, wallSeconds: full.wallSeconds, bytes: summary.bytes, tiles: summary.tiles })}\n`,
    );

    const exported = join(work, 'export');
    await measure('export', ['export', '--out', exported, '--format', 'parquet', '--json'], env);
    const fromOut = join(work, `from.${format}`);
    const from = await measure(
      'report --from (SQL → page)',
      ['report', '--from', exported, '--out', fromOut, '--format', format, '--json'],
      env,
    );
    process.stdout.write(
      `${JSON.stringify({ run: from.run, peakRssMb: from.peakRssMb, cpuSeconds: from.cpuSeconds, wallSeconds: from.wallSeconds, bytes: (await stat(fromOut)).size })}\n`,
    );
  } finally {
    child.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

await main();
