/**
 * Text that came from a console is untrusted: a console or a proxy may echo the request (the
 * password in a POST /authenticate body, the Bearer token, the Basic header) in an error body, and
 * may put terminal control sequences in any string. Everything the product prints, logs or stores
 * about a console passes through a {@link Redactor} (secrets) and {@link escapeControl} (terminal).
 */

/** What a redacted secret is replaced with. */
export const REDACTED = '[REDACTED]';

/**
 * Secrets shorter than this are not redacted: replacing every `p` of a message for a one-letter
 * test password would make messages unreadable, and such a secret protects nothing anyway.
 */
export const MIN_SECRET_LENGTH = 4;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The forms a secret can take once echoed: as is, JSON-escaped, URL-encoded, base64. */
function formsOf(secret: string): string[] {
  const forms = new Set<string>([secret]);
  forms.add(JSON.stringify(secret).slice(1, -1));
  forms.add(encodeURIComponent(secret));
  forms.add(Buffer.from(secret, 'utf8').toString('base64').replace(/=+$/, ''));
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * Replaces known secrets in text. Secrets can be added later (a token issued mid-run). Not
 * enumerable and not printable: inspecting a redactor shows no secret.
 *
 * @example
 * const redactor = new Redactor(['hunter22']);
 * redactor.redact('bad password "hunter22"'); // 'bad password "[REDACTED]"'
 */
export class Redactor {
  #forms = new Set<string>();
  #pattern: RegExp | undefined;

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** Adds a secret (and its echoed forms); blank or very short values are ignored. */
  add(secret: string | undefined): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return;
    let changed = false;
    for (const form of formsOf(secret)) {
      if (!this.#forms.has(form)) {
        this.#forms.add(form);
        changed = true;
      }
    }
    if (!changed) return;
    // Longest first, so a secret that contains another is replaced whole.
    const alternatives = [...this.#forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.#pattern = new RegExp(alternatives.join('|'), 'g');
  }

  /** The text with every known secret replaced by `[REDACTED]`. */
  redact(text: string): string {
    if (this.#pattern === undefined || text === '') return text;
    return text.replace(this.#pattern, REDACTED);
  }

  /** A JSON-like value with every string (keys included) redacted; other values as they are. */
  redactValue<T>(value: T, depth = 0): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((item) => this.redactValue(item, depth + 1)) as T;
    if (value instanceof Error) return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      out[this.redact(key)] = this.redactValue(item, depth + 1);
    return out as T;
  }

  /**
   * Redacts an error's message in place, and its causes' (up to 5 deep), so whatever prints,
   * logs or stores the error later sees no secret. Returns the same error.
   */
  redactError<T>(error: T): T {
    let current: unknown = error;
    for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
      const redacted = this.redact(current.message);
      if (redacted !== current.message) {
        Object.defineProperty(current, 'message', { value: redacted, writable: true, configurable: true });
        if (typeof current.stack === 'string') current.stack = this.redact(current.stack);
      }
      const details = (current as { details?: unknown }).details;
      if (details !== undefined && typeof details === 'object' && details !== null) {
        Object.defineProperty(current, 'details', {
          value: Object.freeze(this.redactValue(details)),
          enumerable: true,
          configurable: true,
        });
      }
      current = current.cause;
    }
    return error;
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_WITH_NEWLINES = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Escapes C0/C1 control characters (ESC of an ANSI sequence, BEL, backspace, CR) and the Unicode
 * bidi overrides as `\u001b`-style text, so console text can neither drive a terminal (clear the
 * screen, set the title, hide a line) nor reorder what an operator reads. Tab and newline are kept
 * unless `newlines` is false (then a one-line message stays one line).
 *
 * @example
 * escapeControl('\u001b]0;pwned\u0007name'); // '\\u001b]0;pwned\\u0007name'
 */
export function escapeControl(text: string, options: { newlines?: boolean } = {}): string {
  const pattern = options.newlines === false ? CONTROL_WITH_NEWLINES : CONTROL;
  return text.replace(pattern, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Console text made fit for a message: control characters escaped (newlines too), secrets
 * redacted, and cut to `max` characters.
 *
 * @example
 * untrustedText('Bad auth for hunter22\u001b[2J', new Redactor(['hunter22']), 200); // 'Bad auth for [REDACTED]\\u001b[2J'
 */
export function untrustedText(text: string, redactor: Redactor | undefined, max = 200): string {
  // Redacted before it is cut, so a secret across the cut is not left half visible.
  const head = text.length > max + 1024 ? text.slice(0, max + 1024) : text;
  const redacted = redactor === undefined ? head : redactor.redact(head);
  const cut = redacted.length > max ? `${redacted.slice(0, max)}…` : redacted;
  return escapeControl(cut, { newlines: false });
}
