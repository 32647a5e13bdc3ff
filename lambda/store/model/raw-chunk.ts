/**
 * A raw-report chunk item (table `raw-reports`, sort key `<contentHash>#<sha256[:16]>#<chunk>`): the
 * gzip bytes of one report version, split well below the item limit.
 */
import type { ImageIdentity } from '../../common/records.js';
import { identityPk, imageKeyOf, imageKeyString } from '../identity.js';
import { rawSk } from '../keys.js';
import type { CompressedRaw, RawChunk } from '../raw.js';
import type { RawItem } from './common.js';

export interface RawChunkItem {
  pk: string;
  sk: string;
  consoleId: string;
  imageKey: string;
  contentHash: string;
  sha256: string;
  byteLength: number;
  chunkIndex: number;
  chunkCount: number;
  data: Uint8Array;
}

/** The raw chunk items of one report version. */
export function toRawItems(identity: ImageIdentity, contentHash: string, raw: CompressedRaw): RawChunkItem[] {
  const pk = identityPk(identity);
  const imageKey = imageKeyString(imageKeyOf(identity));
  return raw.chunks.map((chunk) => ({
    pk,
    sk: rawSk(contentHash, raw.sha256, chunk.index),
    consoleId: identity.consoleId,
    imageKey,
    contentHash,
    sha256: raw.sha256,
    byteLength: raw.byteLength,
    chunkIndex: chunk.index,
    chunkCount: chunk.count,
    data: chunk.data,
  }));
}

/** The one decoder of a raw chunk item, as `decompressRaw` takes it. */
export function decodeRawChunk(item: RawItem): RawChunk {
  return {
    index: Number(item.chunkIndex),
    count: Number(item.chunkCount),
    data: item.data instanceof Uint8Array ? item.data : new Uint8Array(),
  };
}
