import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { addExportCommand, EXPORT_V8_FLAGS, exportProgressReporter } from '../../lambda/export/cli.js';
import type { ExportProgress } from '../../lambda/export/index.js';
import { createStores } from '../../lambda/store/index.js';
import {
  createTestTables,
  localDocumentClient,
  localDynamoClient,
  uniqueTablePrefix,
} from '../support/dynamo.js';
import { tempDir } from './support.js';

function capture(isTTY = false) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { stream, text: () => text };
}

const progress = (phase: ExportProgress['phase'], itemsRead: number): ExportProgress => ({
  phase,
  itemsRead,
  estimatedItems: 1000,
  rows: { images: 1, findings: 2, scans: 3, changes: 4 },
  elapsedMs: 0,
});

describe('export progress', () => {
  it('redraws one bar on a TTY, at most every 200 ms while reading', async () => {
    const err = capture(true);
    let clock = 0;
    const reporter = exportProgressReporter(err.stream, () => clock);
    reporter.update(progress('reading', 500));
    clock = 100;
    reporter.update(progress('reading', 600));
    clock = 300;
    reporter.update(progress('reading', 1000));
    reporter.done();
    await new Promise((resolve) => setImmediate(resolve));
    const frames = err
      .text()
      .split('\r')
      .filter((frame) => frame !== '');
    expect(frames).toHaveLength(2);
    expect(frames[0]).toContain('[############............] items 500/~1,000');
    expect(err.text().endsWith('\n')).toBe(true);
  });

  it('prints one plain line per phase when stderr is not a terminal', async () => {
    const err = capture(false);
    const reporter = exportProgressReporter(err.stream);
    for (const p of [
      progress('reading', 1),
      progress('reading', 2),
      progress('converting', 3),
      progress('done', 3),
    ]) {
      reporter.update(p);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      err
        .text()
        .trim()
        .split('\n')
        .map((line) => line.split(':')[0]),
    ).toEqual(['export reading', 'export converting', 'export done']);
  });
});

describe('export command', () => {
  let prefix: string;
  beforeAll(async () => {
    prefix = uniqueTablePrefix('exportcli');
    await createTestTables(localDynamoClient(), prefix);
    const stores = createStores({ client: localDocumentClient(), tablePrefix: prefix, consoleId: 'c1' });
    await stores.images.writeReports([], { runId: 'r', seenAt: '2025-06-02T08:00:00.000Z' });
  });

  function program() {
    const out = capture();
    const err = capture();
    const v8Flags: string[] = [];
    const command = new Command().exitOverride();
    addExportCommand(command, {
      out: { stdout: out.stream, stderr: err.stream },
      store: () => ({ client: localDocumentClient(), tablePrefix: prefix }),
      setV8Flags: (flags) => v8Flags.push(flags),
    });
    return { command, out, err, v8Flags };
  }

  it("sets V8's heap growing factor for its own process, with a flag this Node's V8 knows", async () => {
    const { command, v8Flags } = program();
    await command.parseAsync(['node', 'cli', 'export', '--out', await tempDir(), '--format', 'ndjson']);
    expect(v8Flags).toEqual([EXPORT_V8_FLAGS]);
    // V8 ignores an unknown flag set at run time (it only prints a warning): the option must exist here.
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    for (const flag of EXPORT_V8_FLAGS.split(' ')) {
      expect(options).toContain(`  ${flag.replace(/=.*$/, '')} (`);
    }
  });

  it('writes one file per table and prints one JSON document with --json', async () => {
    const dir = await tempDir();
    const { command, out } = program();
    await command.parseAsync(['node', 'cli', 'export', '--out', dir, '--format', 'csv', '--json']);
    await new Promise((resolve) => setImmediate(resolve));
    const result = JSON.parse(out.text()) as {
      files: Array<{ table: string; rows: number }>;
      access: string;
    };
    expect(result.files.map((f) => f.table)).toEqual(['images', 'findings', 'scans', 'changes']);
    expect(result.access).toBe('scan');
    expect((await readdir(dir)).sort()).toEqual(['changes.csv', 'findings.csv', 'images.csv', 'scans.csv']);
  });

  it('refuses an unknown format and a since that is not a time before reading anything', async () => {
    const { command } = program();
    await expect(
      command.parseAsync(['node', 'cli', 'export', '--out', '/tmp/x', '--format', 'xlsx']),
    ).rejects.toThrow(/Allowed choices are parquet, ndjson, csv/);
    const second = program();
    await expect(
      second.command.parseAsync(['node', 'cli', 'export', '--out', '/tmp/x', '--since', 'last week']),
    ).rejects.toThrow(/--since: not an ISO time/);
  });
});
