/**
 * Export memory: peak RSS of `exportTables` over the stored data of 20,000 images (target < 256 MB).
 *
 *   npx tsx bench/export-memory.ts [--images 20000] [--format parquet|ndjson|csv|all] [--segments 4]
 *   npx tsx bench/export-memory.ts --dynamodb-local --images 1000     (through DynamoDB Local instead)
 *   npx tsx bench/export-memory.ts --serve --images 20000            (only serve the fake table)
 *
 * Each export runs in a fresh child process that reports its own peak RSS
 * (`process.resourceUsage().maxRSS`), so loading and serving never count.
 *
 * Data source. By default, a local HTTP server speaking DynamoDB's JSON protocol (Scan with
 * Segment/TotalSegments/Limit/ExclusiveStartKey, DescribeTable, GetItem) serves the items the store
 * writes on a first sync: simulator reports, the real normalizer, the store's own item builders
 * (image, findings, history, change feed), generated on the fly per page. The export talks to it
 * with the real SDK over real HTTP, so parsing costs are the real ones. Why not DynamoDB Local: on a
 * shared 2-core machine it loads a few hundred items per second at best, i.e. hours for 20,000 images;
 * `--dynamodb-local` still runs the whole path (sync through the store, then export) for smaller sizes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { NormalizedReport } from '../lambda/common/records.js';
import { exportTables } from '../lambda/export/index.js';
import { EXPORT_FORMATS, type ExportFormat } from '../lambda/export/writers.js';
import { normalizeReport } from '../lambda/normalize/index.js';
import { createStores, createTables } from '../lambda/store/index.js';
import { type Item, toChangeItem, toFindingItem, toHistoryItem, toImageItem } from '../lambda/store/items.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { generateReport, imageSlot } from '../simulator/generator.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    format: { type: 'string', default: 'all' },
    segments: { type: 'string', default: '4' },
    'dynamodb-local': { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    endpoint: { type: 'string' },
    prefix: { type: 'string' },
    out: { type: 'string' },
  },
});

const SEED = 1;
const CONSOLE_ID = 'bench';
const SEEN_AT = '2025-06-02T08:00:00.000Z';
const RUN_ID = 'bench-run';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const documentClient = (endpoint: string) =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }), {
    marshallOptions: { removeUndefinedValues: true },
  });

function normalizedImage(index: number): { normalized: NormalizedReport; rawJson: string } {
  const raw = generateReport({ seed: SEED, heavyFraction: 0 }, imageSlot(SEED, index), {
    scanGeneration: 0,
    findingsVersion: 0,
  });
  return { normalized: normalizeReport(raw, { consoleId: CONSOLE_ID }), rawJson: JSON.stringify(raw) };
}

/** The last few images' items: a page boundary inside an image must not generate it twice. */
const recentItems = new Map<number, Item[]>();

/** The items a first sync stores for image `index`, in the order a Scan returns them. */
function storedItems(index: number): Item[] {
  const cached = recentItems.get(index);
  if (cached) return cached;
  const items = generateStoredItems(index);
  recentItems.set(index, items);
  if (recentItems.size > 32) recentItems.delete(recentItems.keys().next().value as number);
  return items;
}

function generateStoredItems(index: number): Item[] {
  const { normalized, rawJson } = normalizedImage(index);
  const { identity, scanTime, contentHash } = normalized.image;
  const observedAt = scanTime ?? SEEN_AT;
  const raw = {
    contentHash,
    sha256: createHash('sha256').update(rawJson).digest('hex'),
    chunks: 1,
    byteLength: rawJson.length,
  };
  const findings = normalized.findings
    .map((finding) => toFindingItem(identity, finding, { firstSeen: observedAt, occurrences: 1 }, SEEN_AT))
    .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1));
  const changes = normalized.findings.map((finding) =>
    toChangeItem({
      consoleId: CONSOLE_ID,
      image: { registry: identity.registry, repo: identity.repo, tag: identity.tag },
      finding,
      change: 'new',
      at: SEEN_AT,
      observedAt,
      runId: RUN_ID,
    }),
  );
  return [
    ...findings,
    toHistoryItem(normalized, { observedAt, seenAt: SEEN_AT, runId: RUN_ID, raw }),
    toImageItem(normalized, { observedAt, seenAt: SEEN_AT, runId: RUN_ID, firstSeenAt: observedAt, raw }),
    ...changes,
  ];
}

/**
 * A DynamoDB stand-in for one `images` table of `images` images: Scan pages are generated on demand
 * (image i belongs to segment i % TotalSegments), so nothing is held beyond one image per request.
 */
