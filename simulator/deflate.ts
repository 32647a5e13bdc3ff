/**
 * gzip for compact pages without searching for matches. zlib's level 1 spent as long compressing
 * a compact page as writing it; but the writer already knows where a page repeats itself: every
 * constant key run appears in the previous report, and names repeat within a report. Those become
 * deflate matches, everything else (ids, digests, times, digits) literals, coded with the fixed
 * Huffman codes of RFC 1951 §3.2.6 in a single block. The output is ordinary gzip (about twice
 * zlib level 1's size on compact pages), so any client inflates it; the CRC is zlib's.
 */
import { crc32 } from 'node:zlib';

/** A repeat shorter than this costs as many bits as its literals: left as literals. */
const MIN_MATCH = 4;
const MAX_MATCH = 258;
const WINDOW = 32_768;

function reverseBits(code: number, bits: number): number {
  let reversed = 0;
  for (let i = 0; i < bits; i++) {
    reversed = (reversed << 1) | (code & 1);
    code >>>= 1;
  }
  return reversed;
}

/** Fixed literal/length codes (RFC 1951 §3.2.6), bit-reversed: deflate packs bits LSB first. */
const LITERAL_CODE = new Uint16Array(288);
const LITERAL_BITS = new Uint8Array(288);
/** Per byte value: its literal code shifted left 4, or'd with its bit count (one load per byte). */
const BYTE_CODE = new Uint16Array(256);
for (let symbol = 0; symbol < 288; symbol++) {
  const [code, bits] =
    symbol < 144
      ? [0x30 + symbol, 8]
      : symbol < 256
        ? [0x190 + symbol - 144, 9]
        : symbol < 280
          ? [symbol - 256, 7]
          : [0xc0 + symbol - 280, 8];
  LITERAL_CODE[symbol] = reverseBits(code, bits);
  LITERAL_BITS[symbol] = bits;
  if (symbol < 256) BYTE_CODE[symbol] = (LITERAL_CODE[symbol]! << 4) | bits;
}
/** Per byte under 144 (all of ASCII): its 8-bit literal code, bit-reversed; one load, no decode. */
const SHORT_LITERAL = new Uint8Array(144);
for (let byte = 0; byte < 144; byte++) SHORT_LITERAL[byte] = LITERAL_CODE[byte]!;

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5];
/** Per match length 3..258: its length symbol (257..285), extra bit count and extra value. */
const LENGTH_SYMBOL = new Uint16Array(MAX_MATCH + 1);
const LENGTH_EXTRA_BITS = new Uint8Array(MAX_MATCH + 1);
const LENGTH_EXTRA_VALUE = new Uint8Array(MAX_MATCH + 1);
for (let i = 0; i < LENGTH_BASE.length; i++) {
  for (let extra = 0; extra < 1 << LENGTH_EXTRA[i]!; extra++) {
    const length = LENGTH_BASE[i]! + extra;
    if (length >= MAX_MATCH) break; // 258 has its own symbol
    LENGTH_SYMBOL[length] = 257 + i;
    LENGTH_EXTRA_BITS[length] = LENGTH_EXTRA[i]!;
    LENGTH_EXTRA_VALUE[length] = extra;
  }
}
LENGTH_SYMBOL[MAX_MATCH] = 285;

const DISTANCE_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
/** Per distance 1..32768: its distance code (0..29); fixed distance codes are 5 bits. */
const DISTANCE_CODE = new Uint8Array(WINDOW + 1);
for (let code = 0; code < DISTANCE_BASE.length; code++) {
  const end = code + 1 < DISTANCE_BASE.length ? DISTANCE_BASE[code + 1]! : WINDOW + 1;
  DISTANCE_CODE.fill(code, DISTANCE_BASE[code]!, end);
}
const DISTANCE_CODE_REVERSED = DISTANCE_BASE.map((_, code) => reverseBits(code, 5));

/**
 * Per match length 3..258: its length code followed by its extra bits, as one bit string
 * (`MATCH_LENGTH_BITS` long, at most 13), so a match costs two puts instead of four.
 */
