/**
 * The simulated console's image set: which images exist now, in the console's order, at which
 * scan version, and the ground truth of when each was present (for tests to compare a sync with).
 *
 * Order: byte order of the image key `${registry}/${repo}:${tag}` (keys are ASCII, so JavaScript's
 * UTF-16 string comparison is byte order). Docker Hub images (registry '') therefore come first.
 */
import { SyncError } from '../lambda/common/errors.js';
import {
  earlySlot,
  type GeneratorOptions,
  generateReport,
  type ImageSlot,
  imageSlot,
  isoTime,
  type RawReport,
  type ReportVersion,
  reportScanMs,
  repushedSlot,
  stepDateMs,
} from './generator.js';
import { rngFor } from './prng.js';

/** One image present on the console. */
export interface CatalogEntry extends ReportVersion {
  slot: ImageSlot;
  /** Logical time the image appeared. */
  addedAt: number;
}

/** What one step of a history playback did. */
export interface HistoryStep {
  step: number;
  /** The step's date (ISO 8601): scan times of the images rescanned in it are just before it. */
  at: string;
  rescanned: string[];
  added: string[];
  removed: string[];
  /** Rescanned with a new image id and digest under the same tag. */
  repushed: string[];
}

interface Presence {
  addedAt: number;
  removedAt: number | undefined;
}

/** Byte-order comparison of ASCII keys. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The mutable image set with its logical clock.
 *
 * @example
 * const catalog = new Catalog({ seed: 1, heavyFraction: 0 }, 200);
 * const mark = catalog.mark();
 * catalog.remove(3);
 * catalog.persistentSince(mark).length; // 197
 */
export class Catalog {
  /** Present images, sorted by key. */
  private readonly sorted: CatalogEntry[] = [];
  private readonly byKey = new Map<string, CatalogEntry>();
  private readonly presence = new Map<string, Presence>();
  private nextIndex = 0;
  private earlyCount = 0;
  private clock = 0;
  private mutationCount = 0;
  private historyStep = 0;

  constructor(
    readonly options: GeneratorOptions,
    initialImages: number,
  ) {
    const entries: CatalogEntry[] = [];
    for (let i = 0; i < initialImages; i++) {
      entries.push(this.newEntry(imageSlot(options.seed, this.nextIndex++), 0));
    }
    entries.sort((a, b) => compareKeys(a.slot.key, b.slot.key));
    for (const entry of entries) this.track(entry);
    this.sorted.push(...entries);
  }

  /** Present images in console order. Do not mutate. */
  get entries(): readonly CatalogEntry[] {
    return this.sorted;
  }

  /** Changes whenever the image set or any report changes: the key of every response cache. */
  get version(): number {
    return this.mutationCount;
  }

  get size(): number {
    return this.sorted.length;
  }

  entry(key: string): CatalogEntry | undefined {
    return this.byKey.get(key);
  }

  /** The current raw report of a present image. */
  report(key: string): RawReport {
    const entry = this.byKey.get(key);
    if (entry === undefined)
      throw new SyncError('sim.unknownImage', `no image ${key} on the simulated console`, { key });
    return generateReport(this.options, entry.slot, entry);
  }

  /** The `scanTime` of a present image without generating its report. */
  scanTime(entry: CatalogEntry): string {
    return isoTime(reportScanMs(this.options, entry.slot.index, entry));
  }

  /** The current history step (0 without history). */
  get step(): number {
    return this.historyStep;
  }

  get steps(): number {
    return this.options.history?.steps ?? 1;
  }

  /** The current step's date (ISO 8601; the epoch without history). */
  get at(): string {
    return isoTime(
      this.options.history === undefined ? 0 : stepDateMs(this.options.history, this.historyStep),
    );
  }

  /**
   * Moves a history playback to its next step: a few images are removed, most of the others
   * rescanned at the step's date (a few of them re-pushed; a few images went stale and are never
   * rescanned), and a few added. Each choice is a draw keyed by (seed, image, step).
   */
  advance(): HistoryStep {
    const clock = this.options.history;
    if (clock === undefined)
      throw new SyncError('sim.noHistory', 'the simulator was started without history');
    if (this.historyStep >= clock.steps - 1) {
      throw new SyncError('sim.historyEnded', `history playback is at its last step (${clock.steps - 1})`, {
        steps: clock.steps,
      });
    }
    const step = ++this.historyStep;
    const { seed } = this.options;
    const draw = (purpose: string, entry: CatalogEntry) => rngFor(seed, purpose, entry.slot.index, step);
    const removed = this.remove(
      this.sorted.filter((entry) => draw('history-remove', entry).chance(0.01)).map((e) => e.slot.key),
    );
    const rescanned: string[] = [];
    const repushed: string[] = [];
    for (const entry of this.sorted) {
      const history = entry.history!;
      const stale = rngFor(seed, 'history-stale', entry.slot.index).chance(0.03);
      if (stale || !draw('history-rescan', entry).chance(0.9)) continue;
      history.scannedStep = step;
      rescanned.push(entry.slot.key);
      if (!draw('history-push', entry).chance(0.04)) continue;
      history.pushes++;
      history.pushedStep = step;
      entry.slot = repushedSlot(seed, entry.slot, history.pushes);
      repushed.push(entry.slot.key);
    }
    this.mutationCount++;
    const added = this.add(rngFor(seed, 'history-add', step).int(0, Math.ceil(this.sorted.length * 0.03)));
    return { step, at: isoTime(stepDateMs(clock, step)), rescanned, added, removed, repushed };
  }

