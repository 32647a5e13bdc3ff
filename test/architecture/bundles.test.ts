import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ESM script shared with `npm run build`, no type declarations
import { bundleOptions } from '../../scripts/bundles.mjs';

interface Bundle {
  entry: string;
  metafile: Metafile;
}

async function bundle(name: 'handler' | 'cli'): Promise<Bundle> {
  const options = bundleOptions('out')[name];
  const result = await build({ ...options, write: false, metafile: true, logLevel: 'silent' });
  const metafile = result.metafile;
  if (!metafile) throw new Error(`esbuild returned no metafile for ${name}`);
  // Every dynamic import is an entry point of its own chunk too: pick the program's entry by name.
  const source =
    typeof options.entryPoints === 'object' && !Array.isArray(options.entryPoints)
      ? Object.values(options.entryPoints as Record<string, string>)[0]
      : (options.entryPoints as string[])[0];
  const entry = Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === source)?.[0];
  if (!entry) throw new Error(`no entry output for ${name}`);
  return { entry, metafile };
}

/** Source files reachable from the entry through static imports only (what a cold start reads). */
function staticInputs({ entry, metafile }: Bundle): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  const inputs = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const output = metafile.outputs[file];
    if (!output) continue;
    for (const input of Object.keys(output.inputs)) inputs.add(input);
    for (const imported of output.imports) {
      if (imported.kind === 'import-statement' && !imported.external) queue.push(imported.path);
    }
  }
  return [...inputs];
}

const testOnly = (input: string) => input.startsWith('simulator/') || input.startsWith('local/');

describe('production bundles', () => {
  it('the Lambda handler contains neither the simulator nor the DynamoDB Local harness', async () => {
    const handler = await bundle('handler');
    const all = Object.values(handler.metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    expect(all.filter(testOnly)).toEqual([]);
    expect(all).toContain('lambda/handler.ts');
  }, 120_000);

  it('the CLI loads the simulator and the harness only when `demo` or `simulate` runs', async () => {
    const cli = await bundle('cli');
    const eager = staticInputs(cli);
    expect(eager).toContain('lambda/cli.ts');
    expect(eager.filter(testOnly)).toEqual([]);
    const everything = Object.values(cli.metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    expect(everything.some((input) => input.startsWith('simulator/'))).toBe(true);
  }, 120_000);
});
