/**
 * Shared pieces of the benchmarks: the simulator in a child process, the engine's wiring against
 * DynamoDB Local with a write meter, an RSS sampler, a CPU profile summary and markdown tables.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SyncError } from '../lambda/common/errors.js';
import type { Logger } from '../lambda/common/logger.js';
import { ConsoleClient } from '../lambda/prisma/index.js';
import { createStoreClient, createStores, createTables, type Stores } from '../lambda/store/index.js';
import type { SimulatorOptions } from '../simulator/index.js';

export const CREDENTIALS = { username: 'demo', password: 'demo' };

/** An engine logger that only counts warnings and errors: the benchmark measures, it does not log. */
export function countingLogger(): Logger & { warnings: number; errors: number } {
  const logger = {
    warnings: 0,
    errors: 0,
    debug() {},
    info() {},
    warn() {
      logger.warnings += 1;
    },
    error(message: string, data?: Record<string, unknown>) {
      logger.errors += 1;
      process.stderr.write(`${JSON.stringify({ level: 'ERROR', message, ...data })}\n`);
    },
  };
  return logger;
}

export interface ChildSimulator {
  url: string;
  stop(): Promise<void>;
}

/**
 * The simulator in its own process, so CPU time and RSS of this process are the product's alone.
 *
 * @example
 * const sim = await startChildSimulator({ images: 20_000, rateLimit: false });
 * await sim.stop();
 */
export async function startChildSimulator(options: SimulatorOptions): Promise<ChildSimulator> {
  const script = fileURLToPath(new URL('./sim-child.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [tsx, script, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) =>
      reject(new SyncError('sim.childExited', `simulator child exited with ${code} before listening`)),
    );
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin?.end();
      }),
  };
}

/** What the store sent to DynamoDB, measured on the wire-level input of every write command. */
export interface WriteMeter {
  /** Items put (BatchWriteItem PutRequest, PutItem, TransactWriteItems Put). */
  puts: number;
  /** UpdateItem and DeleteItem calls, and deletes inside batches and transactions. */
  updates: number;
  deletes: number;
  /** Largest item put, in DynamoDB bytes (attribute names + values). */
  maxItemBytes: number;
  /** Write requests sent (BatchWriteItem, PutItem, UpdateItem, DeleteItem, TransactWriteItems). */
  requests: number;
  /**
   * Table write request units as DynamoDB bills them: 1 per started KB of each item put, 2 in a
   * transaction; updates and deletes counted as 1 KB items (the image item they touch is 1-3 KB).
   */
  writeUnits: number;
  /** The same items, each written outside a transaction (what the item-per-request path paid). */
  plainWriteUnits: number;
  /** Index entries the puts create (2 per current image item, 1 per open finding), ~1 unit each. */
  indexWrites: number;
  reset(): void;
}

type AttributeValue = Record<string, unknown>;

/** DynamoDB's size of a marshalled attribute value (numbers counted at their 21-byte maximum). */
function attributeSize(value: AttributeValue): number {
  if ('S' in value) return Buffer.byteLength(String(value.S), 'utf8');
  if ('N' in value) return 21;
  if ('B' in value) return (value.B as Uint8Array).byteLength;
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('L' in value) return 3 + (value.L as AttributeValue[]).reduce((s, v) => s + 1 + attributeSize(v), 0);
  if ('M' in value) return 3 + itemBytes(value.M as Record<string, AttributeValue>);
  if ('SS' in value) return (value.SS as string[]).reduce((s, v) => s + Buffer.byteLength(v, 'utf8'), 0);
  if ('NS' in value) return 21 * (value.NS as string[]).length;
  if ('BS' in value) return (value.BS as Uint8Array[]).reduce((s, v) => s + v.byteLength, 0);
  return 0;
}

function itemBytes(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item))
    size += Buffer.byteLength(name, 'utf8') + attributeSize(value);
  return size;
}

