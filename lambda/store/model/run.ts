/**
 * Items of the runs table that the image store reads and writes: the run record's sweep guard, the
 * seen-key pages and the console's first writes in progress. (Lease, checkpoint and run-record
 * writes live in run-store.ts.)
 */
import { type RawItem, str } from './common.js';

/** One page's seen image keys (`C#<console>#RUN#<runId>` / `SEEN#<page>#<part>`). */
export interface SeenItem {
  pk: string;
  sk: string;
  runId: string;
  pageIndex: number;
  /** Image key strings (`imageKeyString`) of the page. */
  keys: string[];
  ttl: number;
}

/** The one decoder of a seen-key item. */
export function decodeSeen(item: RawItem): SeenItem {
  return {
    pk: str(item.pk),
    sk: str(item.sk),
    runId: str(item.runId),
    pageIndex: typeof item.pageIndex === 'number' ? item.pageIndex : -1,
    keys: Array.isArray(item.keys) ? item.keys.filter((k): k is string => typeof k === 'string') : [],
    ttl: typeof item.ttl === 'number' ? item.ttl : 0,
  };
}

/** What the sweep needs of a run record: it may remove images only after a complete pass. */
export interface RunSweepGuard {
  status: string;
  pagingComplete: boolean;
}

export function decodeRunSweepGuard(item: RawItem): RunSweepGuard {
  return { status: str(item.status), pagingComplete: item.pagingComplete === true };
}

/**
 * The console's first writes in progress (`C#<console>` / `FIRST_WRITES`): image partitions whose
 * findings were (or are being) written before their first image item. One item per console, not one
 * per image: a page adds its first writes in one request before their findings and removes them in
 * one request after their image items.
 */
export interface FirstWritesItem {
  /** Image partition keys (`imagePk`). */
  pks: Set<string>;
}

/** The one decoder of the first-writes item (a string set, which DynamoDB drops when it empties). */
export function decodeFirstWrites(item: RawItem | undefined): FirstWritesItem {
  const pks = item?.pks;
  return {
    pks:
      pks instanceof Set ? new Set([...pks].filter((pk): pk is string => typeof pk === 'string')) : new Set(),
  };
}

/** UpdateItem parameters adding (`ADD`) or removing (`DELETE`) image partitions from the set. */
export function firstWritesUpdate(pk: string, sk: string, action: 'ADD' | 'DELETE', pks: readonly string[]) {
  return {
    Key: { pk: { S: pk }, sk: { S: sk } },
    UpdateExpression: `${action} pks :pks`,
    ExpressionAttributeValues: { ':pks': { SS: [...pks] } },
  };
}
