/**
 * THE identity of an image in the store: the key component escaping, the image partition key and
 * the image key string the engine records as seen and the sweep compares. Every other module (key
 * builders, queries, the export reader, the engine's seen keys) takes them from here, so what the
 * sweep removes can never disagree with what a run recorded.
 */
import { createHash } from 'node:crypto';
import type { ImageIdentity } from '../common/records.js';

/** Longest component kept verbatim in a key, in UTF-8 bytes. */
export const MAX_KEY_PART = 256;

/** What a caller names an image by (console implied by the store). */
export interface ImageKey {
  registry: string;
  repo: string;
  tag: string;
}

/**
 * One key component: `%` and `#` percent-escaped (so `<registry>#` never prefixes another registry),
 * and a component over {@link MAX_KEY_PART} bytes replaced by a stable hash of itself (DynamoDB caps
 * a sort key at 1,024 bytes; the query side applies the same function, so lookups still match).
 *
 * @example
 * keyPart('a#b') // 'a%23b'
 */
export function keyPart(value: string): string {
  const escaped = value.replace(/%/g, '%25').replace(/#/g, '%23');
  // Byte length only matters when the UTF-16 length could pass the limit (a UTF-8 byte is at least one unit).
  if (escaped.length * 3 <= MAX_KEY_PART || Buffer.byteLength(escaped, 'utf8') <= MAX_KEY_PART)
    return escaped;
  return `~sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/**
 * The image key string: `${registry}/${repo}:${tag}`. The engine records it as seen per page and the
 * sweep removes current images whose key no page of a complete run recorded; `writeReports` returns
 * it per report (`images[].key`, `quarantined[].key`).
 *
 * @example
 * imageKeyString({ registry: 'docker.io', repo: 'library/alpine', tag: '3.19' }) // 'docker.io/library/alpine:3.19'
 */
export function imageKeyString(key: ImageKey): string {
  return `${key.registry}/${key.repo}:${key.tag}`;
}

/** Partition key of an image: its image item, findings and history live here (and its raw chunks, in their table). */
export function imagePk(consoleId: string, key: ImageKey): string {
  return `I#${keyPart(consoleId)}#${keyPart(key.registry)}#${keyPart(key.repo)}#${keyPart(key.tag)}`;
}

/** Partition key of an identity (console included). */
export function identityPk(identity: ImageIdentity): string {
  return imagePk(identity.consoleId, identity);
}

/** The registry/repo/tag of an identity, without its console. */
export function imageKeyOf(identity: ImageKey): ImageKey {
  return { registry: identity.registry, repo: identity.repo, tag: identity.tag };
}
