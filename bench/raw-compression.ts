/**
 * Raw-report compression levels: compressed size, write units and CPU per report at gzip levels
 * 1, 3 and 6, over 500 generated reports (seed 1) and the real fixtures of ../shared/fixtures/real.
 * Each level runs twice (the first pass warms the JIT); the second pass is the figure.
 *
 *   npx tsx bench/raw-compression.ts
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { generateReport, imageSlot } from '../simulator/generator.js';

const generated: string[] = [];
for (let i = 0; i < 500; i++) {
  const report = generateReport({ seed: 1, heavyFraction: 0 }, imageSlot(1, i), {
    scanGeneration: 0,
    findingsVersion: 0,
  });
  generated.push(JSON.stringify(report));
}
const real: string[] = [];
const dir = new URL('../../shared/fixtures/real/', import.meta.url);
if (existsSync(dir)) {
  for (const file of readdirSync(dir, { recursive: true }) as string[]) {
    if (!file.endsWith('.json')) continue;
    try {
      const value: unknown = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
      for (const report of Array.isArray(value) ? value : [value]) real.push(JSON.stringify(report));
    } catch {
      // Not a report file: nothing to measure.
    }
  }
}
const rows: string[] = [
  '| reports | raw KB / report | gzip level | compressed KB / report | write units / report | CPU ms / report |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const [name, set] of [
  ['generated', generated],
  ['real fixtures', real],
] as const) {
  if (set.length === 0) continue;
  const rawKb = set.reduce((sum, text) => sum + Buffer.byteLength(text), 0) / set.length / 1024;
  for (const level of [1, 3, 6]) {
    let measured = { bytes: 0, units: 0, cpuMs: 0 };
    for (let pass = 0; pass < 2; pass++) {
      let bytes = 0;
      let units = 0;
      const start = process.cpuUsage();
      for (const text of set) {
        const compressed = gzipSync(Buffer.from(text), { level });
        bytes += compressed.length;
        units += Math.max(1, Math.ceil(compressed.length / 1024));
      }
      const cpu = process.cpuUsage(start);
      measured = { bytes, units, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    rows.push(
      `| ${name} (${set.length}) | ${rawKb.toFixed(1)} | ${level} | ${(measured.bytes / set.length / 1024).toFixed(2)} | ${(measured.units / set.length).toFixed(2)} | ${(measured.cpuMs / set.length).toFixed(3)} |`,
    );
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
