import { describe, expect, it } from 'vitest';
import { isSyncError, requireChoice } from '../../lambda/common/errors.js';
import { writeReport } from '../../lambda/report/index.js';

describe('requireChoice', () => {
  it('accepts a choice and refuses anything else, naming the option, the choices and the value', () => {
    expect(() => requireChoice('format', 'md', ['html', 'json', 'md'])).not.toThrow();
    let error: unknown;
    try {
      requireChoice('format', 'xml', ['html', 'json', 'md']);
    } catch (e) {
      error = e;
    }
    expect(isSyncError(error, 'config.invalid')).toBe(true);
    expect((error as Error).message).toBe('format must be one of html, json, md, got xml');
    expect((error as { details: unknown }).details).toEqual({ format: 'xml' });
  });

  it('is what the report says of a format it does not write, before reading anything', async () => {
    const error = await writeReport({
      source: { kind: 'export', dir: '/nonexistent' },
      out: '/nonexistent/report.xml',
      format: 'xml' as 'html',
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('format must be one of html, json, md, got xml');
  });
});
