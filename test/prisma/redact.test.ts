import { describe, expect, it } from 'vitest';
import { SyncError } from '../../lambda/common/errors.js';
import { escapeControl, Redactor, untrustedText } from '../../lambda/common/redact.js';

describe('Redactor', () => {
  const secret = 'p@ss "wörd"/1';
  const redactor = new Redactor([secret, 'ab']);

  it('replaces a secret in every form an echo takes: as is, JSON-escaped, URL-encoded, base64', () => {
    for (const form of [
      secret,
      JSON.stringify(secret).slice(1, -1),
      encodeURIComponent(secret),
      // base64 without its `=` padding: the padding depends on what follows the secret in an echo.
      Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    ]) {
      expect(redactor.redact(`x ${form} y`)).toBe('x [REDACTED] y');
    }
  });

  it('leaves secrets under 4 characters alone (a one-letter password would blank every message)', () => {
    expect(redactor.redact('abc')).toBe('abc');
  });

  it('redacts an error in place: message, details and causes', () => {
    const cause = new Error(`socket said ${secret}`);
    const error = new SyncError('client.http', `HTTP 400: ${secret}`, { echo: [secret] }, cause);
    expect(redactor.redactError(error)).toBe(error);
    expect(error.message).toBe('HTTP 400: [REDACTED]');
    expect(error.details).toEqual({ echo: ['[REDACTED]'] });
    expect(cause.message).toBe('socket said [REDACTED]');
    expect(String(error.stack)).not.toContain(secret);
  });

  it('learns a secret later (a token issued mid-run)', () => {
    const later = new Redactor();
    later.add('tok-123456');
    expect(later.redact('Bearer tok-123456')).toBe('Bearer [REDACTED]');
  });
});

describe('escapeControl and untrustedText', () => {
  it('escapes ANSI sequences, BEL, CR and bidi overrides; keeps newlines unless asked', () => {
    expect(escapeControl('\u001b[2J\u001b]0;t\u0007a\rb\u202ec\nd')).toBe(
      '\\u001b[2J\\u001b]0;t\\u0007a\\u000db\\u202ec\nd',
    );
    expect(escapeControl('a\nb', { newlines: false })).toBe('a\\u000ab');
  });

  it('redacts before cutting, so a secret across the cut is not half shown', () => {
    const redactor = new Redactor(['SECRET-VALUE']);
    const text = `${'x'.repeat(195)}SECRET-VALUE and more`;
    expect(untrustedText(text, redactor, 200)).toBe(`${'x'.repeat(195)}[REDA…`);
  });
});