async function startFakeDynamoDb(images: number): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const respond = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const target = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (target === 'DescribeTable') {
      respond(res, 200, {
        Table: { TableName: input.TableName, TableStatus: 'ACTIVE', ItemCount: images * 25 },
      });
      return;
    }
    if (target === 'GetItem') {
      respond(res, 200, {});
      return;
    }
    if (target !== 'Scan') {
      respond(res, 400, {
        __type: 'com.amazon.coral.validate#ValidationException',
        message: `unsupported ${target}`,
      });
      return;
    }
    const total = Number(input.TotalSegments ?? 1);
    const segment = Number(input.Segment ?? 0);
    const limit = Number(input.Limit ?? 1000);
    const start = (input.ExclusiveStartKey as { sk?: { S?: string } } | undefined)?.sk?.S ?? `${segment}:0`;
    let [index = segment, offset = 0] = start.split(':').map(Number);
    const page: Item[] = [];
    while (page.length < limit && index < images) {
      const items = storedItems(index);
      const taken = items.slice(offset, offset + limit - page.length);
      page.push(...taken);
      offset += taken.length;
      if (offset >= items.length) {
        index += total;
        offset = 0;
      }
    }
    respond(res, 200, {
      Items: page.map((item) => marshall(item, { removeUndefinedValues: true })),
      Count: page.length,
      ScannedCount: page.length,
      ...(index < images
        ? { LastEvaluatedKey: { pk: { S: 'cursor' }, sk: { S: `${index}:${offset}` } } }
        : {}),
    });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => respond(res, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Syncs `images` images into DynamoDB Local through the store (the whole path; slow). */
async function loadThroughStore(endpoint: string, prefix: string, images: number): Promise<number> {
  await createTables(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }), prefix);
  const stores = createStores({
    client: documentClient(endpoint),
    tablePrefix: prefix,
    consoleId: CONSOLE_ID,
  });
  let items = 0;
  for (let start = 0; start < images; start += 50) {
    const page = [];
    for (let index = start; index < Math.min(images, start + 50); index += 1)
      page.push(normalizedImage(index));
    items += (await stores.images.writeReports(page, { runId: RUN_ID, seenAt: SEEN_AT })).itemsWritten;
    if ((start / 50) % 20 === 0)
      process.stderr.write(`loaded ${Math.min(images, start + 50)}/${images} images\n`);
  }
  return items;
}

/** Child mode: one export, then its figures as one JSON line on stdout. */
async function runChild(): Promise<void> {
  const format = values.format as ExportFormat;
  // Peak RSS per phase (sampled every 50 ms): which part of the export needs the memory.
  const peaks: Record<string, number> = {};
  let phase = 'start';
  const sample = () => {
    peaks[phase] = Math.max(peaks[phase] ?? 0, Math.round(process.memoryUsage.rss() / 1048576));
  };
  const sampler = setInterval(sample, 50);
  const result = await exportTables({
    client: documentClient(values.endpoint ?? ''),
    tablePrefix: values.prefix ?? '',
    outDir: values.out ?? '',
    format,
    segments: Number(values.segments),
    onProgress: (progress) => {
      sample();
      phase = progress.phase;
    },
  });
  clearInterval(sampler);
  process.stdout.write(
    `${JSON.stringify({
      format,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      sampledPeakRssMbByPhase: peaks,
      seconds: Math.round(result.durationMs / 100) / 10,
      itemsRead: result.stats.itemsRead,
      files: Object.fromEntries(
        result.files.map((f) => [f.table, { rows: f.rows, mb: Math.round(f.bytes / 1e5) / 10 }]),
      ),
    })}\n`,
  );
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
  const prefix = 'bench';
  let endpoint: string;
  let stop: () => Promise<void>;
  if (values['dynamodb-local']) {
    const ddb = await startDynamoDbLocal();
    endpoint = ddb.endpoint;
    stop = () => ddb.stop();
    const started = Date.now();
    const items = await loadThroughStore(endpoint, prefix, images);
    process.stderr.write(
      `synced ${images} images: ${items} items in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  } else {
    const fake = await startFakeDynamoDb(images);
    endpoint = fake.endpoint;
    stop = fake.close;
  }
  const out = await mkdtemp(join(tmpdir(), 'export-bench-'));
  try {
    process.stdout.write(
      `images=${images} source=${values['dynamodb-local'] ? 'dynamodb-local' : 'fake-dynamodb-http'}\n`,
    );
    for (const format of formats) {
      process.stdout.write(`${await exportInChild(endpoint, prefix, format, join(out, format))}\n`);
    }
  } finally {
    await stop();
    await rm(out, { recursive: true, force: true });
  }
}

if (values.child) await runChild();
else if (values.serve) {
  // Only the fake table, for experiments: export against the printed endpoint with tablePrefix `bench`.
  const fake = await startFakeDynamoDb(Number(values.images));
  process.stdout.write(`${fake.endpoint}\n`);
} else await main();
