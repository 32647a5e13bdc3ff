/**
 * Seeded reports shaped like `shared.ImageScanResult` (OpenAPI 34.04) and the real fixtures. A pure
 * function of `(seed, index, version)`, so a console costs only what it serves. Image `index` is tag
 * position `index % 8` of repository slot `index / 8`; names come from a seeded permutation (unique
 * without bookkeeping); mirror slots and `latest` = the last tag give one image id under several
 * tags and registries, as on real consoles.
 */
import data from './data.json' with { type: 'json' };
import { type Rng, rngFor } from './prng.js';

/** A raw report as the console serves it: plain JSON. */
export type RawReport = Record<string, unknown>;

/**
 * The naming facts of one image (no report generated). `index` is never reused; `registry` is ''
 * for Docker Hub; `reportId` (`_id`) is the image id, or `repo:tag` on old consoles.
 */
export type ImageSlot = {
  index: number;
  registry: string;
  repo: string;
  tag: string;
  key: string;
  imageId: string;
  digest: string;
  reportId: string;
};

/** Which scan a report describes: `scanGeneration` moves `scanTime`, `findingsVersion` the findings. */
export type ReportVersion = { scanGeneration: number; findingsVersion: number; history?: HistoryVersion };

export type HistoryClock = { startMs: number; spanMs: number; steps: number };

/** An image in a history playback: steps of its first scan, latest scan and latest re-push. */
export type HistoryVersion = { firstStep: number; scannedStep: number; pushes: number; pushedStep: number };

export type GeneratorOptions = { seed: number | string; heavyFraction: number; history?: HistoryClock };

type Distro = (typeof data.distros)[number];
type Severity = 'critical' | 'high' | 'medium' | 'low';

const TABLES = data;
const { namespaces: NAMESPACES, repoWords: WORDS1, repoSuffixes: WORDS2, registries: REGISTRIES } = data;
const NAME_SPACE = NAMESPACES.length * WORDS1.length * WORDS2.length;

/** Console "zero time", as Go serializes an unset time.Time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

const TAGS_PER_REPO = 8;

export const COMPACT_DROPPED_KEYS: readonly string[] = TABLES.compactDroppedKeys;

/** `${registry}/${repo}:${tag}`: an identity, not a pull name (Docker Hub keys start with '/'). */
export function imageKey(name: { registry: string; repo: string; tag: string }): string {
  return `${name.registry}/${name.repo}:${name.tag}`;
}

/** The key of a raw report, from its `repoTag`. */
export function imageKeyOf(report: unknown): string {
  const repoTag = (report as { repoTag?: { registry?: unknown; repo?: unknown; tag?: unknown } } | null)
    ?.repoTag;
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return imageKey({ registry: text(repoTag?.registry), repo: text(repoTag?.repo), tag: text(repoTag?.tag) });
}

function weightedRegistry(rng: Rng): number {
  let u = rng.float();
  for (const [i, { weight }] of REGISTRIES.entries()) {
    u -= weight;
    if (u < 0) return i;
  }
  return REGISTRIES.length - 1;
}

/** A per-seed cache of generator data; a handful of seeds per process (tests), dropped rather than grown. */
function perSeed<T>(caches: Map<string, T>, seed: number | string, create: () => T): T {
  let cache = caches.get(String(seed));
  if (cache === undefined) {
    if (caches.size >= 8) caches.clear();
    cache = create();
    caches.set(String(seed), cache);
  }
  return cache;
}

const permutations = new Map<string, { a: number; b: number }>();

/** An affine permutation of [0, NAME_SPACE): multiplier coprime to 2 and 3 (NAME_SPACE = 2^7 * 3^3). */
function repoNameOfSlot(seed: number | string, slot: number): string {
  const { a, b } = perSeed(permutations, seed, () => {
    const rng = rngFor(seed, 'names');
    return { a: 6 * rng.int(1, 500) + (rng.chance(0.5) ? 1 : 5), b: rng.int(0, NAME_SPACE - 1) };
  });
  const cycle = Math.floor(slot / NAME_SPACE);
  const p = (a * (slot % NAME_SPACE) + b) % NAME_SPACE;
  const ns = NAMESPACES[p % NAMESPACES.length]!;
  const w1 = WORDS1[Math.floor(p / NAMESPACES.length) % WORDS1.length]!;
  const w2 = WORDS2[Math.floor(p / (NAMESPACES.length * WORDS1.length)) % WORDS2.length]!;
  return `${ns}/${w1}-${w2}${cycle > 0 ? `-${cycle + 1}` : ''}`;
}

