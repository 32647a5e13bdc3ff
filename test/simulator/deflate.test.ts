import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsciiWriter, ascii } from '../../simulator/ascii-writer.js';
import { gzipWithMatches } from '../../simulator/deflate.js';
import { imageSlot, writeCompactReport } from '../../simulator/generator.js';

/** A page of compact reports written with repeats noted, as the simulator writes it. */
function compactPage(seed: string, first: number, count: number, findingsVersion = 0): AsciiWriter {
  const out = new AsciiWriter(1024);
  out.noteRepeats(true);
  out.byte(0x5b);
  for (let i = first; i < first + count; i++) {
    if (i > first) out.byte(0x2c);
    writeCompactReport(out, { seed, heavyFraction: 0.05 }, imageSlot(seed, i), {
      scanGeneration: i % 3,
      findingsVersion,
    });
  }
  out.byte(0x5d);
  return out;
}

function gzipOf(out: AsciiWriter): Buffer {
  const { triples, count } = out.notedRepeats();
  return gzipWithMatches(out.view(), out.size, triples, count);
}

describe('gzipWithMatches', () => {
  it('round-trips compact pages through zlib, several times smaller than the JSON', () => {
    for (const [seed, first, findings] of [
      ['a', 0, 0],
      ['b', 1000, 2],
      ['c', 7, 1],
    ] as const) {
      const out = compactPage(seed, first, 50, findings);
      const zipped = gzipOf(out);
      expect(gunzipSync(zipped).equals(out.view())).toBe(true);
      expect(zipped.length).toBeLessThan(out.size / 2.5);
    }
  });

  it('round-trips a page with a report taken by the general path (rewound notes)', () => {
    const out = new AsciiWriter(256);
    out.noteRepeats(true);
    const options = { seed: 'odd', heavyFraction: 0 };
    const version = { scanGeneration: 0, findingsVersion: 0 };
    out.byte(0x5b);
    writeCompactReport(out, options, imageSlot('odd', 1), version);
    out.byte(0x2c);
    // Fails on the tag after writing part of the report: the writer rewinds, notes included.
    writeCompactReport(out, options, { ...imageSlot('odd', 2), tag: 'caf\u00e9 "quoted"' }, version);
    out.byte(0x2c);
    writeCompactReport(out, options, imageSlot('odd', 3), version);
    out.byte(0x5d);
    const text = gunzipSync(gzipOf(out)).toString('utf8');
    expect(text).toBe(out.toString());
    expect((JSON.parse(text) as Array<{ repoTag: { tag: string } }>)[1]!.repoTag.tag).toBe(
      'caf\u00e9 "quoted"',
    );
  });

  it('round-trips any bytes with any valid repeats: long, short, far and overlapping the window', () => {
    const piece = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 400 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
      fc
        .record({ back: fc.nat(), length: fc.integer({ min: 0, max: 1200 }) })
        .map((copy) => ({ kind: 'copy' as const, ...copy })),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 120 }),
        fc.integer({ min: 0, max: 40_000 }),
        (pieces, padding) => {
          const data: number[] = Array.from({ length: padding }, (_, i) => (i * 7919) & 0xff);
          const repeats: number[] = [];
          for (const p of pieces) {
            if (p.kind === 'bytes') {
              data.push(...p.bytes);
              continue;
            }
            if (data.length === 0) continue;
            const source = data.length - 1 - (p.back % data.length);
            const length = Math.min(p.length, data.length - source);
            repeats.push(data.length, length, source);
            for (let i = 0; i < length; i++) data.push(data[source + i]!);
          }
          const bytes = Uint8Array.from(data);
          const zipped = gzipWithMatches(bytes, bytes.length, Int32Array.from(repeats), repeats.length / 3);
          return gunzipSync(zipped).equals(Buffer.from(bytes));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('writes an empty member for empty input', () => {
    expect(gunzipSync(gzipWithMatches(new Uint8Array(0), 0, new Int32Array(0), 0)).length).toBe(0);
  });
});

describe('AsciiWriter repeat notes', () => {
  const KEY = ascii('"key":');

  it('notes a constant where it was written before, and copies', () => {
    const out = new AsciiWriter(8);
    out.noteRepeats(true);
    out.bytes(KEY); // first time: nothing to note
    out.text('1,');
    out.bytes(KEY);
    out.repeat(6, 8);
    const { triples, count } = out.notedRepeats();
    expect(Array.from(triples.subarray(0, 3 * count))).toEqual([8, 6, 0, 14, 2, 6]);
    expect(out.toString()).toBe('"key":1,"key":1,');
  });

  it('forgets notes past a truncation, and everything on reset', () => {
    const out = new AsciiWriter(8);
    out.noteRepeats(true);
    out.bytes(KEY);
    out.bytes(KEY);
    out.truncate(6);
    expect(out.notedRepeats().count).toBe(0);
    // Where the constant was written last is forgotten too (conservatively: no note, literals).
    out.bytes(KEY);
    expect(out.notedRepeats().count).toBe(0);
    out.bytes(KEY);
    expect(Array.from(out.notedRepeats().triples.subarray(0, 3))).toEqual([12, 6, 6]);
    out.reset();
    out.bytes(KEY);
    expect(out.notedRepeats().count).toBe(0);
  });

  it('notes nothing unless asked', () => {
    const out = new AsciiWriter(8);
    out.bytes(KEY);
    out.bytes(KEY);
    expect(out.notingRepeats).toBe(false);
    expect(out.notedRepeats().count).toBe(0);
  });
});