function attachWriteMeter(client: DynamoDBClient, enabled: boolean): WriteMeter {
  const meter: WriteMeter = {
    puts: 0,
    updates: 0,
    deletes: 0,
    maxItemBytes: 0,
    requests: 0,
    writeUnits: 0,
    plainWriteUnits: 0,
    indexWrites: 0,
    reset() {
      meter.puts = 0;
      meter.updates = 0;
      meter.deletes = 0;
      meter.maxItemBytes = 0;
      meter.requests = 0;
      meter.writeUnits = 0;
      meter.plainWriteUnits = 0;
      meter.indexWrites = 0;
    },
  };
  const put = (item: Record<string, AttributeValue> | undefined, transactional = false) => {
    if (!item) return;
    meter.puts += 1;
    const bytes = itemBytes(item);
    meter.maxItemBytes = Math.max(meter.maxItemBytes, bytes);
    const units = Math.max(1, Math.ceil(bytes / 1024));
    meter.plainWriteUnits += units;
    meter.writeUnits += transactional ? 2 * units : units;
    if ('curPk' in item) meter.indexWrites += 2;
    if ('vulnPk' in item) meter.indexWrites += 1;
  };
  const small = (transactional: boolean) => {
    meter.plainWriteUnits += 1;
    meter.writeUnits += transactional ? 2 : 1;
  };
  type WriteInput = {
    RequestItems?: Record<
      string,
      Array<{ PutRequest?: { Item?: Record<string, AttributeValue> }; DeleteRequest?: unknown }>
    >;
    Item?: Record<string, AttributeValue>;
    TransactItems?: Array<{
      Put?: { Item?: Record<string, AttributeValue> };
      Update?: unknown;
      Delete?: unknown;
    }>;
  };
  if (!enabled) return meter;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as WriteInput;
      switch (context.commandName) {
        case 'BatchWriteItemCommand':
          meter.requests += 1;
          for (const requests of Object.values(input.RequestItems ?? {})) {
            for (const request of requests) {
              if (request.PutRequest) put(request.PutRequest.Item);
              if (request.DeleteRequest) {
                meter.deletes += 1;
                small(false);
              }
            }
          }
          break;
        case 'PutItemCommand':
          meter.requests += 1;
          put(input.Item);
          break;
        case 'UpdateItemCommand':
          meter.requests += 1;
          meter.updates += 1;
          small(false);
          break;
        case 'DeleteItemCommand':
          meter.requests += 1;
          meter.deletes += 1;
          small(false);
          break;
        case 'TransactWriteItemsCommand':
          meter.requests += 1;
          for (const entry of input.TransactItems ?? []) {
            if (entry.Put) put(entry.Put.Item, true);
            if (entry.Update) {
              meter.updates += 1;
              small(true);
            }
            if (entry.Delete) {
              meter.deletes += 1;
              small(true);
            }
          }
          break;
      }
      return next(args);
    },
    // Build step: after the document client's marshalling (just before the serializer), so items are AttributeValues.
    { step: 'build', name: 'benchWriteMeter' },
  );
  return meter;
}

export interface BenchStore {
  stores: Stores;
  meter: WriteMeter;
  documentClient: DynamoDBDocumentClient;
}

/**
 * Tables under `prefix` in DynamoDB Local and the stores over them, wired as lambda/wiring.ts
 * does, with a write meter on the client.
 */
export async function benchStore(
  endpoint: string,
  prefix: string,
  consoleId: string,
  options: { metered?: boolean } = {},
): Promise<BenchStore> {
  const { client, documentClient } = createStoreClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 5,
  });
  // The meter walks every item written: left off where this process's CPU is the measure.
  const meter = attachWriteMeter(client, options.metered ?? true);
  // DynamoDB stands in for the AWS service here; its emulated stream (which slows every later write
  // in DynamoDB Local, unlike the service's) would make the store look slower than it is.
  await createTables(documentClient, prefix, { streams: false });
  meter.reset();
  return {
    stores: createStores({ client: documentClient, tablePrefix: prefix, consoleId }),
    meter,
    documentClient,
  };
}

/**
 * A console client with the product's defaults (30 requests / 30 s pacing) and no logging; with
 * `unpaced`, its own pacing is lifted too, for runs against an unthrottled simulator that must
 * show what the client and the store can do, not the console's 1 page/s.
 */