function tagOf(seed: number | string, sourceSlot: number, position: number): string {
  const rng = rngFor(seed, 'tags', sourceSlot);
  const style = rng.float();
  const major = rng.int(0, 12);
  const minor = rng.int(0, 30);
  const month = rng.int(1, 12);
  if (position === 0) return style < 0.85 ? 'latest' : 'main';
  if (style < 0.6) return `${major}.${minor}.${position - 1}`;
  if (style < 0.75) return `v${major}.${minor}.${position - 1}`;
  if (style < 0.85) return `2025.${String(month).padStart(2, '0')}.${String(position).padStart(2, '0')}`;
  return `sha-${rngFor(seed, 'tag', sourceSlot, position).hex(6)}${position}`;
}

/** The naming facts of regular image `index`. */
export function imageSlot(seed: number | string, index: number): ImageSlot {
  const slot = Math.floor(index / TAGS_PER_REPO);
  const position = index % TAGS_PER_REPO;
  // A mirror slot serves its even neighbour's repository and images from another registry.
  const mirror = slot % 2 === 1 && rngFor(seed, 'mirror', slot).chance(0.1);
  const source = mirror ? slot - 1 : slot;
  let registryIndex = weightedRegistry(rngFor(seed, 'registry', source));
  if (mirror) {
    const shift = rngFor(seed, 'mirror-registry', slot).int(1, REGISTRIES.length - 1);
    registryIndex = (registryIndex + shift) % REGISTRIES.length;
  }
  // `latest`/`main` is the newest version: the same image as the last tag position.
  const imagePosition = position === 0 ? TAGS_PER_REPO - 1 : position;
  const name = { registry: REGISTRIES[registryIndex]!.name, repo: repoNameOfSlot(seed, source) };
  return finishSlot(
    seed,
    index,
    { ...name, tag: tagOf(seed, source, position) },
    `${source}:${imagePosition}`,
  );
}

/** An image added with `sortEarly`: named to sort before every image present (`/0-early/img-999998:latest`). */
export function earlySlot(seed: number | string, index: number, earlyNumber: number): ImageSlot {
  const repo = `0-early/img-${String(999_999 - earlyNumber).padStart(6, '0')}`;
  return finishSlot(seed, index, { registry: '', repo, tag: 'latest' }, `early:${earlyNumber}`);
}

function finishSlot(
  seed: number | string,
  index: number,
  name: { registry: string; repo: string; tag: string },
  imagePart: string,
): ImageSlot {
  const imageId = `sha256:${rngFor(seed, 'image-id', imagePart).hex(64)}`;
  const digest = `sha256:${rngFor(seed, 'digest', imagePart).hex(64)}`;
  // Old consoles used the name as `_id`; recent ones the image id (so `_id` repeats across tags).
  const oldConsole = rngFor(seed, 'id-style', index).chance(0.08);
  const reportId = oldConsole ? `${name.repo}:${name.tag}` : imageId;
  return { index, ...name, key: imageKey(name), imageId, digest, reportId };
}

/** Re-pushed for the `pushes`-th time: same key, a new image id and digest. */
export function repushedSlot(seed: number | string, slot: ImageSlot, pushes: number): ImageSlot {
  const imageId = `sha256:${rngFor(seed, 'image-id', 'push', slot.index, pushes).hex(64)}`;
  const digest = `sha256:${rngFor(seed, 'digest', 'push', slot.index, pushes).hex(64)}`;
  return { ...slot, imageId, digest, reportId: slot.reportId === slot.imageId ? imageId : slot.reportId };
}

const BASE_SCAN_EPOCH_MS = Date.UTC(2025, 5, 1, 0, 0, 0);
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function isoSeconds(epochSeconds: number): string {
  return isoTime(epochSeconds * 1000);
}

/** Strictly increases with `scanGeneration`; a few images have not been rescanned for months. */
function scanTimeMs(seed: number | string, index: number, scanGeneration: number): number {
  const rng = rngFor(seed, 'scan-time', index);
  const ageMs = rng.chance(0.02) ? rng.int(200, 400) * DAY_MS : rng.int(0, 60 * 24 * 60) * 60_000;
  return BASE_SCAN_EPOCH_MS - ageMs + scanGeneration * 6 * HOUR_MS + rng.int(0, 999);
}

