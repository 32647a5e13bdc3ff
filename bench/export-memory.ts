/**
 * Export memory: peak RSS of the `export` command over the stored data of 20,000 images (target < 256 MB).
 *
 *   npx tsx bench/export-memory.ts [--images 20000] [--format parquet|ndjson|csv|all] [--segments 4]
 *   npx tsx bench/export-memory.ts --dynamodb-local --images 1000     (through DynamoDB Local instead)
 *   npx tsx bench/export-memory.ts --serve --images 20000            (only serve the fake table)
 *
 * Each export runs as users run it: `node bin/prisma-registry-sync.js export --out DIR --format F`, one
 * fresh process per format, pointed at the data source by the usual environment variables
 * (AWS_ENDPOINT_URL_DYNAMODB, SYNC_TABLE_PREFIX). The whole export, DuckDB's conversion included, runs
 * in that one process, so its peak RSS is the figure. It is the kernel's (`getrusage` maxRSS), written
 * on exit by a one-line hook the bench preloads with `--import` (it changes nothing else; no other
 * Node or V8 option is given). Also reported: the peak by the end of the read phase (VmHWM from /proc
 * when the command reports its conversion phase; Linux only), CPU time and wall time.
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
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
import { EXPORT_FORMATS, type ExportFormat } from '../lambda/export/writers.js';
import { normalizeReport } from '../lambda/normalize/index.js';
import { createStores, createTables } from '../lambda/store/index.js';
import { changeItems, toFindingItem, toHistoryItem, toImageItem } from '../lambda/store/items.js';

type Item = object;

import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { generateReport, imageSlot } from '../simulator/generator.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    format: { type: 'string', default: 'all' },
    segments: { type: 'string', default: '4' },
    'dynamodb-local': { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
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
  const changes = changeItems(
    {
      consoleId: CONSOLE_ID,
      image: { registry: identity.registry, repo: identity.repo, tag: identity.tag },
      runId: RUN_ID,
    },
    normalized.findings.map((finding) => ({ finding, change: 'new' as const, at: SEEN_AT, observedAt })),
  );
  return [
    ...findings,
    toHistoryItem(normalized, { observedAt, seenAt: SEEN_AT, runId: RUN_ID, raw }),
    toImageItem(normalized, {
      scanTimeKey: observedAt,
      observedAt,
      seenAt: SEEN_AT,
      runId: RUN_ID,
      firstSeenAt: observedAt,
      raw,
    }),
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

/** What one export process reports. */
interface ExportFigures {
  format: ExportFormat;
  /** Peak RSS of the export process, start to exit. */
  peakRssMb: number;
  /** Peak RSS by the end of the read phase (Linux; undefined elsewhere). */
  readPhasePeakRssMb: number | undefined;
  cpuSeconds: number;
  wallSeconds: number;
  itemsRead: number;
  files: Record<string, { rows: number; mb: number }>;
}

/** Preloaded into the export process: on exit, its own resource usage as JSON on fd 3. */
const RUSAGE_HOOK = [
  'data:text/javascript,',
  'import { writeSync } from "node:fs";',
  'process.on("exit", () => writeSync(3, JSON.stringify(process.resourceUsage())));',
].join('');

const BIN = fileURLToPath(new URL('../bin/prisma-registry-sync.js', import.meta.url));

/** The kernel's peak RSS of a running process so far, in MB (Linux only). */
async function highWaterMarkMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

/** Runs `prisma-registry-sync export` in a fresh process against `endpoint`; its figures. */
function exportThroughCli(
  endpoint: string,
  prefix: string,
  format: ExportFormat,
  out: string,
): Promise<ExportFigures> {
  const args = ['--import', RUSAGE_HOOK, BIN, 'export', '--out', out, '--format', format, '--json'];
  args.push('--segments', String(values.segments));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    SYNC_TABLE_PREFIX: prefix,
  };
  delete env.NODE_OPTIONS;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let usage = '';
    let stderr = '';
    let readPhasePeak: Promise<number | undefined> = Promise.resolve(undefined);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      usage += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      // Not a TTY: the command prints one line per phase; the conversion's line ends the read phase.
      if (!stderr.includes('export converting:') && `${stderr}${text}`.includes('export converting:')) {
        readPhasePeak = highWaterMarkMb(child.pid);
      }
      stderr += text;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`export (${format}) exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      let figures: Omit<ExportFigures, 'readPhasePeakRssMb'>;
      try {
        const rusage = JSON.parse(usage) as NodeJS.ResourceUsage;
        const result = JSON.parse(stdout) as {
          files: Array<{ table: string; rows: number; bytes: number }>;
          stats: { itemsRead: number };
        };
        figures = {
          format,
          peakRssMb: Math.round(rusage.maxRSS / 1024),
          cpuSeconds: Math.round((rusage.userCPUTime + rusage.systemCPUTime) / 1e5) / 10,
          wallSeconds: Math.round((Date.now() - started) / 100) / 10,
          itemsRead: result.stats.itemsRead,
          files: Object.fromEntries(
            result.files.map((f) => [f.table, { rows: f.rows, mb: Math.round(f.bytes / 1e5) / 10 }]),
          ),
        };
      } catch (error) {
        reject(error);
        return;
      }
      void readPhasePeak.then((readPhasePeakRssMb) => resolve({ ...figures, readPhasePeakRssMb }));
    });
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
      const figures = await exportThroughCli(endpoint, prefix, format, join(out, format));
      process.stdout.write(`${JSON.stringify(figures)}\n`);
    }
  } finally {
    await stop();
    await rm(out, { recursive: true, force: true });
  }
}

if (values.serve) {
  // Only the fake table, for experiments: export against the printed endpoint with tablePrefix `bench`.
  const fake = await startFakeDynamoDb(Number(values.images));
  process.stdout.write(`${fake.endpoint}\n`);
} else await main();
