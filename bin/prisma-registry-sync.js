#!/usr/bin/env node
// Runs the bundled CLI when built (`npm run build`), else the TypeScript source through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'cli.mjs');
let entry = bundle;
if (!existsSync(bundle)) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'lambda', 'cli.ts');
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