const MATCH_LENGTH = new Uint16Array(MAX_MATCH + 1);
const MATCH_LENGTH_BITS = new Uint8Array(MAX_MATCH + 1);
for (let length = 3; length <= MAX_MATCH; length++) {
  const symbol = LENGTH_SYMBOL[length]!;
  MATCH_LENGTH[length] = LITERAL_CODE[symbol]! | (LENGTH_EXTRA_VALUE[length]! << LITERAL_BITS[symbol]!);
  MATCH_LENGTH_BITS[length] = LITERAL_BITS[symbol]! + LENGTH_EXTRA_BITS[length]!;
}
/** Per distance 1..32768: its 5-bit code followed by its extra bits (at most 18 bits in all). */
const MATCH_DISTANCE = new Uint32Array(WINDOW + 1);
const MATCH_DISTANCE_BITS = new Uint8Array(WINDOW + 1);
for (let distance = 1; distance <= WINDOW; distance++) {
  const code = DISTANCE_CODE[distance]!;
  MATCH_DISTANCE[distance] = DISTANCE_CODE_REVERSED[code]! | ((distance - DISTANCE_BASE[code]!) << 5);
  MATCH_DISTANCE_BITS[distance] = 5 + DISTANCE_EXTRA[code]!;
}

/** gzip member header: deflate, no name or time, OS unknown-but-Unix (3) as zlib writes it. */
const GZIP_HEADER = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

let scratch = Buffer.allocUnsafe(256 * 1024);

/**
 * The gzip of `data[0, size)`, with `repeats` as (position, length, source position) triples in
 * increasing position order: `data[position, position + length)` equals
 * `data[source, source + length)`, source before position (what {@link AsciiWriter} notes).
 * Repeats too short or too far back for deflate are written as literals.
 *
 * @example
 * const out = new AsciiWriter();
 * out.noteRepeats(true);
 * // … write a page …
 * const { triples, count } = out.notedRepeats();
 * gunzipSync(gzipWithMatches(out.view(), out.size, triples, count)).equals(out.view()); // true
 */
export function gzipWithMatches(data: Uint8Array, size: number, repeats: Int32Array, count: number): Buffer {
  // Worst case: 9 bits per literal, or 31 bits per 4-byte match (< 8 bits a byte).
  const bound = GZIP_HEADER.length + Math.ceil((size * 9) / 8) + 16;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(bound);
  const out = scratch;
  for (let i = 0; i < GZIP_HEADER.length; i++) out[i] = GZIP_HEADER[i]!;
  let pos = GZIP_HEADER.length;
  // Bits not yet written, LSB first; fewer than 16 between puts.
  let acc = 0b011; // BFINAL = 1, BTYPE = 01 (fixed Huffman codes)
  let bits = 3;
  let at = 0;
  for (let r = 0; r <= count; r++) {
    // Literals up to the next repeat (or the end).
    const literalEnd = r < count ? repeats[3 * r]! : size;
    for (; at < literalEnd; at++) {
      const byte = data[at]!;
      if (byte < 144) {
        // Bytes under 144 (all of ASCII) have 8-bit codes: one byte out per byte in.
        acc |= SHORT_LITERAL[byte]! << bits;
        out[pos++] = acc & 0xff;
        acc >>>= 8;
        continue;
      }
      const coded = BYTE_CODE[byte]!;
      acc |= (coded >>> 4) << bits;
      bits += coded & 15;
      if (bits >= 16) {
        out[pos++] = acc & 0xff;
        out[pos++] = (acc >>> 8) & 0xff;
        acc >>>= 16;
        bits -= 16;
      }
    }
    if (r === count) break;
    const length = repeats[3 * r + 1]!;
    const distance = at - repeats[3 * r + 2]!;
    if (length < MIN_MATCH || distance < 1 || distance > WINDOW) continue; // stays literal
    for (let left = length; left > 0; ) {
      // Chunks of at most 258 that never leave a remainder under MIN_MATCH.
      const take = left <= MAX_MATCH ? left : left - MAX_MATCH < MIN_MATCH ? left - MIN_MATCH : MAX_MATCH;
      // Flushed to under 8 bits before each put of up to 18: the accumulator never holds more
      // than 25 (a small integer in V8).
      acc |= MATCH_LENGTH[take]! << bits;
      bits += MATCH_LENGTH_BITS[take]!;
      while (bits >= 8) {
        out[pos++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
      acc |= MATCH_DISTANCE[distance]! << bits;
      bits += MATCH_DISTANCE_BITS[distance]!;
      while (bits >= 8) {
        out[pos++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
      left -= take;
    }
    at += length;
  }
  // End of block (symbol 256: seven zero bits), then the last partial byte.
  bits += LITERAL_BITS[256]!;
  while (bits > 0) {
    out[pos++] = acc & 0xff;
    acc >>>= 8;
    bits -= 8;
  }
  const crc = crc32(size === data.length ? data : data.subarray(0, size));
  out.writeUInt32LE(crc >>> 0, pos);
  out.writeUInt32LE(size >>> 0, pos + 4);
  // Copied out of the scratch buffer (the page is cached); no view of it is made for the copy.
  const gzip = Buffer.allocUnsafe(pos + 8);
  out.copy(gzip, 0, 0, pos + 8);
  return gzip;
}
