import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.js';
import { basic, keyOf, type Report } from './helpers.js';

const END = '2026-11-30T00:00:00Z';
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const sims: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
});

async function historySim(images = 120, seed: number | string = 5): Promise<RunningSimulator> {
  const sim = await startSimulator({
    images,
    seed,
    rateLimit: false,
    heavyFraction: 0,
    history: { days: 42, steps: 7, end: END },
  });
  sims.push(sim);
  return sim;
}

/** Every full report the console serves now, over HTTP, in order. */
async function served(sim: RunningSimulator): Promise<Report[]> {
  const reports: Report[] = [];
  for (let offset = 0; ; offset += 50) {
    const res = await fetch(`${sim.url}/api/v1/registry?offset=${offset}&limit=50`, {
      headers: basic('demo', 'demo'),
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as Report[];
    reports.push(...page);
    if (page.length < 50) return reports;
  }
}

interface Vulnerability {
  cve: string;
  id: number;
  packageName: string;
}

function findingKeys(report: Report): string[] {
  const vulns = (report.vulnerabilities ?? []) as Vulnerability[];
  return vulns.map((v) => `${keyOf(report)}|${v.cve || v.id}|${v.packageName}`);
}

/** Plays the whole history back; the served reports at each step. */
async function playBack(sim: RunningSimulator): Promise<Report[][]> {
  const steps: Report[][] = [await served(sim)];
  while (sim.history!.step < sim.history!.steps - 1) {
    sim.history!.advance();
    steps.push(await served(sim));
  }
  return steps;
}

describe('history playback', () => {
  it('dates the steps over the period, ending at `end`, and stops after the last', async () => {
    const sim = await historySim(10);
    const history = sim.history!;
    expect(history.step).toBe(0);
    expect(history.steps).toBe(7);
    expect(Date.parse(history.at)).toBe(Date.parse(END) - 42 * DAY_MS);
    const first = history.advance();
    expect(first.step).toBe(1);
    expect(Date.parse(first.at)).toBe(Date.parse(END) - 35 * DAY_MS);
    for (let i = 2; i < 7; i++) history.advance();
    expect(Date.parse(history.at)).toBe(Date.parse(END));
    expect(() => history.advance()).toThrow(/last step/);
    const plain = await startSimulator({ images: 1, rateLimit: false });
    sims.push(plain);
    expect(plain.history).toBeUndefined();
  });

  it('rejects a history it cannot play', async () => {
    await expect(startSimulator({ history: { days: 42, steps: 1 } })).rejects.toThrow(/history.steps/);
    await expect(startSimulator({ history: { days: 0, steps: 3 } })).rejects.toThrow(/history.days/);
    await expect(startSimulator({ history: { days: 4, steps: 3, end: 'soon' } })).rejects.toThrow(
      /history.end/,
    );
  });

  it('scans each step in the hours before its date, never after, and keeps the first scan time', async () => {
    const sim = await historySim();
    const steps = await playBack(sim);
    const firstScan = new Map<string, unknown>();
    let stale = 0;
    for (const [step, reports] of steps.entries()) {
      const stepMs = Date.parse(END) - 42 * DAY_MS + step * 7 * DAY_MS;
      let scannedNow = 0;
      for (const report of reports) {
        const scanMs = Date.parse(report.scanTime as string);
        expect(scanMs).toBeLessThan(stepMs);
        expect(scanMs).toBeGreaterThanOrEqual(Date.parse(END) - 42 * DAY_MS - 6 * HOUR_MS);
        if (scanMs > stepMs - 6 * HOUR_MS) scannedNow++;
        const key = keyOf(report);
        if (report.firstScanTime !== undefined && report.firstScanTime !== '0001-01-01T00:00:00Z') {
          expect(firstScan.get(key) ?? report.firstScanTime).toBe(report.firstScanTime);
          firstScan.set(key, report.firstScanTime);
        }
        if (step === 6 && scanMs < Date.parse(END) - 40 * DAY_MS) stale++;
      }
      // Most images are rescanned at every step.
      expect(scannedNow / reports.length).toBeGreaterThan(0.75);
    }
    // A few were never rescanned after the first step: the staleness a report shows.
    expect(stale).toBeGreaterThan(0);
    expect(stale).toBeLessThan(12);
  });

  it('opens and fixes findings from step to step, and reopens a few', async () => {
    const sim = await historySim(200);
    const steps = await playBack(sim);
    const sets = steps.map((reports) => new Set(reports.flatMap(findingKeys)));
    const everFixed = new Set<string>();
    let reopened = 0;
    for (let step = 1; step < sets.length; step++) {
      const before = sets[step - 1]!;
      const now = sets[step]!;
      const opened = [...now].filter((key) => !before.has(key));
      const fixed = [...before].filter((key) => !now.has(key));
      expect(opened.length).toBeGreaterThan(0);
      expect(fixed.length).toBeGreaterThan(0);
      reopened += opened.filter((key) => everFixed.has(key)).length;
      for (const key of fixed) everFixed.add(key);
    }
    expect(reopened).toBeGreaterThan(0);
    // The console gets better over the period: fewer findings open at the end than at the start.
    expect(sets[6]!.size).toBeLessThan(sets[0]!.size);
    // Counts agree with the arrays where the report does not say otherwise.
    for (const report of steps[6]!) {
      const vulns = report.vulnerabilities as unknown[] | null;
      if (vulns !== null)
        expect((report.vulnerabilityDistribution as { total: number }).total).toBeOneOf([vulns.length, 0]);
    }
  });

  it('re-pushes, adds and removes images, and the ground truth follows', async () => {
    const sim = await historySim(200);
    const before = new Map((await served(sim)).map((r) => [keyOf(r), r]));
    const mark = sim.truth.mark();
    const changes = { added: [] as string[], removed: [] as string[], repushed: [] as string[] };
    while (sim.history!.step < 6) {
      const step = sim.history!.advance();
      changes.added.push(...step.added);
      changes.removed.push(...step.removed);
      changes.repushed.push(...step.repushed);
      expect(step.rescanned).toEqual(expect.arrayContaining(step.repushed));
    }
    expect(changes.added.length).toBeGreaterThan(0);
    expect(changes.removed.length).toBeGreaterThan(0);
    expect(changes.repushed.length).toBeGreaterThan(0);
    const after = await served(sim);
    expect(after.map(keyOf)).toEqual(sim.truth.present());
    expect(sim.truth.persistentSince(mark)).not.toContain(changes.removed[0]);
    expect(sim.truth.everPresentSince(mark)).toEqual(expect.arrayContaining(changes.removed));
    const repushed = changes.repushed.find((key) => !changes.removed.includes(key))!;
    const old = before.get(repushed)!;
    const now = after.find((r) => keyOf(r) === repushed)!;
    expect(now.id).not.toBe(old.id);
    expect(Date.parse(now.creationTime as string)).toBeGreaterThan(Date.parse(old.scanTime as string));
    expect(Date.parse(now.creationTime as string)).toBeLessThan(Date.parse(now.scanTime as string));
    expect(sim.truth.report(repushed)).toEqual(now);
  });

  it('plays back the same history for the same seed, and compact pages agree with full ones', async () => {
    const [a, b, c] = await Promise.all([historySim(50, 9), historySim(50, 9), historySim(50, 10)]);
    const [stepsA, stepsB, stepsC] = await Promise.all([playBack(a!), playBack(b!), playBack(c!)]);
    expect(JSON.stringify(stepsA)).toBe(JSON.stringify(stepsB));
    expect(JSON.stringify(stepsA)).not.toBe(JSON.stringify(stepsC));
    const res = await fetch(`${a!.url}/api/v1/registry?limit=50&compact=true`, {
      headers: basic('demo', 'demo'),
    });
    const compact = (await res.json()) as Report[];
    expect(compact.map((r) => [r.scanTime, r.vulnerabilitiesCount])).toEqual(
      stepsA[6]!.slice(0, 50).map((r) => [r.scanTime, r.vulnerabilitiesCount]),
    );
  });
});
