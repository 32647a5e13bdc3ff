/**
 * The raw report, kept in full: gzip-compressed and split into Binary chunks well below the
 * 400 KB item limit, so a report of any size lands without truncation.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SyncError } from '../common/errors.js';

/** Bytes of compressed data per chunk item (item overhead stays far below the 400 KB limit). */
export const RAW_CHUNK_BYTES = 300_000;

export interface RawChunk {
  index: number;
  count: number;
  data: Uint8Array;
}

export interface CompressedRaw {
  /** sha256 of the raw JSON text (UTF-8), to verify reassembly. */
  sha256: string;
  byteLength: number;
  compressedLength: number;
  chunks: RawChunk[];
}

/**
 * Compresses and splits a raw report.
 *
 * @example
 * const { chunks } = compressRaw(JSON.stringify(report)); // usually a single chunk
 */
export function compressRaw(rawJson: string, chunkBytes = RAW_CHUNK_BYTES): CompressedRaw {
  const bytes = Buffer.from(rawJson, 'utf8');
  const compressed = gzipSync(bytes, { level: 6 });
  const count = Math.max(1, Math.ceil(compressed.length / chunkBytes));
  const chunks: RawChunk[] = [];
  for (let index = 0; index < count; index += 1) {
    // A copy, not a view: each item owns exactly its bytes.
    const data = new Uint8Array(compressed.subarray(index * chunkBytes, (index + 1) * chunkBytes));
    chunks.push({ index, count, data });
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    byteLength: bytes.length,
    compressedLength: compressed.length,
    chunks,
  };
}

/**
 * Reassembles chunks (in any order) into the raw JSON text, verifying completeness and the hash.
 *
 * @example
 * const text = decompressRaw(items.map((i) => ({ index: i.chunkIndex, count: i.chunkCount, data: i.data })), sha);
 */
export function decompressRaw(chunks: readonly RawChunk[], expectedSha256?: string): string {
  const sorted = [...chunks].sort((a, b) => a.index - b.index);
  const count = sorted[0]?.count ?? 0;
  if (
    count === 0 ||
    sorted.length !== count ||
    sorted.some((chunk, i) => chunk.index !== i || chunk.count !== count)
  ) {
    throw new SyncError('store.rawIncomplete', `raw report has ${sorted.length} of ${count} chunks`, {
      found: sorted.length,
      expected: count,
    });
  }
  const bytes = gunzipSync(Buffer.concat(sorted.map((chunk) => chunk.data)));
  if (expectedSha256 !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== expectedSha256) {
      throw new SyncError('store.rawCorrupt', 'raw report does not match its recorded sha256', {
        expectedSha256,
        actual,
      });
    }
  }
  return bytes.toString('utf8');
}
