import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesize } from './synth.js';

const outdir = mkdtempSync(join(tmpdir(), 'prs-cfn-lint-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The two configurations the stack must deploy in: the smallest, and every optional part on. */
const CONFIGURATIONS = {
  'one-console': { consoles: [{ id: 'prod', url: 'https://console.corp.test' }] },
  'three-consoles-analytics-cmk-destroy': {
    consoles: [
      { id: 'prod', url: 'https://console.corp.test' },
      { id: 'eu', url: 'https://eu-west1.cloud.twistlock.com/eu-2-222222222', schedule: 'cron(0 2 * * ? *)' },
      { id: 'lab', url: 'https://lab.corp.test', apiVersion: 'v33.03' },
    ],
    analytics: true,
    tableEncryption: 'customer-managed',
    removalPolicy: 'destroy',
    alarmEmail: 'secops@corp.test',
  },
} as const;

/** cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational; 1 a failure of its own. */
const CFN_LINT_ERROR = 2;

describe('cfn-lint', () => {
  it('finds no error in the synthesized templates of one console and of three with every option', () => {
    const files = Object.entries(CONFIGURATIONS).map(([name, context]) => {
      const file = join(outdir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(synthesize(context).template.toJSON()));
      return file;
    });
    const result = spawnSync('cfn-lint', ['--format', 'parseable', '--', ...files], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error('cfn-lint is not installed (pip install cfn-lint; .ci/run installs it when missing)');
    }
    expect(result.error).toBeUndefined();
    const status = result.status ?? -1;
    // Exit 1 is cfn-lint failing itself (a bad argument, a crash): as fatal as an error in a template.
    expect(status & 1, result.stderr).toBe(0);
    const errors = result.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
    expect(status & CFN_LINT_ERROR, result.stdout).toBe(0);
  }, 420_000);
});
