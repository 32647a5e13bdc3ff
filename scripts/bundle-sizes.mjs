// Prints the size of each production bundle: what every command loads (the entry and its static
// imports) and the chunks loaded only on demand. `node scripts/bundle-sizes.mjs`
import { build } from 'esbuild';
import { bundleOptions } from './bundles.mjs';

const options = bundleOptions('out');
for (const name of ['handler', 'cli']) {
  const { metafile } = await build({ ...options[name], write: false, metafile: true, logLevel: 'silent' });
  const outputs = metafile.outputs;
  const entry = Object.keys(outputs).find((file) => outputs[file].entryPoint);
  const eager = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop();
    if (eager.has(file) || !outputs[file]) continue;
    eager.add(file);
    for (const i of outputs[file].imports)
      if (i.kind === 'import-statement' && !i.external) queue.push(i.path);
  }
  const code = Object.keys(outputs).filter((file) => file.endsWith('.mjs'));
  const bytes = (files) => files.reduce((sum, file) => sum + outputs[file].bytes, 0);
  const lazy = code.filter((file) => !eager.has(file));
  console.log(`${name}: ${bytes([...eager])} bytes loaded by every run`);
  for (const file of lazy) {
    const sources = Object.keys(outputs[file].inputs).filter((i) => !i.includes('node_modules/'));
    console.log(`  on demand: ${outputs[file].bytes} bytes (${sources.join(', ') || 'dependencies'})`);
  }
}
