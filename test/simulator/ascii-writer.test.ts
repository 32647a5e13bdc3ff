import { describe, expect, it } from 'vitest';
import { AsciiWriter, ascii } from '../../simulator/ascii-writer.js';

describe('AsciiWriter', () => {
  it('appends text, bytes, numbers and single bytes in order, growing as needed', () => {
    const out = new AsciiWriter(4);
    out.text('{"n":');
    out.uint(0);
    out.byte(0x2c);
    out.bytes(ascii('"big":'));
    out.uint(9_007_199_254_740_991);
    out.bytes(ascii(',"a long constant, copied with set":true'));
    out.byte(0x7d);
    expect(out.toString()).toBe('{"n":0,"big":9007199254740991,"a long constant, copied with set":true}');
    expect(out.size).toBe(out.toString().length);
  });

  it('writes every integer as JSON.stringify does', () => {
    const out = new AsciiWriter(1);
    const values = [0, 7, 9, 10, 99, 100, 1_000_000, 4_500_010_000, 2 ** 31, 2 ** 32 + 1];
    for (const [i, value] of values.entries()) {
      if (i > 0) out.byte(0x2c);
      out.uint(value);
    }
    expect(out.toString()).toBe(values.join(','));
  });

  it('repeats bytes already written, from anywhere in the buffer', () => {
    const out = new AsciiWriter(2);
    out.text('repo/name');
    out.byte(0x7c);
    out.repeat(5, 9);
    out.repeat(0, 4);
    expect(out.toString()).toBe('repo/name|namerepo');
  });

  it('writes plain JSON text and refuses what JSON.stringify would escape', () => {
    const out = new AsciiWriter();
    expect(out.plain('library/alpine:3.19')).toBe(true);
    for (const text of ['say "hi"', 'back\\slash', 'tab\there', 'caf\u00e9', '\u2028', '\ud800']) {
      const size = out.size;
      expect(out.plain(text), text).toBe(false);
      out.truncate(size);
    }
    expect(out.toString()).toBe('library/alpine:3.19');
  });

  it('encodes any text as UTF-8', () => {
    const out = new AsciiWriter(1);
    out.utf8('"café ✓"');
    expect(out.toBuffer().equals(Buffer.from('"café ✓"', 'utf8'))).toBe(true);
  });

  it('hands out a view and copies; reset forgets the content and drops a buffer grown too large', () => {
    const out = new AsciiWriter(8);
    out.text('abcdef');
    const copy = out.toBuffer();
    expect(out.view().toString()).toBe('abcdef');
    out.reset();
    out.text('xy');
    expect(copy.toString()).toBe('abcdef');
    expect(out.toString()).toBe('xy');
    out.text('z'.repeat(100));
    out.reset(16);
    expect(out.size).toBe(0);
    out.text('still works');
    expect(out.toString()).toBe('still works');
  });

  it('refuses constants that are not ASCII', () => {
    expect(() => ascii('naïve')).toThrow(RangeError);
  });
});