export function stepDateMs(clock: HistoryClock, step: number): number {
  return clock.startMs + Math.round((step * clock.spanMs) / (clock.steps - 1));
}

/** Hours before the step's date (a registry scan takes a while), a minute later per manual rescan. */
function historyScanMs(options: GeneratorOptions, index: number, step: number, generation: number): number {
  const before = rngFor(options.seed, 'history-scan', index, step).int(HOUR_MS, 6 * HOUR_MS);
  return stepDateMs(options.history!, step) - before + generation * 60_000;
}

export function reportScanMs(options: GeneratorOptions, index: number, version: ReportVersion): number {
  return version.history === undefined
    ? scanTimeMs(options.seed, index, version.scanGeneration)
    : historyScanMs(options, index, version.history.scannedStep, version.scanGeneration);
}

/**
 * Whether candidate `j` is open. Each findings version always adds one new extra, so a "changed
 * findings" rescan really changes them. In a history each candidate has a life: opened, maybe
 * fixed, maybe reopened.
 */
function findingOpen(
  options: GeneratorOptions,
  index: number,
  version: ReportVersion,
  j: number,
  base: number,
) {
  const { seed } = options;
  const extras = Math.max(2, Math.ceil(base / 4));
  if (version.history !== undefined) {
    const last = options.history!.steps - 1;
    const rng = rngFor(seed, 'history-finding', index, j);
    const never = Number.POSITIVE_INFINITY;
    const opened = j < base ? 0 : rng.chance(0.6) ? rng.int(1, last) : never;
    const fixed = opened < last && rng.chance(j < base ? 0.45 : 0.35) ? rng.int(opened + 1, last) : never;
    const reopened = fixed < last && rng.chance(0.1) ? rng.int(fixed + 1, last) : never;
    const step = version.history.scannedStep;
    return opened <= step && (step < fixed || step >= reopened);
  }
  const findingsVersion = version.findingsVersion;
  if (findingsVersion === 0) return j < base;
  if (j === base + ((findingsVersion - 1) % extras)) return true;
  if (j < base) return !rngFor(seed, 'drop', index, findingsVersion, j).chance(0.1);
  return rngFor(seed, 'add', index, findingsVersion, j).chance(0.2);
}

/** Images draw from one CVE catalog, so the same CVE appears in many images. */
const CVE_CATALOG_SIZE = 20_011; // prime: any step in [1, size) walks it without repeats

/** `level` 0..4 indexes the distro's severity words; `emptyCve`: identified by its numeric id. */
type CatalogCve = {
  cve: string;
  level: number;
  cvss?: number;
  vecStr: string;
  published: number;
  description: string;
  emptyCve: boolean;
  exploit: string;
};

const cveLevels = new Map<string, Int8Array>();
const cveCatalogs = new Map<string, Array<CatalogCve | undefined>>();

/** `catalogCve(seed, k).level` alone, for compact reports: the same stream, its third draw. */
function cveLevel(seed: number | string, k: number): number {
  const levels = perSeed(cveLevels, seed, () => new Int8Array(CVE_CATALOG_SIZE).fill(-1));
  if (levels[k]! < 0) {
    const rng = rngFor(seed, 'cve', k);
    rng.float(); // year
    rng.float(); // flavour
    levels[k] = rng.pick(TABLES.cveLevelDraw);
  }
  return levels[k]!;
}

