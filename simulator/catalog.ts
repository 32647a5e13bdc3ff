/**
 * The console's image set in its order (byte order of the ASCII image key: Docker Hub's '' registry
 * first), each at its scan version, and the ground truth of when each was present.
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

export interface CatalogEntry extends ReportVersion {
  slot: ImageSlot;
}

/** What one step of a history playback did; `at` is its ISO date, `repushed` got a new image id. */
export interface HistoryStep {
  step: number;
  at: string;
  rescanned: string[];
  added: string[];
  removed: string[];
  repushed: string[];
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The mutable image set with its logical clock (advanced by every mark and every mutation). */
export class Catalog {
  entries: CatalogEntry[] = [];
  private readonly byKey = new Map<string, CatalogEntry>();
  private readonly presence = new Map<string, { addedAt: number; removedAt?: number }>();
  private nextIndex = 0;
  private earlyCount = 0;
  private clock = 0;
  step = 0;

  constructor(
    readonly options: GeneratorOptions,
    initialImages: number,
  ) {
    this.insert(
      Array.from({ length: initialImages }, () => imageSlot(options.seed, this.nextIndex++)),
      0,
    );
  }

  report(key: string): RawReport {
    const entry = this.byKey.get(key);
    if (entry === undefined)
      throw new SyncError('sim.unknownImage', `no image ${key} on the simulated console`, { key });
    return generateReport(this.options, entry.slot, entry);
  }

  /** Without generating the report. */
  scanTime(entry: CatalogEntry): string {
    return isoTime(reportScanMs(this.options, entry.slot.index, entry));
  }

  get steps(): number {
    return this.options.history?.steps ?? 1;
  }

  get at(): string {
    return isoTime(this.options.history === undefined ? 0 : stepDateMs(this.options.history, this.step));
  }

  /** Next history step: a few images removed, most rescanned (a few re-pushed, a few stale ones never), a few added. */
  advance(): HistoryStep {
    const clock = this.options.history;
    if (clock === undefined)
      throw new SyncError('sim.noHistory', 'the simulator was started without history');
    if (this.step >= clock.steps - 1) {
      const message = `history playback is at its last step (${clock.steps - 1})`;
      throw new SyncError('sim.historyEnded', message, { steps: clock.steps });
    }
    const step = ++this.step;
    const { seed } = this.options;
    const draw = (purpose: string, entry: CatalogEntry, p: number) =>
      rngFor(seed, purpose, entry.slot.index, step).chance(p);
    const removed = this.remove(
      this.entries.filter((e) => draw('history-remove', e, 0.01)).map((e) => e.slot.key),
    );
    const rescanned: string[] = [];
    const repushed: string[] = [];
    for (const entry of this.entries) {
      const life = entry.history!;
      const stale = rngFor(seed, 'history-stale', entry.slot.index).chance(0.03);
      if (stale || !draw('history-rescan', entry, 0.9)) continue;
      life.scannedStep = step;
      rescanned.push(entry.slot.key);
      if (!draw('history-push', entry, 0.04)) continue;
      life.pushes++;
      life.pushedStep = step;
      entry.slot = repushedSlot(seed, entry.slot, life.pushes);
      repushed.push(entry.slot.key);
    }
    const added = this.add(rngFor(seed, 'history-add', step).int(0, Math.ceil(this.entries.length * 0.03)));
    return { step, at: isoTime(stepDateMs(clock, step)), rescanned, added, removed, repushed };
  }

  mark(): number {
    return ++this.clock;
  }

  /** `sortEarly`: each sorts before every image already present. */
  add(count: number, opts: { sortEarly?: boolean } = {}): string[] {
    const { seed } = this.options;
    const slots = Array.from({ length: count }, () =>
      opts.sortEarly
        ? earlySlot(seed, this.nextIndex++, this.earlyCount++)
        : imageSlot(seed, this.nextIndex++),
    );
    return this.insert(slots, ++this.clock);
  }

  /** Removes the given keys, or that many images chosen by the seeded rng. */
  remove(target: string[] | number): string[] {
    const at = ++this.clock;
    const keys = this.resolveTargets(target, 'remove', at);
    for (const key of keys) {
      this.byKey.delete(key);
      this.presence.get(key)!.removedAt = at;
    }
    this.entries = this.entries.filter((entry) => this.byKey.has(entry.slot.key));
    return keys;
  }

  /** A new `scanTime` for the given keys (or that many seeded picks), optionally changed findings. */
  rescan(target: string[] | number, opts: { changeFindings?: boolean } = {}): string[] {
    const keys = this.resolveTargets(target, 'rescan', ++this.clock);
    for (const key of keys) {
      const entry = this.byKey.get(key)!;
      entry.scanGeneration++;
      if (opts.changeFindings) entry.findingsVersion++;
      if (entry.history !== undefined) entry.history.scannedStep = this.step;
    }
    return keys;
  }

  present(): string[] {
    return this.entries.map((entry) => entry.slot.key);
  }

  /** Keys present continuously from `mark` until now: a completed sync must hold all of them. */
  persistentSince(mark: number): string[] {
    return this.keysWhere((p) => p.addedAt < mark && p.removedAt === undefined);
  }

  /** Keys present at any moment since `mark`: a sync may hold these and no others. */
  everPresentSince(mark: number): string[] {
    return this.keysWhere((p) => p.removedAt === undefined || p.removedAt > mark);
  }

  private keysWhere(test: (presence: { addedAt: number; removedAt?: number }) => boolean): string[] {
    return [...this.presence]
      .filter(([, presence]) => test(presence))
      .map(([key]) => key)
      .sort(compareKeys);
  }

  private insert(slots: ImageSlot[], at: number): string[] {
    for (const slot of slots) {
      const { key } = slot;
      if (this.presence.has(key)) throw new SyncError('sim.keyCollision', `${key} was used before`, { key });
      const entry: CatalogEntry = { slot, scanGeneration: 0, findingsVersion: 0 };
      const step = this.step;
      if (this.options.history)
        entry.history = { firstStep: step, scannedStep: step, pushes: 0, pushedStep: step };
      this.byKey.set(slot.key, entry);
      this.presence.set(slot.key, { addedAt: at });
      this.entries.push(entry);
    }
    this.entries.sort((a, b) => compareKeys(a.slot.key, b.slot.key));
    return slots.map((slot) => slot.key);
  }

  /** The given keys (each must be present), or a seeded choice of that many present images. */
  private resolveTargets(target: string[] | number, purpose: string, at: number): string[] {
    if (Array.isArray(target)) {
      const missing = target.find((key) => !this.byKey.has(key));
      if (missing !== undefined) {
        const message = `cannot ${purpose} ${missing}: not on the simulated console`;
        throw new SyncError('sim.unknownImage', message, { key: missing });
      }
      return [...new Set(target)];
    }
    const count = Math.min(Math.max(0, Math.floor(target)), this.entries.length);
    const rng = rngFor(this.options.seed, purpose, at);
    const pool = this.present();
    for (let i = 0; i < count; i++) {
      const j = rng.int(i, pool.length - 1);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, count);
  }
}
