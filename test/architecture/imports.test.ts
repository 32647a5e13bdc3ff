import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Data flows one way: console → client (prisma) → normalize → store, joined only by the engine
 * (sync); the CLI and the Lambda handlers are shells over it. docs/architecture.md explains the
 * layers; this test keeps the code honest to it.
 */
type Layer =
  | 'common'
  | 'config'
  | 'prisma'
  | 'normalize'
  | 'store'
  | 'export'
  | 'report'
  | 'sync'
  | 'shell'
  | 'simulator'
  | 'local';

const ALLOWED: Record<Layer, readonly Layer[]> = {
  common: [],
  config: ['common'],
  prisma: ['common'],
  normalize: ['common'],
  store: ['common'],
  export: ['common', 'store'],
  report: ['common', 'export'],
  sync: ['common', 'config', 'prisma', 'normalize', 'store'],
  shell: ['common', 'config', 'prisma', 'normalize', 'store', 'export', 'report', 'sync', 'shell'],
  simulator: ['common', 'simulator'],
  local: ['common', 'local'],
};

/** Shell modules that may reach the simulator and the DynamoDB Local harness (loaded lazily). */
const TEST_PARTS_ALLOWED_IN = new Set(['lambda/cli/demo.ts']);

const SHELLS = new Set([
  'lambda/cli.ts',
  'lambda/handler.ts',
  'lambda/export/cli.ts',
  'lambda/export/aws/handler.ts',
  'lambda/report/cli.ts',
]);

function layerOf(file: string): Layer | undefined {
  if (file.startsWith('simulator/')) return 'simulator';
  if (file.startsWith('local/')) return 'local';
  if (!file.startsWith('lambda/')) return undefined;
  if (SHELLS.has(file) || file.startsWith('lambda/cli/')) return 'shell';
  if (file === 'lambda/config.ts') return 'config';
  // The other files at the top of lambda/ belong to the entry points (handler limits and the like).
  if (file.split('/').length === 2) return 'shell';
  const folder = file.split('/')[1] as string;
  const layers: Record<string, Layer> = {
    common: 'common',
    prisma: 'prisma',
    normalize: 'normalize',
    store: 'store',
    export: 'export',
    report: 'report',
    sync: 'sync',
  };
  return layers[folder];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

interface Import {
  from: string;
  to: string;
  dynamic: boolean;
}

const STATIC = /^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms;
const DYNAMIC = /\bimport\(\s*'(\.[^']+)'\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const resolve = (spec: string) => normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
  const found: Import[] = [];
  for (const m of text.matchAll(STATIC))
    found.push({ from: file, to: resolve(m[1] as string), dynamic: false });
  for (const m of text.matchAll(DYNAMIC))
    found.push({ from: file, to: resolve(m[1] as string), dynamic: true });
  return found;
}

function violations(): string[] {
  const root = process.cwd();
  const files = ['lambda', 'simulator', 'local'].flatMap((d) => sourceFiles(join(root, d)));
  const problems: string[] = [];
  for (const abs of files) {
    for (const imp of importsOf(abs)) {
      const from = relative(root, imp.from);
      const to = relative(root, imp.to);
      const source = layerOf(from);
      const target = layerOf(to);
      if (!source || !target || source === target) continue;
      const testPart = target === 'simulator' || target === 'local';
      if (source === 'shell' && testPart) {
        if (imp.dynamic || TEST_PARTS_ALLOWED_IN.has(from)) continue;
        problems.push(`${from} imports ${to} statically (the production bundle must not carry it)`);
        continue;
      }
      if (!ALLOWED[source].includes(target)) problems.push(`${from} (${source}) imports ${to} (${target})`);
    }
  }
  return problems;
}

describe('import directions', () => {
  it('every module imports only the layers it may depend on', () => {
    expect(violations()).toEqual([]);
  });

  it('reads the imports it judges (the rules are not vacuous)', () => {
    const engine = importsOf(join(process.cwd(), 'lambda/sync/engine.ts'));
    expect(engine.length).toBeGreaterThan(0);
    const cli = importsOf(join(process.cwd(), 'lambda/cli.ts'));
    expect(cli.some((i) => i.dynamic)).toBe(true);
  });
});
