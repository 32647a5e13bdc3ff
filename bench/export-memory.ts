/**
 * Export memory: peak RSS of `exportTables` over a synced dataset of 20,000 images (target < 256 MB).
 *
 *   npx tsx bench/export-memory.ts [--images 20000] [--format parquet|ndjson|csv|all] [--segments 4]
 *     [--endpoint http://127.0.0.1:8000 --prefix bench [--skip-load]]   (reuse a running DynamoDB Local)
 *
 * Starts an in-memory DynamoDB Local, syncs the images through the store's public API (simulator
 * reports, real normalizer, three findings per report on average more than a toy dataset: the
 * simulator's default shapes), then runs each export in a fresh child process and reports the
 * child's peak RSS (`process.resourceUsage().maxRSS`), so the loading never counts. The dataset is
 * written once; loading dominates the wall time (DynamoDB Local writes a few thousand items/s).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { exportTables } from '../lambda/export/index.js';
import { EXPORT_FORMATS, type ExportFormat } from '../lambda/export/writers.js';
import { normalizeReport } from '../lambda/normalize/index.js';
import { createStores, createTables } from '../lambda/store/index.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { generateReport, imageSlot } from '../simulator/generator.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    format: { type: 'string', default: 'all' },
    segments: { type: 'string', default: '4' },
    child: { type: 'boolean', default: false },
    'skip-load': { type: 'boolean', default: false },
    endpoint: { type: 'string' },
    prefix: { type: 'string' },
    out: { type: 'string' },
  },
});

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const documentClient = (endpoint: string) =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }), {
    marshallOptions: { removeUndefinedValues: true },
  });

/** Child mode: one export, then its figures as one JSON line on stdout. */
async function runChild(): Promise<void> {
  const format = values.format as ExportFormat;
  const result = await exportTables({
    client: documentClient(values.endpoint ?? ''),
    tablePrefix: values.prefix ?? '',
    outDir: values.out ?? '',
    format,
    segments: Number(values.segments),
  });
  process.stdout.write(
    `${JSON.stringify({
      format,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      durationMs: result.durationMs,
      itemsRead: result.stats.itemsRead,
      files: result.files.map((f) => ({ table: f.table, rows: f.rows, mb: Math.round(f.bytes / 1e5) / 10 })),
    })}\n`,
  );
}

async function load(
  endpoint: string,
  prefix: string,
  images: number,
): Promise<{ items: number; ms: number }> {
  const started = Date.now();
  const client = documentClient(endpoint);
  await createTables(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }), prefix);
  const stores = createStores({ client, tablePrefix: prefix, consoleId: 'bench', maxConcurrentBatches: 16 });
  const seenAt = '2025-06-02T08:00:00.000Z';
  let items = 0;
  let next = 0;
  const pages = Math.ceil(images / 50);
  // A few pages in flight: DynamoDB Local, not the generator, is the bottleneck.
  const worker = async () => {
    for (let page = next++; page < pages; page = next++) {
      const batch = [];
      for (let index = page * 50; index < Math.min(images, page * 50 + 50); index += 1) {
        const raw = generateReport({ seed: 1, heavyFraction: 0 }, imageSlot(1, index), {
          scanGeneration: 0,
          findingsVersion: 0,
        });
        batch.push({
          normalized: normalizeReport(raw, { consoleId: 'bench' }),
          rawJson: JSON.stringify(raw),
        });
      }
      const { itemsWritten } = await stores.images.writeReports(batch, { runId: 'bench', seenAt });
      items += itemsWritten;
      if (page % 40 === 0)
        process.stderr.write(`loaded ${Math.min(images, (page + 1) * 50)}/${images} images\n`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { items, ms: Date.now() - started };
}

function exportInChild(endpoint: string, prefix: string, format: ExportFormat, out: string): Promise<string> {
  const script = fileURLToPath(import.meta.url);
  const args = ['--import', 'tsx', script, '--child', '--endpoint', endpoint, '--prefix', prefix];
  args.push('--format', format, '--out', out, '--segments', String(values.segments));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout.trim()) : reject(new Error(`export child exited with ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const images = Number(values.images);
  const formats: ExportFormat[] =
    values.format === 'all' ? [...EXPORT_FORMATS] : [values.format as ExportFormat];
  const ddb = values.endpoint ? undefined : await startDynamoDbLocal();
  const endpoint = values.endpoint ?? ddb?.endpoint ?? '';
  const out = await mkdtemp(join(tmpdir(), 'export-bench-'));
  try {
    const prefix = values.prefix ?? 'bench';
    if (!values['skip-load']) {
      const loaded = await load(endpoint, prefix, images);
      process.stderr.write(
        `loaded ${images} images: ${loaded.items} items in ${Math.round(loaded.ms / 1000)} s\n`,
      );
    }
    for (const format of formats) {
      const line = await exportInChild(endpoint, prefix, format, join(out, format));
      process.stdout.write(`${line}\n`);
    }
  } finally {
    await ddb?.stop();
    await rm(out, { recursive: true, force: true });
  }
}

if (values.child) await runChild();
else await main();
