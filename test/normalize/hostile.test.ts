/**
 * The normalizer on hostile reports (issue #20): fields the product does not key on are read
 * leniently (wrong type → absent + a warning), numbers that are not scores never survive, names are
 * never trimmed into each other, and huge or deeply nested input neither crashes nor hangs.
 */
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../lambda/common/errors.js';
import { imageKeyString, normalizeReport } from '../../lambda/normalize/index.js';
import { apiReport } from './support.js';

const context = { consoleId: 'console-a' };
type Json = Record<string, unknown>;

function withVulnerability(fields: Json): Json {
  const report = apiReport();
  const [first] = report.vulnerabilities as Json[];
  return { ...report, vulnerabilities: [{ ...first, ...fields }] };
}

describe('lenient reading of fields the product does not key on', () => {
  it.each([
    ['osDistro', 12, 'osDistro is a number, not text: ignored'],
    ['osDistro', { name: 'debian' }, 'osDistro is a object, not text: ignored'],
    ['scanVersion', ['1'], 'scanVersion is an array, not text: ignored'],
  ])('reads %s = %j as absent, with a warning naming the field', (name, value, warning) => {
    const { image, warnings } = normalizeReport(apiReport({ [name]: value, distro: undefined }), context);
    expect(image[name as 'osDistro' | 'scanVersion']).toBeNull();
    expect(warnings).toContain(warning);
  });

  it('keeps the finding of a vulnerability whose title, severity and cvss have the wrong type', () => {
    const { findings } = normalizeReport(
      withVulnerability({ cve: 'CVE-2099-1', title: { x: 1 }, severity: 9, cvss: 'very' }),
      context,
    );
    expect(findings.map((f) => f.id)).toContain('CVE-2099-1');
  });
});

describe('numbers that are not scores', () => {
  it.each([1e308, -1, 10.5, Number.MAX_SAFE_INTEGER + 2, '1e400', 'NaN'])(
    'drops cvss %s with a warning and lets the vendor severity decide',
    (cvss) => {
      const { findings, warnings } = normalizeReport(
        withVulnerability({ cve: 'CVE-2099-2', severity: 'low', cvss }),
        context,
      );
      const finding = findings.find((f) => f.id === 'CVE-2099-2');
      expect(finding?.cvss).toBeNull();
      expect(finding?.severity).toBe('low');
      expect(warnings.join('\n')).toMatch(/cvss that is not a score from 0 to 10/);
      // Nothing non-finite or unsafe anywhere in what goes to the store.
      const numbers: number[] = [];
      JSON.stringify({ findings }, (_k, v: unknown) => {
        if (typeof v === 'number') numbers.push(v);
        return v;
      });
      for (const n of numbers)
        expect(Number.isFinite(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER).toBe(true);
    },
  );

  it('keeps a real cvss of 0 to 10', () => {
    const { findings } = normalizeReport(withVulnerability({ cve: 'CVE-2099-3', cvss: 9.8 }), context);
    expect(findings.find((f) => f.id === 'CVE-2099-3')?.cvss).toBe(9.8);
  });
});

describe('honest identity', () => {
  it('keeps `alpine ` and `alpine` as two images, and warns about the odd one', () => {
    const plain = normalizeReport(
      apiReport({ repoTag: { registry: '', repo: 'alpine', tag: '3' } }),
      context,
    );
    const spaced = normalizeReport(
      apiReport({ repoTag: { registry: '', repo: 'alpine ', tag: '3' } }),
      context,
    );
    const tagged = normalizeReport(
      apiReport({ repoTag: { registry: '', repo: 'alpine', tag: ' 3' } }),
      context,
    );
    const keys = new Set([plain, spaced, tagged].map((r) => imageKeyString(r.image.identity)));
    expect(keys.size).toBe(3);
    expect(plain.warnings.join('\n')).not.toMatch(/surrounding whitespace/);
    expect(spaced.warnings.join('\n')).toMatch(/repo "alpine " has surrounding whitespace/);
    expect(tagged.warnings.join('\n')).toMatch(/tag " 3" has surrounding whitespace/);
  });

  it('throws a typed error naming the field for an image name no store can key on', () => {
    const error = (() => {
      try {
        normalizeReport(apiReport({ repoTag: { registry: '', repo: 'r'.repeat(2_000), tag: '1' } }), context);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isSyncError(error, 'normalize.invalid')).toBe(true);
    expect((error as Error).message).toMatch(/image name is longer than/);
    expect(JSON.stringify((error as { details: unknown }).details)).toContain('repoTag');
  });
});

describe('huge and deep input', () => {
  it('normalizes a report with a 100,000-deep unknown field and a 20 MB description without a crash', () => {
    const depth = 100_000;
    const deep = JSON.parse(`${'{"d":['.repeat(depth)}1${']}'.repeat(depth)}`) as unknown;
    const started = Date.now();
    const report = withVulnerability({ cve: 'CVE-2099-4', description: 'x'.repeat(20 * 1024 * 1024) });
    const { findings } = normalizeReport({ ...report, deepUnknown: deep }, context);
    expect(findings.find((f) => f.id === 'CVE-2099-4')).toBeDefined();
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