function catalogCve(seed: number | string, k: number): CatalogCve {
  const catalog = perSeed(cveCatalogs, seed, () => new Array<CatalogCve | undefined>(CVE_CATALOG_SIZE));
  const cached = catalog[k];
  if (cached !== undefined) return cached;
  const rng = rngFor(seed, 'cve', k);
  const year = rng.int(2014, 2025);
  const flavour = rng.float();
  const cve =
    flavour < 0.05 ? `PRISMA-${year}-${String(k % 10_000).padStart(4, '0')}` : `CVE-${year}-${1000 + k}`;
  const level = rng.pick(TABLES.cveLevelDraw);
  const cvss = rng.chance(0.05) ? undefined : Math.round((level * 2 + rng.float() * 2.5) * 10) / 10;
  const words: string[] = [];
  const wordCount = rng.int(20, 70);
  for (let i = 0; i < wordCount; i++) words.push(rng.pick(TABLES.descriptionWords));
  const vector = () =>
    `CVSS:3.1/AV:${rng.pick(['N', 'L', 'A'])}/AC:${rng.pick(['L', 'H'])}/PR:N/UI:N/S:U/C:H/I:N/A:N`;
  const entry: CatalogCve = {
    cve,
    level,
    cvss,
    vecStr: cvss === undefined ? '' : vector(),
    published: rng.chance(0.04)
      ? 0
      : Date.UTC(year, rng.int(0, 11), rng.int(1, 28)) / 1000 + rng.int(0, 86_399),
    description: `${cve}: ${words.join(' ')}.`,
    emptyCve: flavour > 0.97,
    exploit: rng.chance(0.08) ? rng.pick(['exploit-db', 'cisa-kev']) : '',
  };
  catalog[k] = entry;
  return entry;
}

type PackageEntry = { type: string; name: string; version: string; layerTime: number };

function vulnerabilityOf(
  rng: Rng,
  cve: CatalogCve,
  distro: Distro,
  pkg: PackageEntry | undefined,
  firstScanEpoch: number,
  fallbackId: number,
): RawReport {
  const fixed = rng.chance(0.55);
  const status = fixed
    ? `fixed in ${rng.int(1, 9)}.${rng.int(0, 30)}.${rng.int(0, 20)}`
    : rng.pick(TABLES.statuses);
  const riskFactors: Record<string, Record<string, never>> = {};
  if (fixed) riskFactors['Has fix'] = {};
  if (rng.chance(0.3)) riskFactors['Attack vector: network'] = {};
  if (cve.published > 0 && firstScanEpoch - cve.published < 30 * 86_400)
    riskFactors['Recent vulnerability'] = {};
  const { emptyCve, cvss, description, exploit, published, vecStr } = cve;
  const vuln: RawReport = {
    ...TABLES.vulnerability,
    ...{ cvss, description, exploit, published, riskFactors, status, vecStr },
    applicableRules: [fixed ? `<${status.slice('fixed in '.length)}` : '*'],
    cve: emptyCve ? '' : cve.cve,
    id: emptyCve ? fallbackId : pkg?.type === 'package' ? 46 : 47,
    link: emptyCve ? '' : `https://nvd.nist.gov/vuln/detail/${cve.cve}`,
    layerTime: pkg?.layerTime ?? 0,
    packageName: pkg?.name ?? '',
    packageVersion: pkg?.version ?? '',
    packageType: pkg?.type ?? 'package',
    severity: distro.severities[cve.level],
    twistlock: emptyCve,
    discovered: rng.chance(0.1) ? ZERO_TIME : isoSeconds(firstScanEpoch - rng.int(0, 90 * 86_400)),
  };
  if (cvss === undefined) delete vuln.cvss;
  // fixDate: epoch seconds when fixed, 0 when not, and missing on older feeds (as in the DataDog fixture).
  if (rng.float() < 0.7) vuln.fixDate = fixed ? Math.max(published, 1) + rng.int(0, 200 * 86_400) : 0;
  if (rng.chance(0.05)) {
    vuln.exploits = [{ kind: 'poc', link: 'https://www.exploit-db.com/exploits/1', source: 'exploit-db' }];
  }
  return vuln;
}

/** Layers and their history entries, oldest first; only the top layer's id when `topOnly`. */
function layersOf(
  seed: number | string,
  slot: ImageSlot,
  count: number,
  createdEpoch: number,
  topOnly: boolean,
) {
  const layers: string[] = [];
  const history: RawReport[] = [];
  for (let i = topOnly ? count - 1 : 0; i < count; i++) {
    const rng = rngFor(seed, 'layer', slot.index, i);
    layers.push(`sha256:${rng.hex(64)}`);
    if (topOnly) continue;
    const entry: RawReport = {
      created: createdEpoch - (count - i) * 60,
      instruction: i === 0 ? `ADD file:${rng.hex(64)} in / ` : rng.pick(TABLES.layerInstructions),
      sizeBytes: rng.pareto(2_000, 1.1, 400_000_000),
      id: i === count - 1 ? slot.imageId : '<missing>',
    };
    if (i === count - 1) entry.tags = [`${slot.repo}:${slot.tag}`];
    if (rng.chance(0.3)) entry.emptyLayer = true;
    history.push(entry);
  }
  return { layers, history };
}

