/**
 * Items of the runs table that the image store reads: the run record's sweep guard and the seen-key
 * pages. (Lease, checkpoint and run-record writes live in run-store.ts.)
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
