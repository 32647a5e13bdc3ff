import { setTimeout as delay } from 'node:timers/promises';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Each test runs whole CLI syncs as child processes; under the full suite's load on 2 cores one takes
// tens of seconds, so the default 60 s per test is too tight.
vi.setConfig({ testTimeout: 300_000 });

import { createStores, type Stores } from '../../lambda/store/index.js';
import type { RunningSimulator } from '../../simulator/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  localDynamoEnv,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import {
  collectCli,
  parseOneJson,
  registryGetCount,
  runCli,
  SIM_PASSWORD,
  SIM_USERNAME,
  spawnCli,
  splitKey,
  startTestSimulator,
} from '../support/e2e.js';

const CONSOLE_ID = 'cli-e2e';

function cliEnv(sim: RunningSimulator, prefix: string): Record<string, string> {
  return {
    ...localDynamoEnv(prefix),
    PRISMA_CONSOLE_URL: sim.url,
    PRISMA_USERNAME: SIM_USERNAME,
    PRISMA_PASSWORD: SIM_PASSWORD,
    PRISMA_CONSOLE_ID: CONSOLE_ID,
  };
}

async function freshTables(prefix = uniqueTablePrefix('cli')): Promise<{ prefix: string; stores: Stores }> {
  await createTestTables(localDynamoClient(), prefix);
  return {
    prefix,
    stores: createStores({ client: localDocumentClient(), tablePrefix: prefix, consoleId: CONSOLE_ID }),
  };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 150_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(50);
  }
  throw new Error('condition not reached in time');
}

const SYNC_KEYS = [
  'runId',
  'status',
  'images',
  'pages',
  'requests',
  'throttled',
  'retries',
  'written',
  'unchanged',
  'removed',
  'durationMs',
];

