/**
 * Writes JSON text straight into a growable byte buffer. Compact pages are assembled with it:
 * building each report as a JS string first allocated about five bytes of garbage per byte
 * served, and the garbage collector's work on that was a large share of a cold page's cost.
 *
 * It can also note where the text repeats itself (a constant written before, bytes copied with
 * `repeat`): {@link gzipWithMatches} turns those notes into deflate matches without searching.
 */

/** Constants up to this many bytes are copied with a loop, longer ones with `set`. */
const SHORT_COPY = 16;

/**
 * A growable buffer of ASCII text. `text` writes one byte per UTF-16 unit, so callers pass only
 * ASCII; `utf8` encodes anything else.
 *
 * @example
 * const out = new AsciiWriter();
 * out.text('{"n":');
 * out.uint(42);
 * out.text('}');
 * out.toString(); // '{"n":42}'
 */
export class AsciiWriter {
  private buffer: Buffer;
  private length = 0;
  /** Repeats noted so far, as (position, length, source position) triples; undefined: not noting. */
  private repeats: Int32Array | undefined;
  private repeatCount = 0;
  /** Where each constant (by id) was last written in this content, -1 if not yet. */
  private lastWritten = new Int32Array(0);

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  /**
   * Forgets the content. The memory is kept for the next use, unless it grew past
   * `retainBytes` (a page of heavy full reports can take tens of MB: not worth holding on to).
   */
  reset(retainBytes = Number.POSITIVE_INFINITY): void {
    this.length = 0;
    if (this.buffer.length > retainBytes) this.buffer = Buffer.allocUnsafe(retainBytes);
    this.repeatCount = 0;
    this.lastWritten.fill(-1);
  }

  /**
   * From now until switched off, notes every repeat: each constant written where it was written
   * before (see {@link ascii}) and every {@link repeat}. Switching on or off forgets earlier notes.
   */
  noteRepeats(on: boolean): void {
    this.repeats = on ? (this.repeats ?? new Int32Array(3 * 1024)) : undefined;
    this.repeatCount = 0;
    this.lastWritten.fill(-1);
  }

  /** Whether repeats are being noted. */
  get notingRepeats(): boolean {
    return this.repeats !== undefined;
  }

  /** The repeats noted: `count` (position, length, source position) triples at the start of `triples`. */
  notedRepeats(): { triples: Int32Array; count: number } {
    return { triples: this.repeats ?? new Int32Array(0), count: this.repeatCount };
  }