/** Packages (distinct names by walking the pools), and as the report groups them by type. */
function packagesOf(
  seed: number | string,
  index: number,
  count: number,
  libraryStart: number,
  distro: Distro,
  layerTimes: number[],
) {
  const packages: PackageEntry[] = [];
  const groups = new Map<string, RawReport[]>();
  for (let i = 0; i < count; i++) {
    const rng = rngFor(seed, 'pkg', index, i);
    const isLibrary = i >= libraryStart;
    const pool = isLibrary ? TABLES.libraryNames : TABLES.packageNames;
    const round = Math.floor(i / pool.length);
    const name = round === 0 ? pool[i % pool.length]! : `${pool[i % pool.length]}-${round}`;
    const version = `${rng.int(0, 9)}.${rng.int(0, 30)}.${rng.int(0, 20)}${isLibrary ? '' : `-r${rng.int(0, 9)}`}`;
    const type = isLibrary ? TABLES.libraryTypes[i % TABLES.libraryTypes.length]! : 'package';
    const license = rng.pick(distro.licenses);
    const layerTime = rng.pick(layerTimes);
    const entry: RawReport = { version, name, cveCount: 0, license, layerTime };
    if (isLibrary) entry.path = `/app/${type}/${name}`;
    packages.push({ type, name, version, layerTime });
    if (!groups.get(type)?.push(entry)) groups.set(type, [entry]);
  }
  return { packages, groups: [...groups].map(([pkgsType, pkgs]) => ({ pkgsType, pkgs })) };
}

function binariesOf(seed: number | string, index: number, heavy: boolean): RawReport[] {
  const rng = rngFor(seed, 'binaries', index);
  const count = heavy ? rng.int(200, 400) : rng.int(1, 8);
  return Array.from({ length: count }, (_, i) => {
    const name = `bin${i}`;
    return {
      name,
      path: `/usr/local/bin/${name}`,
      md5: rng.hex(32),
      cveCount: 0,
      layerTime: 0,
      fileMode: 493,
    };
  });
}

function complianceIssueOf(check: { id: number; severity: string; title: string }): RawReport {
  return {
    ...TABLES.complianceIssue,
    id: check.id,
    severity: check.severity,
    cause: check.id === 424 ? 'The environment variable AWS_SECRET_ACCESS_KEY contains sensitive data' : '',
    description: `${check.title}. See the CIS Docker Benchmark for the rationale and remediation.`,
    title: check.title,
    templates: check.id === 41 ? ['PCI'] : [],
  };
}

/** SPEC §2 quirks that are not about content: missing fields, unknown fields, self-contradicting counts. */
function applyQuirks(rng: Rng, report: RawReport, oldConsole: boolean, vulnerabilityCount: number): void {
  if (rng.chance(0.25)) delete report[rng.pick(TABLES.optionalKeys)];
  if (rng.chance(0.1)) delete report[rng.pick(TABLES.optionalKeys)];
  if (rng.chance(0.02)) delete report.packages;
  // Unknown fields from newer and older consoles: clients must keep or ignore them, never fail.
  if (rng.chance(0.3)) report.packageCorrelationDone = true;
  if (rng.chance(0.1))
    report.cveFixesSummary = { fixable: rng.int(0, 9), byVendor: { debian: rng.int(0, 4) } };
  if (oldConsole) {
    report.trust = { status: 'untrusted', reason: 'not learned or trusted by rule Default - alert all' };
    delete report.trustStatus;
  }
  // Counts that disagree with the arrays, as on real consoles (trust the arrays).
  if (vulnerabilityCount > 0 && rng.chance(0.03)) {
    report.vulnerabilityDistribution = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  }
  if (vulnerabilityCount === 0 && rng.chance(0.2)) report.vulnerabilitiesCount = rng.int(1, 40);
}

/** The report's keys in the console's order, with the values that never change (data.json). */
const FULL_TEMPLATE: RawReport = TABLES.report;
const COMPACT_TEMPLATE: RawReport = Object.fromEntries(
  Object.entries(TABLES.report).filter(([key]) => !COMPACT_DROPPED_KEYS.includes(key)),
);

