import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Output } from '../../lambda/cli/output.js';
import { main } from '../../lambda/cli.js';
import type { ReportTiles } from '../../lambda/report/index.js';
import type { RunningSimulator } from '../../simulator/index.js';
import { localDynamoEnv } from '../support/dynamo.js';
import { type EngineHarness, engineHarness, runCli, startTestSimulator } from '../support/e2e.js';
import { openInChromium } from './browser.js';

// A history playback synced step by step through DynamoDB Local, then the CLI's report opened in a real
// Chromium: minutes on a loaded 2-core machine.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 });

let sim: RunningSimulator;
let harness: EngineHarness;
let dir: string;
let env: Record<string, string>;

function captured(): Output & { text(): string; errors(): string } {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    ({
      write(chunk: string | Uint8Array) {
        append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  return {
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
    text: () => stdout,
    errors: () => stderr,
  };
}

async function cli(args: string[]): Promise<string> {
  const out = captured();
  const code = await main(args, out, env);
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}: ${out.errors()}`);
  return out.text();
}

beforeAll(async () => {
  sim = await startTestSimulator({
    images: 24,
    seed: 11,
    history: { days: 28, steps: 5, end: '2026-11-30T00:00:00Z' },
  });
  harness = await engineHarness(sim, 'report');
  const history = sim.history;
  if (!history) throw new Error('the simulator has no history playback');
  for (;;) {
    const result = await harness.sync();
    if (result.status !== 'completed') throw new Error(`sync ${result.status}`);
    if (history.step === history.steps - 1) break;
    history.advance();
  }
  dir = await mkdtemp(join(tmpdir(), 'report-browser-'));
  env = { ...localDynamoEnv(harness.prefix), PRISMA_CONSOLE_ID: harness.consoleId };
  // The in-process `query` commands build their DynamoDB client from the SDK's default chain.
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
});

afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface PageFacts {
  tiles: Record<string, string>;
  charts: Array<{ id: string; marks: number; caption: string; tableRows: number; labelled: boolean }>;
}

/**
 * Runs in the page (a string, so this file needs no DOM types): the tiles' texts and, per chart, its
 * drawn data marks (Vega puts them in `g.role-mark` groups; axes and legends have roles of their own),
 * caption, table rows and labelling.
 */
const PAGE_FACTS = `(() => {
  const tiles = {};
  for (const el of document.querySelectorAll('[data-tile]')) tiles[el.dataset.tile] = el.textContent;
  const charts = [...document.querySelectorAll('figure[data-chart]')].map((figure) => {
    const marks = [...figure.querySelectorAll('svg g.role-mark > *')].filter((mark) => {
      const box = mark.getBBox();
      return box.width > 0 && box.height > 0;
    });
    const svg = figure.querySelector('svg');
    return {
      id: figure.dataset.chart,
      marks: marks.length,
      caption: figure.querySelector('figcaption')?.textContent ?? '',
      tableRows: figure.querySelectorAll('details table tbody tr').length,
      labelled: svg?.getAttribute('role') === 'img' && svg.getAttribute('aria-labelledby') !== null,
    };
  });
  return { tiles, charts };
})()`;

describe('the HTML report in a real browser', () => {
  let html: string;
  let json: { tiles: ReportTiles; timeBase: string };

  beforeAll(async () => {
    html = join(dir, 'report.html');
    // As users run it: the CLI in a process of its own.
    const report = async (args: string[]) => {
      const run = await runCli(
        ['report', '--console', harness.consoleId, '--days', '35', ...args],
        env,
        240_000,
      );
      if (run.code !== 0) throw new Error(`report ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
    };
    await report(['--out', html]);
    const jsonPath = join(dir, 'report.json');
    await report(['--out', jsonPath, '--format', 'json']);
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  });

  it('opens with no console error and no network request, and draws marks in every chart', async () => {
    const { visit, result } = await openInChromium<PageFacts>(html, (page) => page.evaluate(PAGE_FACTS));
    expect(visit.errors).toEqual([]);
    expect(visit.requests).toEqual([pathToFileURL(html).href]);
    expect(result.charts.map((c) => c.id)).toEqual([
      'open-trend',
      'new-resolved',
      'time-to-fix',
      'open-age',
      'top-vulnerabilities',
      'riskiest-repositories',
    ]);
    for (const chart of result.charts) {
      expect(chart.marks, chart.id).toBeGreaterThan(0);
      expect(chart.caption.length, chart.id).toBeGreaterThan(20);
      expect(chart.tableRows, chart.id).toBeGreaterThan(0);
      expect(chart.labelled, chart.id).toBe(true);
    }

    const tileNumber = (id: string) => Number((result.tiles[id] ?? '').replace(/,/g, ''));
    const t = json.tiles;
    expect(tileNumber('images')).toBe(t.images);
    expect(tileNumber('openFindings')).toBe(t.openFindings);
    expect(tileNumber('critical')).toBe(t.critical);
    expect(tileNumber('high')).toBe(t.high);
    expect(tileNumber('medium')).toBe(t.medium);
    expect(tileNumber('low')).toBe(t.low);
    expect(tileNumber('imagesWithCritical')).toBe(t.imagesWithCritical);
    expect(tileNumber('staleImages')).toBe(t.staleImages);
    expect(tileNumber('slaBreaches')).toBe(t.slaBreaches);
    expect(result.tiles.fixableShare).toBe(`${(t.fixableShare * 100).toFixed(1)}%`);
    expect(json.timeBase).toBe('console scan time');
  });

  it('has tiles equal to what `query` returns for the same tables', async () => {
    const images = JSON.parse(await cli(['query', 'images', '--json'])) as Array<{
      registry: string;
      repo: string;
      tag: string;
    }>;
    const counts = { critical: 0, high: 0, medium: 0, low: 0 };
    let fixable = 0;
    let withCritical = 0;
    for (const image of images) {
      const detail = JSON.parse(
        await cli([
          'query',
          'image',
          '--registry',
          image.registry,
          '--repo',
          image.repo,
          '--tag',
          image.tag,
          '--json',
        ]),
      ) as { findings: Array<{ severity: keyof typeof counts; status?: string }> };
      for (const finding of detail.findings) {
        counts[finding.severity] += 1;
        if (/^fixed in/i.test(finding.status ?? '')) fixable += 1;
      }
      if (detail.findings.some((f) => f.severity === 'critical')) withCritical += 1;
    }
    const t = json.tiles;
    expect(t.images).toBe(images.length);
    expect({ critical: t.critical, high: t.high, medium: t.medium, low: t.low }).toEqual(counts);
    expect(t.openFindings).toBe(counts.critical + counts.high + counts.medium + counts.low);
    expect(t.fixable).toBe(fixable);
    expect(t.imagesWithCritical).toBe(withCritical);
    // The playback changed things: there is something to draw.
    expect(t.openFindings).toBeGreaterThan(0);
  });

  it('shows change over time from the playback', async () => {
    const data = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
      openTrend: Array<{ day: string; critical: number; high: number; medium: number; low: number }>;
      newResolved: Array<{ new: number; resolved: number }>;
    };
    const totals = new Set(data.openTrend.map((d) => d.critical + d.high + d.medium + d.low));
    expect(totals.size).toBeGreaterThan(2);
    expect(data.newResolved.some((d) => d.resolved > 0)).toBe(true);
  });
});
