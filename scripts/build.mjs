// Bundles the Lambda handler (one ESM file) and the CLI (an entry file plus lazily loaded chunks).
import { build } from 'esbuild';
import { bundleOptions } from './bundles.mjs';

const options = bundleOptions('dist');
await build(options.handler);
await build(options.cli);