export function benchClient(url: string, options: { unpaced?: boolean } = {}): ConsoleClient {
  return new ConsoleClient({
    baseUrl: url,
    credentials: CREDENTIALS,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    ...(options.unpaced ? { rateLimit: { requests: 1_000_000, windowMs: 1_000 } } : {}),
  });
}

/** Polls `process.memoryUsage().rss` every `intervalMs` and keeps the peak. */
export function rssSampler(intervalMs = 25): { stop(): { peakMb: number; samples: number } } {
  let peak = process.memoryUsage().rss;
  let samples = 1;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    samples += 1;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return { peakMb: Math.round(peak / 1024 / 1024), samples: samples + 1 };
    },
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/** Starts the V8 sampling profiler in this process; `stop()` returns the profile. */
export async function startProfiler(): Promise<{ stop(): Promise<CpuProfile> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      return profile;
    },
  };
}

/** Where a function lives, coarse enough to read: our modules by folder, dependencies by package. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const ours = /\/(lambda\/[a-z]+|simulator|bench|local)\//.exec(url);
  if (ours && !url.includes('node_modules')) return ours[1] ?? url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  functions: Array<{ function: string; where: string; selfMs: number; share: string }>;
  areas: Array<{ area: string; selfMs: number; share: string }>;
}

/** Self time per function and per area from the samples of a CPU profile, largest first. */
export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i += 1) {
    const id = samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0));
  }
  const functions = new Map<string, { function: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    if (frame.functionName === '(idle)') continue; // waiting on I/O is not CPU
    total += us;
    const file = frame.url.replace(/^file:\/\/.*?\/(node_modules|lambda|simulator|bench)\//, '$1/');
    // tsx-transpiled sources report transpiled line numbers: name only the file for ours.
    const where = !frame.url
      ? ''
      : file.startsWith('node_modules/')
        ? `${file}:${frame.lineNumber + 1}`
        : file;
    const key = `${frame.functionName}|${where}`;
    const entry = functions.get(key) ?? { function: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const share = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1)}%`;
  return {
    totalMs: Math.round(total / 1000),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        function: f.function,
        where: f.where,
        selfMs: Math.round(f.us / 1000),
        share: share(f.us),
      })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, selfMs: Math.round(us / 1000), share: share(us) })),
  };
}

export type Row = Record<string, string | number | boolean | null | undefined>;

/** A markdown table of `rows` over `columns` (all keys of the first row by default). */
export function markdownTable(rows: readonly Row[], columns?: readonly string[]): string {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const cell = (value: Row[string]) => String(value ?? '').replace(/\|/g, '\\|');
  const lines = [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${cols.map((c) => cell(row[c])).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}
/**
 * bench/results.md with the sections of a partial run (`--only`) put in place of their earlier
 * versions, the other sections and the header of the full run kept, and one header line saying
 * which sections were re-run when. Earlier re-run lines whose sections are all re-run now go.
 *
 * @example
 * mergeResults(previous, new Map([[3, '## 3. Heavy reports\n...']]), '- Section 3 re-run at ...');
 */
export function mergeResults(
  previous: string,
  fresh: ReadonlyMap<number, string>,
  rerunLine: string,
): string {
  const firstSection = previous.search(/^## \d+\./m);
  const headerText = firstSection < 0 ? previous : previous.slice(0, firstSection);
  const bodies = firstSection < 0 ? [] : previous.slice(firstSection).split(/^(?=## \d+\.)/m);
  const numberOf = (text: string) => Number(/^## (\d+)\./.exec(text)?.[1]);
  const kept = bodies.map((text) => fresh.get(numberOf(text)) ?? text);
  for (const [n, text] of fresh) if (!bodies.some((b) => numberOf(b) === n)) kept.push(text);
  const sectionsOf = (line: string) =>
    (/^- Sections? ([\d, and]+) re-run/.exec(line)?.[1] ?? '').match(/\d+/g)?.map(Number) ?? [];
  const header = headerText
    .trimEnd()
    .split('\n')
    .filter((line) => {
      const listed = sectionsOf(line);
      return listed.length === 0 || !listed.every((n) => fresh.has(n));
    });
  return `${[...header, rerunLine].join('\n')}\n\n${kept.map((t) => `${t.trimEnd()}\n`).join('\n')}`;
}
