/**
 * `npm start` is the first thing a user runs: the real CLI's `demo` command, end to end (its own
 * embedded DynamoDB Local and console simulator with the real rate limit), checked on what it
 * prints.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../support/e2e.js';

// A JVM start, eight syncs (a first one, six weeks of history, an unchanged one) and the report; under
// the full suite's load on 2 cores that can take minutes.
vi.setConfig({ testTimeout: 600_000 });

interface SyncLine {
  images: number;
  written: number;
  new: number;
  changed: number;
  unchanged: number;
  removed: number;
}

function syncLines(stdout: string): SyncLine[] {
  const pattern =
    /^completed: (\d+) images, \d+ pages, \d+ requests \(\d+ throttled\), (\d+) items written, (\d+) new, (\d+) changed, (\d+) unchanged, (\d+) removed/gm;
  return [...stdout.matchAll(pattern)].map((m) => ({
    images: Number(m[1]),
    written: Number(m[2]),
    new: Number(m[3]),
    changed: Number(m[4]),
    unchanged: Number(m[5]),
    removed: Number(m[6]),
  }));
}

/** The rows of the top-vulnerabilities table: [id, severity, images]. */
function topVulnerabilities(stdout: string): string[][] {
  const after = stdout.split('by images affected:\n')[1] ?? '';
  const rows = after.split('\n\n')[0]?.split('\n').slice(2) ?? [];
  return rows.filter((row) => row.trim() !== '').map((row) => row.trim().split(/\s+/));
}

describe('the demo (npm start)', () => {
  it('syncs, shows what landed, syncs each week of history, writes next to nothing, then the report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'demo-test-'));
    const reportPath = join(dir, 'report.html');
    const result = await runCli(['demo', '--images', '60', '--report', reportPath], {}, 560_000);
    expect(result.stderr).not.toMatch(/Error|failed/);
    expect(result.code).toBe(0);

    const lines = syncLines(result.stdout);
    const first = lines[0];
    const last = lines.at(-1);
    expect(lines).toHaveLength(8);
    expect(first).toMatchObject({ images: 60, new: 60, changed: 0, unchanged: 0, removed: 0 });
    // Each week of the console's history rescans images with findings appearing and fixed.
    for (const week of lines.slice(1, -1)) expect(week?.changed).toBeGreaterThan(0);
    expect(last).toMatchObject({ new: 0, changed: 0, removed: 0, unchanged: last?.images });
    // An unchanged re-sync writes under 1% of what the first sync wrote.
    expect(last!.written).toBeLessThan(first!.written / 100);
    expect(result.stdout).toContain(`: ${reportPath}\n`);
    expect(await readFile(reportPath, 'utf8')).toContain('<svg');
    await rm(dir, { recursive: true, force: true });

    expect(result.stdout).toMatch(/^Images stored: 60$/m);
    const top = topVulnerabilities(result.stdout);
    expect(top.length).toBeGreaterThan(0);
    for (const [id, severity, images] of top) {
      // Advisory ids only: a console's numeric ids are not one vulnerability across images.
      expect(id).toMatch(/^(CVE|PRISMA|GHSA|RHSA|DSA|ALAS|USN)-/);
      expect(['critical', 'high', 'medium', 'low']).toContain(severity);
      expect(Number(images)).toBeGreaterThanOrEqual(1);
    }
    expect(result.stdout).toMatch(/^Finding changes since the first sync: \d+ new, \d+ resolved$/m);
    expect(result.stdout).toMatch(/^History of .+:$/m);
  });
});