/** `scanTime` and `firstScanTime` (epoch ms) of a version, and when its image was built (epoch s). */
function reportTimes(options: GeneratorOptions, index: number, version: ReportVersion, rng: Rng) {
  const life = version.history;
  const scanMs = reportScanMs(options, index, version);
  // Findings depend on the first scan, not the latest: a plain rescan leaves them unchanged.
  const firstScanMs = life
    ? historyScanMs(options, index, life.firstStep, 0)
    : scanTimeMs(options.seed, index, 0);
  let createdEpoch = Math.floor(firstScanMs / 1000) - rng.int(3600, 200 * 86_400);
  if (life !== undefined && life.pushes > 0) {
    // Re-pushed: built shortly before the scan that found the new image.
    const pushedScan = Math.floor(historyScanMs(options, index, life.pushedStep, 0) / 1000);
    createdEpoch = pushedScan - rngFor(options.seed, 'history-push', index, life.pushes).int(600, 86_400);
  }
  return { scanMs, firstScanMs, createdEpoch };
}

/** The open findings' counts by severity; each finding goes into `found` unless it is undefined (compact). */
function findingsOf(
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
  rng: Rng,
  heavy: boolean,
  found: Array<[number, CatalogCve]> | undefined,
) {
  // A deterministic candidate pool; the version selects from it.
  const base = !heavy && rng.chance(0.12) ? 0 : heavy ? rng.int(2_500, 4_500) : rng.pareto(3, 1.2, 700);
  const candidates = base + Math.max(2, Math.ceil(base / 4));
  const cveStart = rng.int(0, CVE_CATALOG_SIZE - 1);
  const cveStep = rng.int(1, CVE_CATALOG_SIZE - 1);
  const distribution = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  for (let j = 0; j < candidates; j++) {
    if (!findingOpen(options, slot.index, version, j, base)) continue;
    const k = (cveStart + j * cveStep) % CVE_CATALOG_SIZE;
    // A compact report needs only the level: three draws, not a whole catalog entry.
    const cve = found === undefined ? undefined : catalogCve(options.seed, k);
    distribution[
      (['low', 'low', 'medium', 'high', 'critical'] as const)[cve?.level ?? cveLevel(options.seed, k)]!
    ]++;
    distribution.total++;
    if (cve !== undefined) found?.push([j, cve]);
  }
  return distribution;
}

/**
 * The raw report of one image at one version. A `compact` one never builds the parts
 * `compact=true` drops, yet makes every draw of the report's main stream, so each value it keeps
 * is the full report's.
 */
