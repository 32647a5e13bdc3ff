/** Pieces every item kind shares: sizes, times, field readers for decoders. */
import type { SeverityCounts } from '../../common/records.js';

/** DynamoDB's hard item limit is 400 KB; the store keeps every item below this. */
export const ITEM_BUDGET_BYTES = 350_000;
/** DynamoDB's own limit (400 KB): an item over it is refused. */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

/**
 * Approximate DynamoDB size of a value in bytes (names + values, as DynamoDB bills them, rounded up).
 *
 * @example
 * itemSize({ pk: 'a', n: 1 }) // 2 + 1 + 1 + 21 (numbers counted at their maximum)
 */
export function itemSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return 21;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + itemSize(element), 0);
  if (typeof value === 'object') {
    let size = 3;
    for (const [name, element] of Object.entries(value)) {
      if (element === undefined) continue;
      size += Buffer.byteLength(name, 'utf8') + 1 + itemSize(element);
    }
    return size;
  }
  return 0;
}

/**
 * A time in one canonical ISO form (`2024-05-01T10:00:00.000Z`), so times compare as strings in keys
 * and conditions whatever form they arrived in. Text that is not a time is returned unchanged.
 *
 * @example
 * canonicalTime('2024-05-01T12:00:00+02:00') // '2024-05-01T10:00:00.000Z'
 */
export function canonicalTime(time: string): string {
  // Already canonical (the normalizer's and the engine's form): no parse.
  if (time.length === 24 && time[23] === 'Z' && time[10] === 'T' && time[19] === '.') return time;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}

/** Sortable scan time for the freshness rule; a report without one sorts before any that has one. */
export function scanTimeKey(scanTime: string | null | undefined): string {
  return scanTime ? canonicalTime(scanTime) : '';
}

/** What every item of an image partition carries: its key and the image it belongs to. */
export interface ImagePartitionItem {
  pk: string;
  sk: string;
  consoleId: string;
  registry: string;
  repo: string;
  tag: string;
  imageKey: string;
}

/** A stored item as the decoders read it (unmarshalled, attribute name → value). */
export type RawItem = Readonly<Record<string, unknown>>;

export const str = (value: unknown): string => (typeof value === 'string' ? value : '');
export const strOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
export const strOrUndefined = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;
export const numOrNull = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;
export const intOrNull = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : null;

/** Zero counts, for images stored before counts existed or malformed items. */
export function countsOf(value: unknown): SeverityCounts {
  const counts = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const n = (name: string) => (typeof counts[name] === 'number' ? (counts[name] as number) : 0);
  return { critical: n('critical'), high: n('high'), medium: n('medium'), low: n('low'), total: n('total') };
}

/** Where a report's raw JSON is stored: enough for the image/history item to point at it. */
export interface RawPointer {
  contentHash: string;
  sha256: string;
  chunks: number;
  byteLength: number;
}

export function rawPointerOf(value: unknown): RawPointer | undefined {
  const raw = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof raw.contentHash !== 'string' || typeof raw.sha256 !== 'string') return undefined;
  return {
    contentHash: raw.contentHash,
    sha256: raw.sha256,
    chunks: typeof raw.chunks === 'number' ? raw.chunks : 0,
    byteLength: typeof raw.byteLength === 'number' ? raw.byteLength : 0,
  };
}
