import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../lambda/export/aws/handler.ts', import.meta.url));

describe('the exporter function bundle', () => {
  it('holds the AWS SDK clients it calls and neither DuckDB nor the store or the normalizer', async () => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes('@aws-sdk/client-glue'))).toBe(true);
    expect(
      inputs.filter((path) =>
        /duckdb|lambda\/store\/|lambda\/normalize\/|lambda\/export\/writers/.test(path),
      ),
    ).toEqual([]);
    const bytes = result.outputFiles.reduce((sum, file) => sum + file.contents.byteLength, 0);
    expect(bytes).toBeLessThan(3_000_000);
  });
});