export function generateReport(
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
  compact = false,
): RawReport {
  const { seed } = options;
  const index = slot.index;
  const rng = rngFor(seed, 'report', index);
  const heavy = options.heavyFraction > 0 && rngFor(seed, 'heavy', index).float() < options.heavyFraction;
  const distro = rng.pick(TABLES.distros);
  const { scanMs, firstScanMs, createdEpoch } = reportTimes(options, index, version, rng);
  const firstScanEpoch = Math.floor(firstScanMs / 1000);
  const layerCount = heavy ? rng.int(60, 140) : rng.int(2, 14);
  const { layers, history } = layersOf(seed, slot, layerCount, createdEpoch, compact);
  const packageCount = heavy ? rng.int(1_500, 3_000) : rng.pareto(12, 1.4, 900);
  const libraryStart = Math.floor(packageCount * (0.6 + rng.float() * 0.3));
  const layerTimes = history.map((h) => h.created as number);
  const packages = compact
    ? undefined
    : packagesOf(seed, index, packageCount, libraryStart, distro, layerTimes);
  const found: Array<[number, CatalogCve]> | undefined = packages && [];
  const distribution = findingsOf(options, slot, version, rng, heavy, found);
  const vulnerabilities = (found ?? []).map(([j, cve]) => {
    const vulnRng = rngFor(seed, 'vuln', index, j);
    const list = packages!.packages;
    const pkg = list.length > 0 ? list[vulnRng.int(0, list.length - 1)]! : undefined;
    return vulnerabilityOf(vulnRng, cve, distro, pkg, firstScanEpoch, 1000 + j);
  });
  const vulnerabilityCount = distribution.total;
  const checks = TABLES.complianceChecks.filter((check) => rng.chance(check.id === 41 ? 0.7 : 0.15));
  const compliance = { critical: 0, high: 0, medium: 0, low: 0, total: checks.length };
  for (const check of checks) compliance[check.severity as Severity]++;
  const riskFactors: Record<string, Record<string, never>> = {};
  for (const factor of vulnerabilityCount > 0 ? TABLES.riskFactors : [])
    if (rng.chance(0.4)) riskFactors[factor] = {};

  const { registry, repo, tag, digest } = slot;
  const repoShort = repo.split('/').pop() ?? repo;
  const hostname = `scanner-${rng.int(1, 4)}.ec2.internal`;
  const oldConsole = slot.reportId !== slot.imageId;
  // The remaining draws of the main stream, in the report's key order.
  const [emptySecrets, isARM64, createdZero, pushZero, firstScanZero] = [0.5, 0.1, 0.15, 0.6, 0.2].map((p) =>
    rng.chance(p),
  );
  const scanTime = isoTime(scanMs);
  const { osDistro, osDistroVersion, osDistroRelease } = distro;
  const pullName = registry === '' ? `${repo}:${tag}` : `${registry}/${repo}:${tag}`;
  const report: RawReport = {
    ...(compact ? COMPACT_TEMPLATE : FULL_TEMPLATE),
    _id: slot.reportId,
    hostname,
    scanTime,
    osDistro,
    osDistroVersion,
    osDistroRelease,
    distro: distro.distro,
    isARM64,
    id: slot.imageId,
    repoTag: { registry, repo, tag },
    tags: [{ registry, repo, tag, digest }],
    repoDigests: [`${repoShort}@${digest}`],
    creationTime: isoSeconds(createdEpoch),
    pushTime: pushZero ? ZERO_TIME : isoSeconds(createdEpoch + 120),
    vulnerabilitiesCount: vulnerabilityCount,
    complianceIssuesCount: compliance.total,
    vulnerabilityDistribution: distribution,
    complianceDistribution: compliance,
    vulnerabilityRiskScore:
      distribution.critical * 1_000_000 + distribution.high * 10_000 + distribution.medium * 100,
    complianceRiskScore: compliance.critical * 1_000_000 + compliance.high * 10_000,
    topLayer: layers[layers.length - 1],
    riskFactors,
    labels: [`org.opencontainers.image.ref.name:${repoShort}`],
    scanVersion: oldConsole ? '22.12.585' : '34.04.145',
    scanBuildDate: oldConsole ? '20230110' : '20250318',
    firstScanTime: firstScanZero ? ZERO_TIME : isoTime(firstScanMs),
    instances: [{ image: pullName, host: hostname, modified: scanTime, tag, repo, registry }],
  };
  if (packages !== undefined) {
    Object.assign(report, {
      binaries: binariesOf(seed, index, heavy),
      Secrets: emptySecrets ? [] : null,
      startupBinaries: [
        { name: 'sh', path: '/bin/sh', md5: rngFor(seed, 'md5', index).hex(32), cveCount: 0, layerTime: 0 },
      ],
      packages: packages.groups,
      image: {
        created: createdZero ? ZERO_TIME : isoSeconds(createdEpoch),
        entrypoint: ['/app/run'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      },
      history,
      complianceIssues: checks.length > 0 ? checks.map(complianceIssueOf) : null,
      vulnerabilities: vulnerabilityCount > 0 ? vulnerabilities : null,
      layers,
      installedProducts: { docker: '24.0.6', hasPackageManager: true, osDistro },
    });
  }
  applyQuirks(rng, report, oldConsole, vulnerabilityCount);
  return report;
}

/** The `fields=` projection of a report: `_id` plus each listed dotted path (`repoTag.repo`). */
export function projectFields(report: RawReport, fields: readonly string[]): RawReport {
  const out: RawReport = { _id: report._id };
  for (const path of fields) {
    const parts = path.split('.').filter((p) => p !== '');
    let source: unknown = report;
    for (const part of parts) {
      source = source !== null && typeof source === 'object' ? (source as RawReport)[part] : undefined;
    }
    if (source === undefined || parts.length === 0) continue;
    let target = out;
    for (const part of parts.slice(0, -1)) {
      const existing = target[part];
      if (existing === null || typeof existing !== 'object') target[part] = {};
      target = target[part] as RawReport;
    }
    target[parts[parts.length - 1]!] = source;
  }
  return out;
}
