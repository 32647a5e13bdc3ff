import { resolve } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { type SimulatorHistory, startSimulator } from '../../simulator/index.js';
import { type AppConfig, parseConfig } from '../config.js';
import { writeReport } from '../report/index.js';
import { createTables, type ImageSummary, type Stores } from '../store/index.js';
import { runSync, type SyncResult } from '../sync/engine.js';
import { consoleClientFor, createDocumentClient, requireConsoleId, storesFor } from '../wiring.js';
import { type Output, progressReporter, stderrLogger, table } from './output.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const NUMERIC_ID = /^\d+$/;

function summary(result: SyncResult): string {
  return (
    `${result.status}: ${result.images} images, ${result.pages} pages, ${result.requests} requests ` +
    `(${result.throttled} throttled), ${result.written} items written, ${result.new} new, ${result.changed} changed, ` +
    `${result.unchanged} unchanged, ${result.removed} removed, ${(result.durationMs / 1000).toFixed(1)} s`
  );
}

/** Where the demo writes its report unless told otherwise (`demo --report FILE`). */
export const DEMO_REPORT = 'demo-report.html';

/** Six weeks of console history, one rescan round a week: the demo syncs after each. */
const HISTORY = { days: 42, steps: 7 } as const;

/**
 * `npm start`: the whole product on this machine. A console simulator (real rate limit) playing back
 * six weeks of registry rescans and an embedded DynamoDB Local: a first full sync, a summary of what
 * landed, one sync per week of history (change detection: findings appear, get fixed, images come and
 * go), an unchanged re-sync, and the posture report of it all as one HTML page.
 */
export async function runDemo(options: { out: Output; images: number; report?: string }): Promise<number> {
  const { out } = options;
  const say = (s = '') => out.stdout.write(`${s}\n`);
  say('Starting DynamoDB Local (embedded) and the console simulator ...');
  // The JVM can take well over the harness's default 30 s to listen on a busy or slow machine.
  const ddb = await startDynamoDbLocal({ timeoutMs: 180_000 });
  const sim = await startSimulator({
    images: options.images,
    seed: 7,
    username: 'demo',
    password: 'demo',
    history: HISTORY,
  });
  const history = sim.history;
  try {
    const demo = await setUpDemo(out, say, sim.url, ddb.endpoint, options.images);
    await demo.sync(
      `First sync: every report into DynamoDB (the console as of ${history?.at.slice(0, 10) ?? 'now'})`,
    );
    const images = await showStoredImages(demo);
    const since = new Date().toISOString();
    const rescanned = history ? await playHistory(demo, history) : new Set<string>();
    await showChanges(
      demo,
      since,
      images.find((i) => rescanned.has(`${i.registry}/${i.repo}:${i.tag}`)),
    );
    await demo.sync('Once more: nothing changed, next to nothing written');
    await showReport(demo, options.report ?? DEMO_REPORT);
    say(
      '\nTry it yourself: `npx prisma-registry-sync --help` (point PRISMA_CONSOLE_URL at a console or `simulate`).',
    );
    return 0;
  } finally {
    await sim.close();
    await ddb.stop();
  }
}

/** What each step of the demo works with. */
interface Demo {
  out: Output;
  say(text?: string): void;
  config: AppConfig;
  consoleId: string;
  documentClient: DynamoDBDocumentClient;
  stores: Stores;
  /** One sync under a heading; prints its summary. */
  sync(label: string): Promise<SyncResult>;
}

/** The configuration, the tables and the sync of the demo's console and DynamoDB Local. */
async function setUpDemo(
  out: Output,
  say: Demo['say'],
  consoleUrl: string,
  endpoint: string,
  imageCount: number,
): Promise<Demo> {
  const env = {
    PRISMA_CONSOLE_URL: consoleUrl,
    PRISMA_USERNAME: 'demo',
    PRISMA_PASSWORD: 'demo',
    PRISMA_API_VERSION: 'v34.04',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_REGION: 'us-east-1',
    SYNC_TABLE_PREFIX: 'demo',
  };
  // DynamoDB Local accepts any credentials; set them so the SDK never looks for real ones.
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  const config = parseConfig(env, { needConsole: true });
  const consoleId = requireConsoleId(config);
  const documentClient = createDocumentClient(config);
  // Nothing consumes a stream here, and DynamoDB Local slows down with every record it keeps.
  const tables = await createTables(documentClient, config.tablePrefix, { streams: false });
  say(
    `Console ${consoleUrl} (${imageCount} images, 30 requests / 30 s); tables: ${tables.created.join(', ')}`,
  );
  const logger = stderrLogger(out, { verbose: false });
  const stores = storesFor(config, consoleId, documentClient);

  const sync = async (label: string): Promise<SyncResult> => {
    say(`\n== ${label}`);
    const client = await consoleClientFor(config, logger);
    const progress = progressReporter(out);
    try {
      const result = await runSync(
        { client, stores, consoleId, logger },
        { trigger: 'demo', onProgress: (p) => progress.update(p) },
      );
      progress.done();
      say(summary(result));
      return result;
    } finally {
      await client.close();
    }
  };
  return { out, say, config, consoleId, documentClient, stores, sync };
}

