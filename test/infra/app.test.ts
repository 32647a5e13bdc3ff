import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const outdir = mkdtempSync(join(tmpdir(), 'prs-synth-'));

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The environment of a machine without AWS credentials or network access to AWS. */
const offlineEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_PROFILE: '',
  AWS_EC2_METADATA_DISABLED: 'true',
  CDK_DISABLE_VERSION_CHECK: '1',
};

describe('the CDK app', () => {
  it('synthesizes with `npm run synth` from cdk.json alone: no credentials, no lookups, no Docker', () => {
    const result = spawnSync('npm', ['run', '--silent', 'synth', '--', '--no-notices', '--output', outdir], {
      cwd: root,
      env: offlineEnv,
      encoding: 'utf8',
      timeout: 220_000,
    });
    expect(result.stderr).not.toMatch(/docker/i);
    expect(result.status, result.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'PrismaRegistrySync.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((resource) => resource.Type);
    expect(types).toContain('AWS::Lambda::Function');
    expect(types).toContain('AWS::Scheduler::Schedule');
    // Seconds normally (tsx start, CDK load, two esbuild bundles); the margin is for a loaded CI box.
  }, 230_000);

  it('fails before synthesis with one line naming the bad context key and exit code 2', () => {
    const result = spawnSync('npx', ['tsx', 'infra/app.ts'], {
      cwd: root,
      env: {
        ...offlineEnv,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ consoles: [{ id: 'prod', url: 'http://console.corp.test' }] }),
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.status).toBe(2);
    expect(
      result.stderr
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('npm warn')),
    ).toEqual(['prisma-registry-sync: context consoles[0].url: must use https']);
  });
});