  /** A logical time: every mark and every mutation advances it. */
  mark(): number {
    return ++this.clock;
  }

  add(count: number, opts: { sortEarly?: boolean } = {}): string[] {
    const at = ++this.clock;
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const index = this.nextIndex++;
      const slot = opts.sortEarly
        ? earlySlot(this.options.seed, index, this.earlyCount++)
        : imageSlot(this.options.seed, index);
      if (this.presence.has(slot.key)) {
        throw new SyncError('sim.keyCollision', `generated key ${slot.key} was used before`, {
          key: slot.key,
        });
      }
      const entry = this.newEntry(slot, at);
      this.track(entry);
      this.sorted.splice(this.insertionPoint(slot.key), 0, entry);
      keys.push(slot.key);
    }
    this.mutationCount++;
    return keys;
  }

  remove(target: string[] | number): string[] {
    const at = ++this.clock;
    const keys = this.resolveTargets(target, 'remove', at);
    for (const key of keys) {
      const position = this.indexOfKey(key);
      if (position < 0) continue;
      this.sorted.splice(position, 1);
      this.byKey.delete(key);
      const presence = this.presence.get(key);
      if (presence !== undefined) presence.removedAt = at;
    }
    this.mutationCount++;
    return keys;
  }

  rescan(target: string[] | number, opts: { changeFindings?: boolean } = {}): string[] {
    const at = ++this.clock;
    const keys = this.resolveTargets(target, 'rescan', at);
    for (const key of keys) {
      const entry = this.byKey.get(key);
      if (entry === undefined) continue;
      entry.scanGeneration++;
      if (opts.changeFindings) entry.findingsVersion++;
      if (entry.history !== undefined) entry.history.scannedStep = this.historyStep;
    }
    this.mutationCount++;
    return keys;
  }

  /** Keys present now, in console order. */
  present(): string[] {
    return this.sorted.map((entry) => entry.slot.key);
  }

  /** Keys present continuously from `mark` until now: a completed sync must hold all of them. */
  persistentSince(mark: number): string[] {
    const keys: string[] = [];
    for (const [key, presence] of this.presence) {
      if (presence.addedAt < mark && presence.removedAt === undefined) keys.push(key);
    }
    return keys.sort(compareKeys);
  }

  /** Keys present at any moment since `mark`: a sync may hold these and no others. */
  everPresentSince(mark: number): string[] {
    const keys: string[] = [];
    for (const [key, presence] of this.presence) {
      if (presence.removedAt === undefined || presence.removedAt > mark) keys.push(key);
    }
    return keys.sort(compareKeys);
  }

  private newEntry(slot: ImageSlot, addedAt: number): CatalogEntry {
    const entry: CatalogEntry = { slot, addedAt, scanGeneration: 0, findingsVersion: 0 };
    if (this.options.history !== undefined) {
      const step = this.historyStep;
      entry.history = { firstStep: step, scannedStep: step, pushes: 0, pushedStep: step };
    }
    return entry;
  }

  private track(entry: CatalogEntry): void {
    this.byKey.set(entry.slot.key, entry);
    this.presence.set(entry.slot.key, { addedAt: entry.addedAt, removedAt: undefined });
  }

  private resolveTargets(target: string[] | number, purpose: string, at: number): string[] {
    if (Array.isArray(target)) {
      for (const key of target) {
        if (!this.byKey.has(key)) {
          throw new SyncError('sim.unknownImage', `cannot ${purpose} ${key}: not on the simulated console`, {
            key,
          });
        }
      }
      return [...new Set(target)];
    }
    // A seeded choice of `target` distinct present images.
    const count = Math.min(Math.max(0, Math.floor(target)), this.sorted.length);
    const rng = rngFor(this.options.seed, purpose, at);
    const pool = this.sorted.map((entry) => entry.slot.key);
    for (let i = 0; i < count; i++) {
      const j = rng.int(i, pool.length - 1);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, count);
  }

  private insertionPoint(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid]!.slot.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOfKey(key: string): number {
    const at = this.insertionPoint(key);
    return this.sorted[at]?.slot.key === key ? at : -1;
  }
}