/** Prints how many images and open findings landed, and the vulnerabilities on the most images. */
async function showStoredImages(demo: Demo): Promise<ImageSummary[]> {
  const { stores, say } = demo;
  const images = await stores.queries.images({});
  const bySeverity = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  const affected = new Map<string, { images: number; severity: string }>();
  for (const summaryRow of images) {
    const image = await stores.queries.image({
      registry: summaryRow.registry,
      repo: summaryRow.repo,
      tag: summaryRow.tag,
    });
    if (!image) continue;
    for (const s of SEVERITIES) bySeverity[s] += image.vulnerabilityCounts[s];
    bySeverity.total += image.vulnerabilityCounts.total;
    const ids = new Set(image.findings.map((f) => f.id));
    for (const finding of image.findings) {
      // A numeric id is the console's number for a finding without a CVE (unique within a
      // report, not across images): counting images per number would add up unrelated findings.
      if (NUMERIC_ID.test(finding.id) || !ids.delete(finding.id)) continue;
      const entry = affected.get(finding.id) ?? { images: 0, severity: finding.severity };
      entry.images += 1;
      affected.set(finding.id, entry);
    }
  }
  say(`\nImages stored: ${images.length}`);
  say(
    `Open findings: ${bySeverity.total} (${bySeverity.critical} critical, ${bySeverity.high} high, ${bySeverity.medium} medium, ${bySeverity.low} low)`,
  );
  const top = [...affected.entries()]
    .sort((a, b) => b[1].images - a[1].images || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([id, v]) => ({ vulnerability: id, severity: v.severity, images: v.images }));
  say('\nTop vulnerabilities (CVE and vendor advisory ids) by images affected:');
  demo.out.stdout.write(table(top, ['vulnerability', 'severity', 'images']));
  return images;
}

/** Advances the console a week at a time, one sync each; returns the keys of the images rescanned. */
async function playHistory(demo: Demo, history: SimulatorHistory): Promise<Set<string>> {
  const rescanned = new Set<string>();
  demo.say(
    `\nThe console's next ${HISTORY.steps - 1} weeks: images rescanned (findings appear and get fixed), added and removed; one sync each.`,
  );
  while (history.step < history.steps - 1) {
    const step = history.advance();
    for (const key of step.rescanned) rescanned.add(key);
    await demo.sync(
      `Week ${step.step} (${step.at.slice(0, 10)}): ${step.rescanned.length} rescanned, ${step.added.length} added, ${step.removed.length} removed`,
    );
  }
  return rescanned;
}

/** Prints the finding changes since `since`, and the scan history of one rescanned image. */
async function showChanges(demo: Demo, since: string, exampleImage: ImageSummary | undefined): Promise<void> {
  const { stores, say } = demo;
  const changes = await stores.queries.changes(since);
  const newCount = changes.filter((c) => c.change === 'new').length;
  say(`\nFinding changes since the first sync: ${newCount} new, ${changes.length - newCount} resolved`);
  if (!exampleImage) return;
  const scans = await stores.queries.history({
    registry: exampleImage.registry,
    repo: exampleImage.repo,
    tag: exampleImage.tag,
  });
  say(`\nHistory of ${exampleImage.registry}/${exampleImage.repo}:${exampleImage.tag}:`);
  demo.out.stdout.write(
    table(
      scans.map((h) => ({ scanTime: h.scanTime, digest: h.digest, ...h.vulnerabilityCounts })),
      ['scanTime', 'digest', 'critical', 'high', 'medium', 'low', 'total'],
    ),
  );
}

/** Writes the posture report of the demo's tables and says where. */
async function showReport(demo: Demo, out: string): Promise<void> {
  const report = await writeReport({
    source: {
      kind: 'store',
      client: demo.documentClient,
      tablePrefix: demo.config.tablePrefix,
      consoleId: demo.consoleId,
    },
    out,
    days: HISTORY.days,
  });
  const t = report.data.tiles;
  demo.say(
    `\nPosture report (${t.openFindings} open findings, ${t.critical} critical, ${t.slaBreaches} past their SLA, trend over ${HISTORY.days} days): ${resolve(report.path)}`,
  );
}