describe('prisma-registry-sync as a child process', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ images: 70, seed: 'cli' });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('teaches its commands with --help and exits 0', async () => {
    const result = await runCli(['--help'], {});
    expect(result.code).toBe(0);
    for (const command of ['tables', 'sync', 'progress', 'query', 'simulate']) {
      expect(result.stdout).toContain(command);
    }
    expect(result.stdout).toContain('PRISMA_CONSOLE_URL');
  });

  it('exits 2 naming the variable when the configuration is bad, before any request', async () => {
    const before = sim.requestLog.length;
    const result = await runCli(['sync', '--json'], {
      ...cliEnv(sim, 'unused'),
      PRISMA_CONSOLE_URL: 'not a url',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PRISMA_CONSOLE_URL');
    expect(result.stdout).toBe('');
    expect(sim.requestLog.length).toBe(before);
  });

  it('fails fast with a clear message and without the password on wrong credentials', async () => {
    const { prefix } = await freshTables();
    const wrong = 'Wr0ng-Hunter2-Secret';
    const started = Date.now();
    const result = await runCli(['sync', '--json'], { ...cliEnv(sim, prefix), PRISMA_PASSWORD: wrong });
    expect([1, 2]).toContain(result.code);
    expect(result.stderr.toLowerCase()).toMatch(/auth|credential|401/);
    expect(result.stderr + result.stdout).not.toContain(wrong);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('creates the tables idempotently', async () => {
    const env = cliEnv(sim, uniqueTablePrefix('cli'));
    const first = await runCli(['tables', 'create', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const created = parseOneJson(first) as { created: string[]; existing: string[] };
    expect(created.created.length).toBeGreaterThan(0);
    const second = await runCli(['tables', 'create', '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(parseOneJson(second)).toEqual({ created: [], existing: created.created });
    const images = created.created.find((name) => name.endsWith('-images'));
    const described = await localDynamoClient().send(new DescribeTableCommand({ TableName: images }));
    expect(described.Table?.StreamSpecification?.StreamEnabled).toBe(true);
  });

  it('leaves the images stream off with tables create --no-streams', async () => {
    const prefix = uniqueTablePrefix('cli');
    const result = await runCli(['tables', 'create', '--no-streams', '--json'], cliEnv(sim, prefix));
    expect(result.code, result.stderr).toBe(0);
    const described = await localDynamoClient().send(
      new DescribeTableCommand({ TableName: `${prefix}-images` }),
    );
    expect(described.Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
  });

  describe('after a sync', () => {
    let env: Record<string, string>;
    let stores: Stores;
    let sync: Record<string, unknown>;
    let since: string;
    beforeAll(async () => {
      const tables = await freshTables();
      stores = tables.stores;
      env = cliEnv(sim, tables.prefix);
      since = new Date(Date.now() - 1000).toISOString();
      const result = await runCli(['sync', '--json'], env);
      expect(result.code, result.stderr).toBe(0);
      sync = parseOneJson(result) as Record<string, unknown>;
    });

    it('prints exactly one JSON document with the figures of SPEC §3', () => {
      for (const key of SYNC_KEYS) expect(sync, key).toHaveProperty(key);
      expect(sync).toMatchObject({ status: 'completed', images: 70, removed: 0, throttled: 0 });
    });

    it('answers query images, image, history, cve, changes and runs in the shapes of SPEC §3', async () => {
      const key = sim.truth.present().find((k) => !k.startsWith('/')) ?? '';
      const { registry, repo, tag } = splitKey(key);
      const where = ['--registry', registry, '--repo', repo, '--tag', tag, '--json'];
      // Independent read-only processes: run them side by side.
      const [imagesRun, imageRun, historyRun, changesRun, runsRun] = await Promise.all([
        runCli(['query', 'images', '--json'], env),
        runCli(['query', 'image', ...where], env),
        runCli(['query', 'history', ...where], env),
        runCli(['query', 'changes', '--since', since, '--json'], env),
        runCli(['query', 'runs', '--json'], env),
      ]);
      const images = parseOneJson(imagesRun) as Array<Record<string, unknown>>;
      expect(images).toHaveLength(70);

      const image = parseOneJson(imageRun) as {
        findings: Array<Record<string, unknown>>;
        vulnerabilityCounts: object;
      };
      expect(image).toMatchObject({ registry, repo, tag, removed: false });
      for (const field of ['digest', 'imageId', 'scanTime']) expect(image).toHaveProperty(field);
      expect(Object.keys(image.vulnerabilityCounts).sort()).toEqual(
        expect.arrayContaining(['critical', 'high', 'low', 'medium', 'total']),
      );
      const finding = image.findings[0];
      for (const field of [
        'id',
        'severity',
        'cvss',
        'packageName',
        'packageVersion',
        'status',
        'firstSeen',
        'lastSeen',
      ]) {
        expect(finding, field).toHaveProperty(field);
      }

      const history = parseOneJson(historyRun) as unknown[];
      expect(history).toHaveLength(1);

      const cveId = String(finding?.id);
      const cve = parseOneJson(await runCli(['query', 'cve', cveId, '--json'], env)) as Array<
        Record<string, unknown>
      >;
      expect(cve).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            registry,
            repo,
            tag,
            packageName: finding?.packageName,
            packageVersion: finding?.packageVersion,
            severity: finding?.severity,
          }),
        ]),
      );
      for (const row of cve) expect(row).toHaveProperty('digest');

      const changes = parseOneJson(changesRun) as Array<Record<string, unknown>>;
      expect(changes.length).toBeGreaterThan(0);
      for (const row of changes.slice(0, 20)) {
        expect(row).toMatchObject({ change: 'new' });
        for (const field of ['id', 'registry', 'repo', 'tag', 'at']) expect(row).toHaveProperty(field);
      }

      const runs = parseOneJson(runsRun) as Array<Record<string, unknown>>;
      expect(runs[0]).toMatchObject({ runId: sync.runId, status: 'completed', images: 70 });
      expect(await stores.queries.runs(5)).toHaveLength(1);
    });
  });

  it('refuses a second concurrent sync and says the lease is held', async () => {
    const slow = await startTestSimulator({ images: 70, seed: 'cli-lease' });
    try {
      const { prefix, stores } = await freshTables();
      const env = cliEnv(slow, prefix);
      // The first run's page 2 answers 8 s late: it still holds the lease while the second CLI starts.
      slow.setFaults({ scripted: [{ at: 2, fault: { kind: 'slow', ms: 8_000 } }] });
      const first = spawnCli(['sync', '--json'], env);
      const firstDone = collectCli(first);
      await waitFor(() => stores.runs.currentLease());
      const second = await runCli(['sync', '--json'], env);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('sync.leaseHeld');
      expect(second.stderr).toMatch(/holds the lease/);
      const done = await firstDone;
      expect(done.code, done.stderr).toBe(0);
      expect(parseOneJson(done)).toMatchObject({ status: 'completed', images: 70 });
    } finally {
      await slow.close();
    }
  });

  it('exits 3 with a checkpoint when --max-duration cuts the run on a throttled console', async () => {
    const throttled = await startTestSimulator({
      images: 200,
      seed: 'cli-throttled',
      rateLimit: { requests: 3, windowMs: 30_000 },
    });
    try {
      const { prefix, stores } = await freshTables();
      const result = await runCli(['sync', '--json', '--max-duration', '4s'], cliEnv(throttled, prefix));
      expect(result.code, result.stderr).toBe(3);
      const figures = parseOneJson(result) as { status: string; runId: string; images: number };
      expect(figures.status).toBe('partial');
      expect(figures.images).toBeLessThan(200);
      expect(await stores.runs.loadCheckpoint()).toMatchObject({ runId: figures.runId });
    } finally {
      await throttled.close();
    }
  });

  it('ends a SIGKILLed sync, once re-run, in the same state as one clean run', async () => {
    const clean = await freshTables();
    const cleanEnv = cliEnv(sim, clean.prefix);
    expect((await runCli(['sync', '--json'], cleanEnv)).code).toBe(0);

    const killed = await freshTables();
    const killedEnv = cliEnv(sim, killed.prefix);
    // Page 2 answers 3 s late, so the run is surely still going when page 1's checkpoint shows.
    sim.setFaults({ scripted: [{ at: registryGetCount(sim) + 2, fault: { kind: 'slow', ms: 3_000 } }] });
    const child = spawnCli(['sync', '--json'], killedEnv);
    const exited = collectCli(child);
    // Kill it mid-run: after its first page is committed and before the run finishes.
    await waitFor(() => killed.stores.runs.loadCheckpoint());
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    sim.setFaults({});

    // The dead process still holds the lease; a re-run on the same host sees its holder is gone,
    // takes the lease over at once (no wait for the TTL) and resumes the killed run's checkpoint.
    expect(await killed.stores.runs.currentLease()).toBeDefined();
    const rerun = await runCli(['sync', '--json'], killedEnv);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain('taking over the lease of a dead local process');
    expect(parseOneJson(rerun)).toMatchObject({ status: 'completed', resumed: true });

    const [cleanImages, rerunImages] = await Promise.all([
      runCli(['query', 'images', '--json'], cleanEnv),
      runCli(['query', 'images', '--json'], killedEnv),
    ]);
    expect(parseOneJson(rerunImages)).toEqual(parseOneJson(cleanImages));
    for (const key of sim.truth.present().slice(0, 5)) {
      const where = splitKey(key);
      const a = await clean.stores.queries.image(where);
      const b = await killed.stores.queries.image(where);
      expect(b?.findings, key).toEqual(a?.findings);
      expect(b?.vulnerabilityCounts, key).toEqual(a?.vulnerabilityCounts);
      expect(b?.removed, key).toBe(false);
    }
  });
});
