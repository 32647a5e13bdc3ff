#!/usr/bin/env node
// In a checkout with dev dependencies, run the TypeScript source through tsx (never a stale bundle);
// where tsx is absent (a packaged install), run the esbuild bundle from `npm run build`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'lambda', 'cli.ts');
let entry = join(root, 'dist', 'cli.mjs');
let hasTsx = false;
try {
  createRequire(import.meta.url).resolve('tsx/esm/api');
  hasTsx = true;
} catch {
  hasTsx = false;
}
if (hasTsx && existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = source;
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
