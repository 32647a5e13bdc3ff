/**
 * Defensive readers for console JSON. Reports reach the normalizer as `unknown` (the client's
 * zod schema is `.loose()`), and real consoles send fields missing, `null`, or with a harmless
 * wrong type (a number where a string is documented). These readers never throw: they answer
 * "no value" and let the caller decide what that means.
 */

/** A parsed JSON object, read only through {@link field}. */
export type RawObject = Readonly<Record<string, unknown>>;

/**
 * The value when it is a plain JSON object (not `null`, not an array), else `undefined`.
 *
 * @example
 * asObject({ a: 1 }); // { a: 1 }
 * asObject([1]);      // undefined
 */
export function asObject(value: unknown): RawObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as RawObject)
    : undefined;
}

/**
 * An own property of a parsed object. Own properties only, so a `__proto__` or `constructor`
 * key in the input is just data, and an inherited property is never mistaken for a field.
 *
 * @example
 * field(JSON.parse('{"repoTag":{"repo":"app"}}'), 'repoTag'); // { repo: 'app' }
 */
export function field(object: RawObject | undefined, name: string): unknown {
  return object !== undefined && Object.hasOwn(object, name) ? object[name] : undefined;
}

/**
 * The value as text: strings as they are, finite numbers and booleans stringified (the API
 * documents `id` as an integer, twistcli sends a CVE string there), anything else `null`.
 *
 * @example
 * text(46);     // '46'
 * text(null);   // null
 * text({});     // null
 */
export function text(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return null;
}

/**
 * Like {@link text}, but blank text (`''`, whitespace only) is `null`: the console writes `""`
 * for "no value" (`vecStr: ""`, `link: ""`).
 *
 * @example
 * presentText('');      // null
 * presentText('open');  // 'open'
 */
export function presentText(value: unknown): string | null {
  const result = text(value);
  return result === null || result.trim() === '' ? null : result;
}

/**
 * A finite number, also from a numeric string (`"4.7"`); anything else `null`.
 *
 * @example
 * finiteNumber('4.7'); // 4.7
 * finiteNumber('');    // null
 */
export function finiteNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

/**
 * The value when it is an array, else an empty one (`vulnerabilities: null` on a clean image).
 *
 * @example
 * list(null); // []
 */
export function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** What {@link capText} did. */
export interface CappedText {
  text: string;
  truncated: boolean;
}

/**
 * `value` cut to at most `maxChars` UTF-16 units plus an ellipsis, never splitting a surrogate
 * pair (a lone surrogate is not valid UTF-8, and DynamoDB rejects it).
 *
 * @example
 * capText('abcdef', 3); // { text: 'abc…', truncated: true }
 */
export function capText(value: string, maxChars: number): CappedText {
  if (value.length <= maxChars) return { text: value, truncated: false };
  let end = maxChars;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { text: `${value.slice(0, end)}…`, truncated: true };
}

/**
 * A short, safe description of any input value for warnings: never throws (not even on an
 * object whose `toString` is broken) and never echoes a large object.
 *
 * @example
 * preview('January 01, 1970'); // 'January 01, 1970'
 * preview({ toString: null });  // 'an object'
 */
export function preview(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