  /** Appends ASCII text (each UTF-16 unit must be below 0x80). */
  text(ascii: string): void {
    const n = ascii.length;
    if (this.length + n > this.buffer.length) this.grow(n);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) buffer[at++] = ascii.charCodeAt(i);
    this.length = at;
  }

  /**
   * Appends `text` if it is plain JSON string content (printable ASCII, no quote or backslash:
   * what JSON.stringify leaves as it is) and returns true; returns false at the first other
   * character, having written part of it (callers rewind with {@link truncate}).
   */
  plain(text: string): boolean {
    const n = text.length;
    if (this.length + n > this.buffer.length) this.grow(n);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) {
        this.length = at;
        return false;
      }
      buffer[at++] = code;
    }
    this.length = at;
    return true;
  }

  /** Drops everything written after the first `size` bytes (and the repeats noted there). */
  truncate(size: number): void {
    this.length = Math.min(this.length, size);
    const repeats = this.repeats;
    if (repeats === undefined) return;
    while (this.repeatCount > 0 && repeats[3 * (this.repeatCount - 1)]! >= this.length) this.repeatCount--;
    for (let id = 0; id < this.lastWritten.length; id++) {
      if (this.lastWritten[id]! >= this.length) this.lastWritten[id] = -1;
    }
  }

  /** Appends pre-encoded bytes (see {@link ascii}): a memcpy, the cheapest way to write a constant. */
  bytes(encoded: AsciiConstant): void {
    const n = encoded.length;
    const at = this.length;
    if (at + n > this.buffer.length) this.grow(n);
    if (this.repeats !== undefined) {
      const id = encoded.id;
      if (id >= this.lastWritten.length) this.growConstants(id);
      const lastWritten = this.lastWritten;
      const before = lastWritten[id]!;
      if (before >= 0) this.note(at, n, before);
      lastWritten[id] = at;
    }
    const buffer = this.buffer;
    if (n > SHORT_COPY) {
      buffer.set(encoded, at);
    } else {
      // `set` costs a call into the runtime; a few stores are cheaper for short constants.
      for (let i = 0; i < n; i++) buffer[at + i] = encoded[i]!;
    }
    this.length = at + n;
  }

  /**
   * Appends `YYYY-MM-DDTHH:mm:ss.sssZ` from its fields (each within its range; year 0..9999),
   * 24 bytes in one go: timestamps are a large share of a compact report's digits.
   */
  timestamp(
    year: number,
    month: number,
    day: number,
    hours: number,
    minutes: number,
    seconds: number,
    millis: number,
  ): void {
    if (this.length + 24 > this.buffer.length) this.grow(24);
    const b = this.buffer;
    const at = this.length;
    b[at] = 48 + Math.floor(year / 1000);
    b[at + 1] = 48 + (Math.floor(year / 100) % 10);
    b[at + 2] = 48 + (Math.floor(year / 10) % 10);
    b[at + 3] = 48 + (year % 10);
    b[at + 4] = 45; // -
    b[at + 5] = 48 + Math.floor(month / 10);
    b[at + 6] = 48 + (month % 10);
    b[at + 7] = 45;
    b[at + 8] = 48 + Math.floor(day / 10);
    b[at + 9] = 48 + (day % 10);
    b[at + 10] = 84; // T
    b[at + 11] = 48 + Math.floor(hours / 10);
    b[at + 12] = 48 + (hours % 10);
    b[at + 13] = 58; // :
    b[at + 14] = 48 + Math.floor(minutes / 10);
    b[at + 15] = 48 + (minutes % 10);
    b[at + 16] = 58;
    b[at + 17] = 48 + Math.floor(seconds / 10);
    b[at + 18] = 48 + (seconds % 10);
    b[at + 19] = 46; // .
    b[at + 20] = 48 + Math.floor(millis / 100);
    b[at + 21] = 48 + (Math.floor(millis / 10) % 10);
    b[at + 22] = 48 + (millis % 10);
    b[at + 23] = 90; // Z
    this.length = at + 24;
  }

  /** Appends a copy of bytes already written, `[start, end)`: repeats a name without re-encoding it. */
  repeat(start: number, end: number): void {
    if (this.length + end - start > this.buffer.length) this.grow(end - start);
    if (this.repeats !== undefined) this.note(this.length, end - start, start);
    const n = end - start;
    if (n > SHORT_COPY) {
      this.buffer.copyWithin(this.length, start, end);
    } else {
      // As in `bytes`: a call into the runtime costs more than a few stores. The source ends
      // at or before the destination starts, so a forward loop copies what `copyWithin` would.
      const buffer = this.buffer;
      const at = this.length;
      for (let i = 0; i < n; i++) buffer[at + i] = buffer[start + i]!;
    }
    this.length += n;
  }

  /** Appends any text, UTF-8 encoded. */
  utf8(text: string): void {
    const n = Buffer.byteLength(text, 'utf8');
    if (this.length + n > this.buffer.length) this.grow(n);
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  /** Appends one byte (an ASCII character code). */
  byte(code: number): void {
    if (this.length + 1 > this.buffer.length) this.grow(1);
    this.buffer[this.length++] = code;
  }

  /** Appends the 8 lowercase hex digits of an unsigned 32-bit integer, most significant first. */
  hex32(value: number): void {
    if (this.length + 8 > this.buffer.length) this.grow(8);
    const buffer = this.buffer;
    const at = this.length;
    for (let i = 0; i < 8; i++) {
      const digit = (value >>> (28 - 4 * i)) & 15;
      buffer[at + i] = digit < 10 ? 48 + digit : 87 + digit;
    }
    this.length = at + 8;
  }

  /** Appends a non-negative safe integer in decimal, as JSON.stringify writes it. */
  uint(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    if (this.length + digits > this.buffer.length) this.grow(digits);
    let rest = value;
    for (let at = this.length + digits - 1; at >= this.length; at--) {
      this.buffer[at] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.length += digits;
  }

  /** The bytes written, without a copy: valid only until the next write or reset. */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** A copy of the bytes written (the writer may be reset and reused). */
  toBuffer(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }

  /** The content as a string (UTF-8). */
  toString(): string {
    return this.buffer.toString('utf8', 0, this.length);
  }

  private note(at: number, length: number, source: number): void {
    let repeats = this.repeats!;
    if (3 * this.repeatCount + 3 > repeats.length) {
      const larger = new Int32Array(repeats.length * 2);
      larger.set(repeats);
      this.repeats = repeats = larger;
    }
    const i = 3 * this.repeatCount++;
    repeats[i] = at;
    repeats[i + 1] = length;
    repeats[i + 2] = source;
  }

  private growConstants(id: number): void {
    const larger = new Int32Array(Math.max(64, 2 * (id + 1))).fill(-1);
    larger.set(this.lastWritten);
    this.lastWritten = larger;
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + needed));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}

let constantCount = 0;

/** Pre-encoded ASCII text with an identity, so a writer can tell where it was written before. */
export class AsciiConstant extends Uint8Array {
  readonly id: number;

  constructor(text: string) {
    super(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) throw new RangeError(`not ASCII: ${JSON.stringify(text)}`);
      this[i] = code;
    }
    this.id = constantCount++;
  }
}

/**
 * The bytes of an ASCII constant, for {@link AsciiWriter.bytes}. Make constants once (module
 * level): each has an identity.
 *
 * @example
 * const OPEN = ascii('{"_id":"');
 */
export function ascii(text: string): AsciiConstant {
  return new AsciiConstant(text);
}
