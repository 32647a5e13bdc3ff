/**
 * Seeded generator of registry scan reports shaped like `shared.ImageScanResult` (OpenAPI 34.04)
 * and the real reports in shared/fixtures/real (the DataDog fixture is the API's own shape).
 *
 * Everything is a pure function of `(seed, index, version)`: image 12,345 is generated without
 * touching images 0..12,344, so a 20,000-image console costs only what is actually served.
 *
 * Naming: image `index` lives in repository slot `floor(index / 8)` at tag position `index % 8`.
 * Repository names come from a seeded permutation of word combinations, so they are unique
 * without any bookkeeping; one slot in twenty is a mirror of its neighbour in another registry
 * (same repo, same image ids), and tag position 0 (`latest`/`main`) is the same image as
 * position 7: one image id under several tags and registries, as on real consoles.
 */
import { type AsciiConstant, AsciiWriter, ascii } from './ascii-writer.js';
import { isoTime, writeIsoTime } from './iso-time.js';
import { type Rng, rngFor } from './prng.js';

/** A raw report as the console serves it: plain JSON. */
export type RawReport = Record<string, unknown>;

/** The naming facts of one image, cheap to compute (no report generation). */
export interface ImageSlot {
  /** Unique, never reused: the generation key of the image. */
  index: number;
  /** '' for Docker Hub / local images, as real consoles report it. */
  registry: string;
  repo: string;
  tag: string;
  /** `${registry}/${repo}:${tag}` (see {@link imageKey}). */
  key: string;
  /** The image id (`sha256:…`), shared by every tag/registry carrying the same image. */
  imageId: string;
  /** The registry digest (`sha256:…`). */
  digest: string;
  /** The report's `_id`: the image id on most reports, a name (`repo:tag`) on old-console ones. */
  reportId: string;
}

/** Which scan of an image a report describes. */
export interface ReportVersion {
  /** Increments on every rescan: moves `scanTime` forward. */
  scanGeneration: number;
  /** Increments on a rescan that changes the findings. */
  findingsVersion: number;
  /** Set on a console playing back history (see {@link HistoryClock}). */
  history?: HistoryVersion;
}

/** The dates of a console playing back history: `steps` steps over `spanMs`, the first at `startMs`. */
export interface HistoryClock {
  startMs: number;
  spanMs: number;
  steps: number;
}

/** The date of history step `step` (epoch ms, whole). */
export function stepDateMs(clock: HistoryClock, step: number): number {
  return clock.startMs + Math.round((step * clock.spanMs) / (clock.steps - 1));
}

/** Where an image is in a history playback. */
export interface HistoryVersion {
  /** The step the image first appeared in (its `firstScanTime`). */
  firstStep: number;
  /** The step of its latest scan: its `scanTime` and which findings are open. */
  scannedStep: number;
  /** How often it was re-pushed (a new image id and digest under the same tag). */
  pushes: number;
  /** The step of its latest push (its `creationTime`). */
  pushedStep: number;
}

export interface GeneratorOptions {
  seed: number | string;
  /** Share of reports over 1 MB (thousands of vulnerabilities, packages, layers). */
  heavyFraction: number;
  history?: HistoryClock;
}

/** Console "zero time", as Go serializes an unset time.Time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Tag positions per repository slot. */
export const TAGS_PER_REPO = 8;

/**
 * The image key: `${registry}/${repo}:${tag}`. Docker Hub images have registry '' and so a
 * key with a leading slash (`/library/alpine:latest`): the key is an identity, not a pull name.
 * The console's alphabetical order is the byte order of this key.
 *
 * @example
 * imageKey({ registry: 'gcr.io', repo: 'web/api', tag: '1.0' }); // 'gcr.io/web/api:1.0'
 */
export function imageKey(name: { registry: string; repo: string; tag: string }): string {
  return `${name.registry}/${name.repo}:${name.tag}`;
}

/**
 * The key of a raw report, from its `repoTag`.
 *
 * @example
 * imageKeyOf({ repoTag: { registry: '', repo: 'library/alpine', tag: '3.11' } }); // '/library/alpine:3.11'
 */
export function imageKeyOf(report: unknown): string {
  const repoTag = (report as { repoTag?: { registry?: unknown; repo?: unknown; tag?: unknown } } | null)
    ?.repoTag;
  return imageKey({
    registry: typeof repoTag?.registry === 'string' ? repoTag.registry : '',
    repo: typeof repoTag?.repo === 'string' ? repoTag.repo : '',
    tag: typeof repoTag?.tag === 'string' ? repoTag.tag : '',
  });
}

const NAMESPACES = [
  'library',
  'platform',
  'payments',
  'data',
  'ml',
  'web',
  'infra',
  'security',
  'search',
  'mobile',
  'billing',
  'identity',
] as const;
const WORDS1 = [
  'api',
  'worker',
  'gateway',
  'frontend',
  'backend',
  'scheduler',
  'indexer',
  'proxy',
  'ingest',
  'auth',
  'cache',
  'notifier',
  'reporter',
  'exporter',
  'sidecar',
  'cron',
  'queue',
  'stream',
  'router',
  'portal',
  'ledger',
  'search',
  'media',
  'events',
] as const;
const WORDS2 = [
  'service',
  'daemon',
  'app',
  'job',
  'server',
  'agent',
  'core',
  'lite',
  'node',
  'runner',
  'edge',
  'batch',
] as const;
const NAME_SPACE = NAMESPACES.length * WORDS1.length * WORDS2.length;

/** Registries with their weight; '' is Docker Hub. */
const REGISTRIES: ReadonlyArray<readonly [string, number]> = [
  ['', 0.2],
  ['123456789012.dkr.ecr.us-east-1.amazonaws.com', 0.3],
  ['gcr.io', 0.1],
  ['us-west2-docker.pkg.dev', 0.1],
  ['quay.io', 0.1],
  ['contoso.azurecr.io', 0.1],
  ['harbor.internal.example.com:5000', 0.1],
];

function weightedRegistry(rng: Rng): number {
  let u = rng.float();
  for (let i = 0; i < REGISTRIES.length; i++) {
    u -= REGISTRIES[i]![1];
    if (u < 0) return i;
  }
  return REGISTRIES.length - 1;
}

/** An affine permutation of [0, NAME_SPACE): multiplier coprime to 2 and 3 (NAME_SPACE = 2^7 * 3^3). */
function namePermutation(seed: number | string): { a: number; b: number } {
  const rng = rngFor(seed, 'names');
  return { a: 6 * rng.int(1, 500) + (rng.chance(0.5) ? 1 : 5), b: rng.int(0, NAME_SPACE - 1) };
}

const permutationCache = new Map<string, { a: number; b: number }>();
function permutationFor(seed: number | string): { a: number; b: number } {
  const cacheKey = String(seed);
  let perm = permutationCache.get(cacheKey);
  if (perm === undefined) {
    perm = namePermutation(seed);
    permutationCache.set(cacheKey, perm);
  }
  return perm;
}

function repoNameOfSlot(seed: number | string, slot: number): string {
  const { a, b } = permutationFor(seed);
  const cycle = Math.floor(slot / NAME_SPACE);
  const p = (a * (slot % NAME_SPACE) + b) % NAME_SPACE;
  const ns = NAMESPACES[p % NAMESPACES.length]!;
  const w1 = WORDS1[Math.floor(p / NAMESPACES.length) % WORDS1.length]!;
  const w2 = WORDS2[Math.floor(p / (NAMESPACES.length * WORDS1.length)) % WORDS2.length]!;
  return `${ns}/${w1}-${w2}${cycle > 0 ? `-${cycle + 1}` : ''}`;
}

/** A mirror slot serves its even neighbour's repository and images from another registry. */
function mirrorSourceOf(seed: number | string, slot: number): number | undefined {
  return slot % 2 === 1 && rngFor(seed, 'mirror', slot).chance(0.1) ? slot - 1 : undefined;
}

function tagOf(seed: number | string, sourceSlot: number, position: number): string {
  const rng = rngFor(seed, 'tags', sourceSlot);
  const style = rng.float();
  const major = rng.int(0, 12);
  const minor = rng.int(0, 30);
  const month = rng.int(1, 12);
  if (style < 0.6) return position === 0 ? 'latest' : `${major}.${minor}.${position - 1}`;
  if (style < 0.75) return position === 0 ? 'latest' : `v${major}.${minor}.${position - 1}`;
  if (style < 0.85)
    return position === 0
      ? 'latest'
      : `2025.${String(month).padStart(2, '0')}.${String(position).padStart(2, '0')}`;
  return position === 0 ? 'main' : `sha-${rngFor(seed, 'tag', sourceSlot, position).hex(6)}${position}`;
}

/**
 * The naming facts of regular image `index` (no report is generated).
 *
 * @example
 * imageSlot(1, 0).key; // e.g. 'quay.io/payments/ledger-node:latest'
 */
export function imageSlot(seed: number | string, index: number): ImageSlot {
  const slot = Math.floor(index / TAGS_PER_REPO);
  const position = index % TAGS_PER_REPO;
  const source = mirrorSourceOf(seed, slot) ?? slot;
  let registryIndex = weightedRegistry(rngFor(seed, 'registry', source));
  if (source !== slot) {
    registryIndex =
      (registryIndex + rngFor(seed, 'mirror-registry', slot).int(1, REGISTRIES.length - 1)) %
      REGISTRIES.length;
  }
  const registry = REGISTRIES[registryIndex]![0];
  const repo = repoNameOfSlot(seed, source);
  const tag = tagOf(seed, source, position);
  // `latest`/`main` is the newest version: the same image as the last tag position.
  const imagePosition = position === 0 ? TAGS_PER_REPO - 1 : position;
  return finishSlot(seed, index, registry, repo, tag, `${source}:${imagePosition}`);
}

/**
 * The naming facts of an image added with `sortEarly`: Docker Hub repositories named so that
 * each sorts before every image that existed before it (`/0-early/img-999998:latest` < `/0-early/img-999999:latest` < `/library/…`).
 */
export function earlySlot(seed: number | string, index: number, earlyNumber: number): ImageSlot {
  const repo = `0-early/img-${String(999_999 - earlyNumber).padStart(6, '0')}`;
  return finishSlot(seed, index, '', repo, 'latest', `early:${earlyNumber}`);
}

function finishSlot(
  seed: number | string,
  index: number,
  registry: string,
  repo: string,
  tag: string,
  imageKeyPart: string,
): ImageSlot {
  const imageId = `sha256:${rngFor(seed, 'image-id', imageKeyPart).hex(64)}`;
  const digest = `sha256:${rngFor(seed, 'digest', imageKeyPart).hex(64)}`;
  // Old consoles used the name as `_id`; recent ones the image id (so `_id` repeats across tags).
  const reportId = rngFor(seed, 'id-style', index).chance(0.08) ? `${repo}:${tag}` : imageId;
  return { index, registry, repo, tag, key: imageKey({ registry, repo, tag }), imageId, digest, reportId };
}

/**
 * The naming facts of an image re-pushed for the `pushes`-th time: same key, a new image id and
 * digest (and a new `_id` unless it is an old-console name).
 */
export function repushedSlot(seed: number | string, slot: ImageSlot, pushes: number): ImageSlot {
  const imageId = `sha256:${rngFor(seed, 'image-id', 'push', slot.index, pushes).hex(64)}`;
  const digest = `sha256:${rngFor(seed, 'digest', 'push', slot.index, pushes).hex(64)}`;
  return { ...slot, imageId, digest, reportId: slot.reportId === slot.imageId ? imageId : slot.reportId };
}

const BASE_SCAN_EPOCH_MS = Date.UTC(2025, 5, 1, 0, 0, 0);
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The `scanTime` of an image's scan generation, cheap (no report generation). Strictly increases
 * with `scanGeneration`; about 2% of images have not been rescanned for over 200 days.
 */
export function scanTimeOf(seed: number | string, index: number, scanGeneration: number): string {
  return isoTime(scanTimeMs(seed, index, scanGeneration));
}

/** {@link scanTimeOf} as epoch milliseconds (an integer, so `Date.parse(scanTimeOf(…))` equals it). */
function scanTimeMs(seed: number | string, index: number, scanGeneration: number): number {
  const rng = rngFor(seed, 'scan-time', index);
  const ageMs = rng.chance(0.02) ? rng.int(200, 400) * DAY_MS : rng.int(0, 60 * 24 * 60) * 60_000;
  return BASE_SCAN_EPOCH_MS - ageMs + scanGeneration * 6 * HOUR_MS + rng.int(0, 999);
}

/**
 * When image `index` was scanned in history step `step`: one to six hours before the step's date
 * (a registry scan takes a while), a minute later per manual rescan.
 */
function historyScanMs(
  options: GeneratorOptions,
  index: number,
  step: number,
  scanGeneration: number,
): number {
  const before = rngFor(options.seed, 'history-scan', index, step).int(HOUR_MS, 6 * HOUR_MS);
  return stepDateMs(options.history!, step) - before + scanGeneration * 60_000;
}

/** The `scanTime` of a report version as epoch ms, on a history console or not. */
export function reportScanMs(options: GeneratorOptions, index: number, version: ReportVersion): number {
  return version.history === undefined
    ? scanTimeMs(options.seed, index, version.scanGeneration)
    : historyScanMs(options, index, version.history.scannedStep, version.scanGeneration);
}

/**
 * Whether vulnerability candidate `j` is open at history step `step`. Each candidate has a life:
 * the base findings are there from the first scan, extras appear at a later step; many are fixed
 * at some step after that, and a few of those reopen.
 */
function openInHistory(
  seed: number | string,
  steps: number,
  index: number,
  j: number,
  base: number,
  step: number,
): boolean {
  const rng = rngFor(seed, 'history-finding', index, j);
  const never = Number.POSITIVE_INFINITY;
  const opened = j < base ? 0 : rng.chance(0.6) ? rng.int(1, steps - 1) : never;
  const fixed =
    opened < steps - 1 && rng.chance(j < base ? 0.45 : 0.35) ? rng.int(opened + 1, steps - 1) : never;
  const reopened = fixed < steps - 1 && rng.chance(0.1) ? rng.int(fixed + 1, steps - 1) : never;
  return opened <= step && (step < fixed || step >= reopened);
}

/** Whether image `index` gets a heavy (> 1 MB) report. */
export function isHeavy(options: GeneratorOptions, index: number): boolean {
  // A draw in [0, 1) is never below 0: no stream needed when nothing is heavy.
  if (options.heavyFraction <= 0) return false;
  return rngFor(options.seed, 'heavy', index).float() < options.heavyFraction;
}

// ---------------------------------------------------------------------------------------------
// Report content

interface Distro {
  osDistro: string;
  osDistroRelease: string;
  osDistroVersion: string;
  distro: string;
  /** Vendor severity words from least to most severe, as this distro's feed spells them. */
  severities: readonly string[];
  licenses: readonly string[];
}

const DISTROS: readonly Distro[] = [
  {
    osDistro: 'debian',
    osDistroRelease: 'bookworm',
    osDistroVersion: '12',
    distro: 'Debian GNU/Linux 12 (bookworm)',
    severities: ['unimportant', 'low', 'medium', 'high', 'critical'],
    licenses: ['GPL-2+', 'LGPL-2.1+', 'BSD-3-clause', 'MIT', 'Artistic'],
  },
  {
    osDistro: 'ubuntu',
    osDistroRelease: 'jammy',
    osDistroVersion: '22.04',
    distro: 'Ubuntu 22.04.3 LTS',
    severities: ['negligible', 'low', 'medium', 'high', 'critical'],
    licenses: ['GPL-2', 'LGPL-2.1', 'BSD-3-clause', 'MIT'],
  },
  {
    osDistro: 'rhel',
    osDistroRelease: 'RHEL9',
    osDistroVersion: '9.3',
    distro: 'Red Hat Enterprise Linux 9.3 (Plow)',
    severities: ['low', 'low', 'moderate', 'important', 'critical'],
    licenses: ['GPLv2+', 'LGPLv2+', 'BSD', 'MIT'],
  },
  {
    osDistro: 'alpine',
    osDistroRelease: '3.19.1',
    osDistroVersion: '3.19.1',
    distro: 'Alpine Linux v3.19',
    severities: ['low', 'low', 'medium', 'high', 'critical'],
    licenses: ['GPL-2.0-only', 'MIT', 'Zlib', 'ISC', 'OpenSSL'],
  },
  {
    osDistro: 'amzn',
    osDistroRelease: '2023',
    osDistroVersion: '2023',
    distro: 'Amazon Linux 2023',
    severities: ['low', 'low', 'medium', 'important', 'critical'],
    licenses: ['GPLv2', 'LGPLv2+', 'MIT', 'ASL 2.0'],
  },
];

const PACKAGE_NAMES = [
  'openssl',
  'zlib',
  'glibc',
  'libgcrypt20',
  'curl',
  'libxml2',
  'busybox',
  'musl',
  'ncurses',
  'bash',
  'coreutils',
  'tar',
  'gzip',
  'sqlite',
  'expat',
  'krb5',
  'libssh2',
  'nghttp2',
  'pcre2',
  'libtasn1',
  'gnutls',
  'systemd',
  'util-linux',
  'perl',
  'python3',
  'libpng',
  'libjpeg-turbo',
  'freetype',
  'libwebp',
  'tiff',
  'openldap',
  'cyrus-sasl',
  'shadow',
  'pam',
  'e2fsprogs',
  'xz-utils',
  'bzip2',
  'gnupg2',
  'apt',
  'dpkg',
] as const;
const LIBRARY_NAMES = [
  'requests',
  'urllib3',
  'django',
  'flask',
  'jinja2',
  'lodash',
  'express',
  'axios',
  'minimist',
  'log4j-core',
  'jackson-databind',
  'spring-core',
  'netty-codec',
  'golang.org/x/net',
  'golang.org/x/crypto',
  'github.com/gin-gonic/gin',
] as const;
const LIBRARY_TYPES = ['python', 'nodejs', 'jar', 'go'] as const;
const STATUSES = ['open', 'will not fix', 'needed', 'deferred', 'affected'] as const;
const RISK_FACTORS = [
  'Has fix',
  'Recent vulnerability',
  'Attack complexity: low',
  'Attack vector: network',
  'Remote execution',
  'DoS - High',
  'DoS - Low',
  'Exploit exists - POC',
  'Critical severity',
  'High severity',
  'Medium severity',
] as const;
const DESCRIPTION_WORDS = [
  'a',
  'flaw',
  'was',
  'found',
  'in',
  'the',
  'handling',
  'of',
  'crafted',
  'input',
  'which',
  'allows',
  'remote',
  'attackers',
  'to',
  'cause',
  'denial',
  'service',
  'via',
  'buffer',
  'overflow',
  'heap',
  'memory',
  'corruption',
  'certificate',
  'validation',
  'function',
  'when',
  'parsing',
  'untrusted',
  'data',
  'may',
  'lead',
  'arbitrary',
  'code',
  'execution',
  'information',
  'disclosure',
  'local',
  'users',
] as const;
const COMPLIANCE_CHECKS = [
  {
    id: 41,
    severity: 'high',
    title: '(CIS_Docker_v1.5.0 - 4.1) Image should be created with a non-root user',
  },
  { id: 422, severity: 'critical', title: 'Image contains binaries used for crypto mining' },
  { id: 424, severity: 'high', title: 'Sensitive information provided in environment variables' },
  { id: 425, severity: 'high', title: 'Private keys stored in image' },
  { id: 426, severity: 'high', title: 'Image contains binaries used for crypto mining' },
  { id: 448, severity: 'high', title: 'Package binaries should not be altered' },
  {
    id: 5041,
    severity: 'medium',
    title: '(CIS_Docker_v1.5.0 - 4.6) Add HEALTHCHECK instruction to the container image',
  },
] as const;

/** Size of the vulnerability catalog images draw from (so the same CVE appears in many images). */
const CVE_CATALOG_SIZE = 20_011; // prime: any step in [1, size) walks it without repeats

interface CatalogCve {
  cve: string;
  /** 0..4: index into the distro's severity words. */
  level: number;
  cvss: number | undefined;
  vecStr: string;
  published: number;
  description: string;
  /** Empty `cve`: the finding is identified by its numeric `id`. */
  emptyCve: boolean;
  exploit: string;
}

/** Severity levels weighted towards medium; catalog entry k draws its level from these. */
const CVE_LEVEL_DRAW: readonly number[] = [0, 1, 1, 2, 2, 2, 3, 3, 4];

/** Per seed, the catalog entries generated so far (indexed by k): images share them heavily. */
const cveCatalogs = new Map<string, Array<CatalogCve | undefined>>();

function cveCatalogFor(seed: number | string): Array<CatalogCve | undefined> {
  let catalog = cveCatalogs.get(String(seed));
  if (catalog === undefined) {
    // A handful of seeds per process at most (tests); drop old ones rather than grow.
    if (cveCatalogs.size >= 8) cveCatalogs.clear();
    catalog = new Array<CatalogCve | undefined>(CVE_CATALOG_SIZE);
    cveCatalogs.set(String(seed), catalog);
  }
  return catalog;
}

function catalogCve(seed: number | string, catalog: Array<CatalogCve | undefined>, k: number): CatalogCve {
  const cached = catalog[k];
  if (cached !== undefined) return cached;
  const rng = rngFor(seed, 'cve', k);
  const year = rng.int(2014, 2025);
  const flavour = rng.float();
  const cve =
    flavour < 0.05 ? `PRISMA-${year}-${String(k % 10_000).padStart(4, '0')}` : `CVE-${year}-${1000 + k}`;
  const level = rng.pick(CVE_LEVEL_DRAW);
  const cvss = rng.chance(0.05) ? undefined : Math.round((level * 2 + rng.float() * 2.5) * 10) / 10;
  const words: string[] = [];
  const wordCount = rng.int(20, 70);
  for (let i = 0; i < wordCount; i++) words.push(rng.pick(DESCRIPTION_WORDS));
  const description = `${cve}: ${words.join(' ')}.`;
  const entry: CatalogCve = {
    cve,
    level,
    cvss,
    vecStr:
      cvss === undefined
        ? ''
        : `CVSS:3.1/AV:${rng.pick(['N', 'L', 'A'])}/AC:${rng.pick(['L', 'H'])}/PR:N/UI:N/S:U/C:H/I:N/A:N`,
    published: rng.chance(0.04)
      ? 0
      : Date.UTC(year, rng.int(0, 11), rng.int(1, 28)) / 1000 + rng.int(0, 86_399),
    description,
    emptyCve: flavour > 0.97,
    exploit: rng.chance(0.08) ? rng.pick(['exploit-db', 'cisa-kev']) : '',
  };
  catalog[k] = entry;
  return entry;
}

/** Per seed, the severity level of each catalog entry (-1: not drawn yet): all compact reports need. */
const cveLevelCaches = new Map<string, Int8Array>();

function cveLevelsFor(seed: number | string): Int8Array {
  let levels = cveLevelCaches.get(String(seed));
  if (levels === undefined) {
    if (cveLevelCaches.size >= 8) cveLevelCaches.clear();
    levels = new Int8Array(CVE_CATALOG_SIZE).fill(-1);
    cveLevelCaches.set(String(seed), levels);
  }
  return levels;
}

/** `catalogCve(seed, …, k).level` without the rest of the entry: the same stream, its third draw. */
function catalogLevel(seed: number | string, levels: Int8Array, k: number): number {
  const cached = levels[k]!;
  if (cached >= 0) return cached;
  const rng = rngFor(seed, 'cve', k);
  rng.float(); // year
  rng.float(); // flavour
  const level = rng.pick(CVE_LEVEL_DRAW);
  levels[k] = level;
  return level;
}

interface PackageEntry {
  type: string;
  name: string;
  version: string;
  license: string;
  layerTime: number;
}

function isoSeconds(epochSeconds: number): string {
  return isoTime(epochSeconds * 1000);
}

/**
 * The raw report of one image at one version. Pure: same arguments, same object.
 *
 * @example
 * const report = generateReport({ seed: 1, heavyFraction: 0.01 }, imageSlot(1, 5), { scanGeneration: 0, findingsVersion: 0 });
 * imageKeyOf(report) === imageSlot(1, 5).key; // true
 */
export function generateReport(
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
): RawReport {
  const { seed } = options;
  const index = slot.index;
  const rng = rngFor(seed, 'report', index);
  const heavy = isHeavy(options, index);
  const distro = rng.pick(DISTROS);
  const life = version.history;
  const scanMs = reportScanMs(options, index, version);
  const scanTime = isoTime(scanMs);
  // Findings depend on the first scan, not the latest: a plain rescan leaves them byte-identical.
  const firstScanMs =
    life !== undefined
      ? historyScanMs(options, index, life.firstStep, 0)
      : version.scanGeneration === 0
        ? scanMs
        : scanTimeMs(seed, index, 0);
  const firstScanTime = isoTime(firstScanMs);
  const firstScanEpoch = Math.floor(firstScanMs / 1000);
  let createdEpoch = firstScanEpoch - rng.int(3600, 200 * 86_400);
  if (life !== undefined && life.pushes > 0) {
    // Re-pushed: built shortly before the scan that found the new image.
    const pushedScan = historyScanMs(options, index, life.pushedStep, 0);
    createdEpoch =
      Math.floor(pushedScan / 1000) - rngFor(seed, 'history-push', index, life.pushes).int(600, 86_400);
  }

  // Layers and history.
  const layerCount = heavy ? rng.int(60, 140) : rng.int(2, 14);
  const layers: string[] = [];
  const history: RawReport[] = [];
  for (let i = 0; i < layerCount; i++) {
    const layerRng = rngFor(seed, 'layer', index, i);
    layers.push(`sha256:${layerRng.hex(64)}`);
    const entry: RawReport = {
      created: createdEpoch - (layerCount - i) * 60,
      instruction:
        i === 0
          ? `ADD file:${layerRng.hex(64)} in / `
          : layerRng.pick([
              'RUN apt-get update && apt-get install -y curl',
              'COPY . /app',
              'ENV PATH=/app/bin',
              'WORKDIR /app',
              'CMD ["/app/run"]',
            ]),
      sizeBytes: layerRng.pareto(2_000, 1.1, 400_000_000),
      id: i === layerCount - 1 ? slot.imageId : '<missing>',
    };
    if (i === layerCount - 1) entry.tags = [`${slot.repo}:${slot.tag}`];
    if (layerRng.chance(0.3)) entry.emptyLayer = true;
    history.push(entry);
  }
  const layerTimes = history.map((h) => h.created as number);

  // Packages: distinct names by walking the pools with a stride.
  const packageCount = heavy ? rng.int(1_500, 3_000) : rng.pareto(12, 1.4, 900);
  const packages: PackageEntry[] = [];
  const libraryStart = Math.floor(packageCount * (0.6 + rng.float() * 0.3));
  for (let i = 0; i < packageCount; i++) {
    const pkgRng = rngFor(seed, 'pkg', index, i);
    const isLibrary = i >= libraryStart;
    const pool = isLibrary ? LIBRARY_NAMES : PACKAGE_NAMES;
    const round = Math.floor(i / pool.length);
    const base = pool[i % pool.length]!;
    packages.push({
      type: isLibrary ? LIBRARY_TYPES[i % LIBRARY_TYPES.length]! : 'package',
      name: round === 0 ? base : `${base}-${round}`,
      version: `${pkgRng.int(0, 9)}.${pkgRng.int(0, 30)}.${pkgRng.int(0, 20)}${isLibrary ? '' : `-r${pkgRng.int(0, 9)}`}`,
      license: pkgRng.pick(distro.licenses),
      layerTime: pkgRng.pick(layerTimes),
    });
  }

  // Vulnerabilities: a deterministic candidate pool; the findings version selects from it.
  const clean = !heavy && rng.chance(0.12);
  const baseVulns = clean ? 0 : heavy ? rng.int(2_500, 4_500) : rng.pareto(3, 1.2, 700);
  const extras = Math.max(2, Math.ceil(baseVulns / 4));
  const cveStart = rng.int(0, CVE_CATALOG_SIZE - 1);
  const cveStep = rng.int(1, CVE_CATALOG_SIZE - 1);
  const cveCatalog = cveCatalogFor(seed);
  const vulnerabilities: RawReport[] = [];
  let vulnerabilityCount = 0;
  const distribution = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  for (let j = 0; j < baseVulns + extras; j++) {
    const open =
      life !== undefined
        ? openInHistory(seed, options.history!.steps, index, j, baseVulns, life.scannedStep)
        : candidateIncluded(seed, index, version.findingsVersion, j, baseVulns, extras);
    if (!open) continue;
    const cve = catalogCve(seed, cveCatalog, (cveStart + j * cveStep) % CVE_CATALOG_SIZE);
    vulnerabilityCount++;
    const vulnRng = rngFor(seed, 'vuln', index, j);
    const pkg = packages.length > 0 ? packages[vulnRng.int(0, packages.length - 1)]! : undefined;
    vulnerabilities.push(vulnerabilityOf(vulnRng, cve, distro, pkg, firstScanEpoch, 1000 + j));
    const normalized = (['low', 'low', 'medium', 'high', 'critical'] as const)[cve.level]!;
    distribution[normalized]++;
    distribution.total++;
  }

  const complianceIssues: RawReport[] = [];
  let complianceCount = 0;
  const complianceDistribution = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  for (const check of COMPLIANCE_CHECKS) {
    if (!rng.chance(check.id === 41 ? 0.7 : 0.15)) continue;
    complianceCount++;
    complianceDistribution[check.severity]++;
    complianceDistribution.total++;
    complianceIssues.push({
      text: '',
      id: check.id,
      severity: check.severity,
      cvss: 0,
      status: '',
      cve: '',
      cause: check.id === 424 ? 'The environment variable AWS_SECRET_ACCESS_KEY contains sensitive data' : '',
      description: `${check.title}. See the CIS Docker Benchmark for the rationale and remediation.`,
      title: check.title,
      vecStr: '',
      exploit: '',
      riskFactors: null,
      link: '',
      type: 'image',
      packageName: '',
      packageVersion: '',
      layerTime: 0,
      templates: check.id === 41 ? ['PCI'] : [],
      twistlock: false,
      cri: false,
      published: 0,
      fixDate: 0,
      discovered: ZERO_TIME,
      functionLayer: '',
    });
  }

  const riskFactors: Record<string, Record<string, never>> = {};
  if (vulnerabilityCount > 0) {
    for (const factor of RISK_FACTORS) if (rng.chance(0.4)) riskFactors[factor] = {};
  }

  const pullName =
    slot.registry === '' ? `${slot.repo}:${slot.tag}` : `${slot.registry}/${slot.repo}:${slot.tag}`;
  const repoShort = slot.repo.split('/').pop() ?? slot.repo;
  const hostname = `scanner-${rng.int(1, 4)}.ec2.internal`;
  const oldConsole = slot.reportId !== slot.imageId;
  const packageGroups = groupPackages(packages);

  const report: RawReport = {
    _id: slot.reportId,
    type: 'image',
    hostname,
    scanTime,
    binaries: binariesOf(seed, index, heavy),
    Secrets: rng.chance(0.5) ? [] : null,
    startupBinaries: [
      {
        name: 'sh',
        path: '/bin/sh',
        md5: rngFor(seed, 'md5', index).hex(32),
        cveCount: 0,
        layerTime: 0,
      },
    ],
    osDistro: distro.osDistro,
    osDistroVersion: distro.osDistroVersion,
    osDistroRelease: distro.osDistroRelease,
    distro: distro.distro,
    packages: packageGroups,
    files: [],
    packageManager: true,
    isARM64: rng.chance(0.1),
    image: {
      created: rng.chance(0.15) ? ZERO_TIME : isoSeconds(createdEpoch),
      entrypoint: ['/app/run'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    },
    history,
    id: slot.imageId,
    complianceIssues: complianceCount > 0 ? complianceIssues : null,
    allCompliance: {},
    vulnerabilities: vulnerabilityCount > 0 ? vulnerabilities : null,
    repoTag: { registry: slot.registry, repo: slot.repo, tag: slot.tag },
    tags: [{ registry: slot.registry, repo: slot.repo, tag: slot.tag, digest: slot.digest }],
    repoDigests: [`${repoShort}@${slot.digest}`],
    creationTime: isoSeconds(createdEpoch),
    pushTime: rng.chance(0.6) ? ZERO_TIME : isoSeconds(createdEpoch + 120),
    vulnerabilitiesCount: vulnerabilityCount,
    complianceIssuesCount: complianceCount,
    vulnerabilityDistribution: distribution,
    complianceDistribution,
    vulnerabilityRiskScore:
      distribution.critical * 1_000_000 + distribution.high * 10_000 + distribution.medium * 100,
    complianceRiskScore: complianceDistribution.critical * 1_000_000 + complianceDistribution.high * 10_000,
    layers,
    topLayer: layers[layers.length - 1],
    riskFactors,
    labels: [`org.opencontainers.image.ref.name:${repoShort}`],
    installedProducts: { docker: '24.0.6', hasPackageManager: true, osDistro: distro.osDistro },
    scanVersion: oldConsole ? '22.12.585' : '34.04.145',
    scanBuildDate: oldConsole ? '20230110' : '20250318',
    firstScanTime: rng.chance(0.2) ? ZERO_TIME : firstScanTime,
    cloudMetadata: {},
    instances: [
      {
        image: pullName,
        host: hostname,
        modified: scanTime,
        tag: slot.tag,
        repo: slot.repo,
        registry: slot.registry,
      },
    ],
    hosts: {},
    err: '',
    collections: ['All'],
    scanID: 0,
    trustStatus: 'untrusted',
    firewallProtection: { enabled: false, outOfBandMode: '', supported: false },
    appEmbedded: false,
    wildFireUsage: null,
    agentless: false,
    malwareAnalyzedTime: ZERO_TIME,
    foundSecrets: null,
    redHatNonRPMImage: false,
  };

  applyQuirks(rng, report, oldConsole);
  return report;
}

/**
 * The JSON of the `compact=true` form of a report: byte-identical to
 * `JSON.stringify(compactReport(generateReport(...)))` at a small fraction of the cost (see
 * {@link writeCompactReport}, which pages use directly).
 *
 * @example
 * compactReportJson(opts, slot, version) === JSON.stringify(compactReport(generateReport(opts, slot, version))); // true
 */
export function compactReportJson(
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
): string {
  const out = new AsciiWriter(4096);
  writeCompactReport(out, options, slot, version);
  return out.toString();
}

/**
 * Appends the `compact=true` JSON of a report to `out`: the bytes of
 * `JSON.stringify(compactReport(generateReport(...)))`. This is what most pages of a sync serve,
 * so it is written directly as bytes: no findings, packages, compliance issues or history are
 * built (their counts come from the per-seed CVE level cache), no object or string is built for
 * the report, and every draw from the report's main random stream happens in
 * {@link generateReport}'s order, so each kept value is the one the full report has. The
 * pinned-bytes and compact fast-path tests hold the two in step.
 *
 * @example
 * const out = new AsciiWriter();
 * writeCompactReport(out, opts, slot, version);
 * out.toString() === compactReportJson(opts, slot, version); // true
 */
export function writeCompactReport(
  out: AsciiWriter,
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
): void {
  const reportStart = out.size;
  // History playback takes the general path: the fast one knows the plain console only.
  if (version.history !== undefined || !writeCompactFast(out, options, slot, version)) {
    // A name that needs escaping (none the generator makes): the general path escapes it.
    out.truncate(reportStart);
    out.utf8(JSON.stringify(compactReport(generateReport(options, slot, version))));
  }
}

/** {@link writeCompactReport} for names that are plain JSON text; false (part written) at any other. */
function writeCompactFast(
  out: AsciiWriter,
  options: GeneratorOptions,
  slot: ImageSlot,
  version: ReportVersion,
): boolean {
  const { seed } = options;
  const index = slot.index;
  const rng = rngFor(seed, 'report', index);
  const heavy = isHeavy(options, index);
  const distro = rng.pick(DISTROS);
  const scanMs = scanTimeMs(seed, index, version.scanGeneration);
  const firstScanMs = version.scanGeneration === 0 ? scanMs : scanTimeMs(seed, index, 0);
  const firstScanEpoch = Math.floor(firstScanMs / 1000);
  const createdEpoch = firstScanEpoch - rng.int(3600, 200 * 86_400);

  // Layers: only the top one is kept (its own stream); history is dropped.
  const layerCount = heavy ? rng.int(60, 140) : rng.int(2, 14);
  const topLayerRng = rngFor(seed, 'layer', index, layerCount - 1);

  // Packages are dropped: draw their count and library split, as generateReport does.
  if (heavy) rng.int(1_500, 3_000);
  else rng.pareto(12, 1.4, 900);
  rng.float();

  // Vulnerabilities: only the count and the distribution are kept.
  const clean = !heavy && rng.chance(0.12);
  const baseVulns = clean ? 0 : heavy ? rng.int(2_500, 4_500) : rng.pareto(3, 1.2, 700);
  const extras = Math.max(2, Math.ceil(baseVulns / 4));
  const cveStart = rng.int(0, CVE_CATALOG_SIZE - 1);
  const cveStep = rng.int(1, CVE_CATALOG_SIZE - 1);
  const levels = cveLevelsFor(seed);
  // Counts per catalog level 0..4 (levels 0 and 1 both normalize to low).
  let level0 = 0;
  let level1 = 0;
  let level2 = 0;
  let level3 = 0;
  let level4 = 0;
  const candidates = version.findingsVersion === 0 ? baseVulns : baseVulns + extras;
  // k = (cveStart + j * cveStep) % CVE_CATALOG_SIZE, stepped without a division (both terms
  // are below the size, so one subtraction wraps it); a cached level is read in place.
  for (
    let j = 0, k = cveStart;
    j < candidates;
    j++, k = k + cveStep - (k + cveStep >= CVE_CATALOG_SIZE ? CVE_CATALOG_SIZE : 0)
  ) {
    if (
      version.findingsVersion !== 0 &&
      !candidateIncluded(seed, index, version.findingsVersion, j, baseVulns, extras)
    ) {
      continue;
    }
    const cached = levels[k]!;
    switch (cached >= 0 ? cached : catalogLevel(seed, levels, k)) {
      case 0:
        level0++;
        break;
      case 1:
        level1++;
        break;
      case 2:
        level2++;
        break;
      case 3:
        level3++;
        break;
      default:
        level4++;
    }
  }
  const low = level0 + level1;
  const vulnerabilityCount = low + level2 + level3 + level4;

  let complianceCount = 0;
  const compliance = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const check of COMPLIANCE_CHECKS) {
    if (!rng.chance(check.id === 41 ? 0.7 : 0.15)) continue;
    complianceCount++;
    compliance[check.severity]++;
  }

  // Bit i set: RISK_FACTORS[i] is present.
  let riskFactors = 0;
  if (vulnerabilityCount > 0) {
    for (let i = 0; i < RISK_FACTORS.length; i++) if (rng.chance(0.4)) riskFactors |= 1 << i;
  }

  const hostNumber = rng.int(1, 4);
  const oldConsole = slot.reportId !== slot.imageId;
  // The literal's draws, in its key order: Secrets, isARM64, image.created, pushTime, firstScanTime.
  rng.float();
  const isArm64 = rng.chance(0.1);
  rng.float();
  const pushZero = rng.chance(0.6);
  const firstScanZero = rng.chance(0.2);

  // applyQuirks, in its order.
  const removedFirst = rng.chance(0.25) ? rng.pick(OPTIONAL_KEYS) : '';
  const removedSecond = rng.chance(0.1) ? rng.pick(OPTIONAL_KEYS) : '';
  // Plain flags rather than a closure per report: creating one cost a measurable share (tsx's
  // keepNames also wraps each closure it creates).
  const keepHostname = removedFirst !== 'hostname' && removedSecond !== 'hostname';
  const keepRepoDigests = removedFirst !== 'repoDigests' && removedSecond !== 'repoDigests';
  const keepPushTime = removedFirst !== 'pushTime' && removedSecond !== 'pushTime';
  const keepLabels = removedFirst !== 'labels' && removedSecond !== 'labels';
  const keepFirstScanTime = removedFirst !== 'firstScanTime' && removedSecond !== 'firstScanTime';
  rng.float(); // packages removed: compact drops them anyway
  const correlationDone = rng.chance(0.3);
  const fixesSummary = rng.chance(0.1);
  const fixable = fixesSummary ? rng.int(0, 9) : 0;
  const fixableDebian = fixesSummary ? rng.int(0, 4) : 0;
  const distributionZeroed = vulnerabilityCount > 0 && rng.chance(0.03);
  const countsDisagree = vulnerabilityCount === 0 && rng.chance(0.2) ? rng.int(1, 40) : -1;

  // Names are written once with `plain` (which refuses text that would need escaping: then the
  // caller takes the general path); later occurrences copy their bytes within the buffer.
  out.bytes(C_ID);
  const idStart = out.size;
  if (!out.plain(slot.reportId)) return false;
  const idEnd = out.size;
  out.bytes(C_TYPE);
  if (keepHostname) {
    out.bytes(C_HOSTNAME);
    out.uint(hostNumber);
    out.bytes(C_HOST_DOMAIN);
  }
  out.bytes(C_SCAN_TIME);
  const scanTimeStart = out.size;
  writeIsoTime(out, scanMs);
  const scanTimeEnd = out.size;
  out.byte(QUOTE);
  out.bytes(DISTRO_JSON.get(distro)!);
  out.bytes(isArm64 ? C_ARM64_TRUE : C_ARM64_FALSE);
  // `_id` is the image id except on old consoles.
  if (!oldConsole) out.repeat(idStart, idEnd);
  else if (!out.plain(slot.imageId)) return false;
  out.bytes(C_REPO_TAG);
  const registryStart = out.size;
  if (!out.plain(slot.registry)) return false;
  const registryEnd = out.size;
  out.bytes(C_REPO);
  const repoStart = out.size;
  if (!out.plain(slot.repo)) return false;
  const repoEnd = out.size;
  out.bytes(C_TAG);
  const tagStart = out.size;
  if (!out.plain(slot.tag)) return false;
  const tagEnd = out.size;
  out.bytes(C_TAGS);
  out.repeat(registryStart, registryEnd);
  out.bytes(C_REPO);
  out.repeat(repoStart, repoEnd);
  out.bytes(C_TAG);
  out.repeat(tagStart, tagEnd);
  out.bytes(C_DIGEST);
  const digestStart = out.size;
  if (!out.plain(slot.digest)) return false;
  const digestEnd = out.size;
  out.bytes(C_TAGS_END);
  // repoShort: the repository after its last '/', a suffix of the bytes already written.
  const repoShortStart = repoStart + slot.repo.lastIndexOf('/') + 1;
  if (keepRepoDigests) {
    out.bytes(C_REPO_DIGESTS);
    out.repeat(repoShortStart, repoEnd);
    out.byte(AT);
    out.repeat(digestStart, digestEnd);
    out.bytes(C_STRING_ARRAY_END);
  }
  out.bytes(C_CREATION_TIME);
  writeIsoTime(out, createdEpoch * 1000);
  out.byte(QUOTE);
  if (keepPushTime) {
    out.bytes(C_PUSH_TIME);
    if (pushZero) out.bytes(C_ZERO_TIME);
    else writeIsoTime(out, (createdEpoch + 120) * 1000);
    out.byte(QUOTE);
  }
  out.bytes(C_VULNERABILITIES_COUNT);
  out.uint(countsDisagree >= 0 ? countsDisagree : vulnerabilityCount);
  out.bytes(C_COMPLIANCE_COUNT);
  out.uint(complianceCount);
  out.bytes(C_VULNERABILITY_DISTRIBUTION);
  if (distributionZeroed) writeDistribution(out, 0, 0, 0, 0, 0);
  else writeDistribution(out, level4, level3, level2, low, vulnerabilityCount);
  out.bytes(C_COMPLIANCE_DISTRIBUTION);
  writeDistribution(
    out,
    compliance.critical,
    compliance.high,
    compliance.medium,
    compliance.low,
    complianceCount,
  );
  out.bytes(C_VULNERABILITY_RISK);
  out.uint(level4 * 1_000_000 + level3 * 10_000 + level2 * 100);
  out.bytes(C_COMPLIANCE_RISK);
  out.uint(compliance.critical * 1_000_000 + compliance.high * 10_000);
  out.bytes(C_TOP_LAYER);
  writeHex(out, topLayerRng, 64);
  out.bytes(C_RISK_FACTORS);
  let firstFactor = true;
  for (let i = 0; i < RISK_FACTOR_JSON.length; i++) {
    if ((riskFactors & (1 << i)) === 0) continue;
    if (!firstFactor) out.byte(COMMA);
    firstFactor = false;
    out.bytes(RISK_FACTOR_JSON[i]!);
  }
  out.byte(CLOSE_BRACE);
  if (keepLabels) {
    out.bytes(C_LABELS);
    out.repeat(repoShortStart, repoEnd);
    out.bytes(C_STRING_ARRAY_END);
  }
  out.bytes(oldConsole ? C_OLD_SCAN_VERSION : C_SCAN_VERSION);
  if (keepFirstScanTime) {
    out.bytes(C_FIRST_SCAN_TIME);
    if (firstScanZero) out.bytes(C_ZERO_TIME);
    else if (firstScanMs === scanMs) out.repeat(scanTimeStart, scanTimeEnd);
    else writeIsoTime(out, firstScanMs);
    out.byte(QUOTE);
  }
  out.bytes(C_INSTANCES);
  if (slot.registry !== '') {
    out.repeat(registryStart, registryEnd);
    out.byte(SLASH);
  }
  out.repeat(repoStart, repoEnd);
  out.byte(COLON);
  out.repeat(tagStart, tagEnd);
  out.bytes(C_INSTANCE_HOST);
  out.uint(hostNumber);
  out.bytes(C_INSTANCE_MODIFIED);
  out.repeat(scanTimeStart, scanTimeEnd);
  out.bytes(C_TAG);
  out.repeat(tagStart, tagEnd);
  out.bytes(C_REPO);
  out.repeat(repoStart, repoEnd);
  out.bytes(C_REGISTRY);
  out.repeat(registryStart, registryEnd);
  out.bytes(C_INSTANCES_END);
  if (!oldConsole) out.bytes(C_TRUST_STATUS);
  out.bytes(C_TAIL);
  if (correlationDone) out.bytes(C_CORRELATION_DONE);
  if (fixesSummary) {
    out.bytes(C_FIXES_SUMMARY);
    out.uint(fixable);
    out.bytes(C_FIXES_DEBIAN);
    out.uint(fixableDebian);
    out.bytes(C_FIXES_END);
  }
  if (oldConsole) out.bytes(C_TRUST);
  out.byte(CLOSE_BRACE);
  return true;
}

// The constant JSON text of a compact report, in its order, pre-encoded for AsciiWriter.bytes.
const C_ID = ascii('{"_id":"');
const C_TYPE = ascii('","type":"image"');
const C_HOSTNAME = ascii(',"hostname":"scanner-');
const C_HOST_DOMAIN = ascii('.ec2.internal"');
const C_SCAN_TIME = ascii(',"scanTime":"');
const C_ARM64_TRUE = ascii(',"packageManager":true,"isARM64":true,"id":"');
const C_ARM64_FALSE = ascii(',"packageManager":true,"isARM64":false,"id":"');
const C_REPO_TAG = ascii('","repoTag":{"registry":"');
const C_REPO = ascii('","repo":"');
const C_TAG = ascii('","tag":"');
const C_TAGS = ascii('"},"tags":[{"registry":"');
const C_DIGEST = ascii('","digest":"');
const C_TAGS_END = ascii('"}]');
const C_REPO_DIGESTS = ascii(',"repoDigests":["');
const C_STRING_ARRAY_END = ascii('"]');
const C_CREATION_TIME = ascii(',"creationTime":"');
const C_PUSH_TIME = ascii(',"pushTime":"');
const C_ZERO_TIME = ascii(ZERO_TIME);
const C_VULNERABILITIES_COUNT = ascii(',"vulnerabilitiesCount":');
const C_COMPLIANCE_COUNT = ascii(',"complianceIssuesCount":');
const C_VULNERABILITY_DISTRIBUTION = ascii(',"vulnerabilityDistribution":');
const C_COMPLIANCE_DISTRIBUTION = ascii(',"complianceDistribution":');
const C_CRITICAL = ascii('{"critical":');
const C_HIGH = ascii(',"high":');
const C_MEDIUM = ascii(',"medium":');
const C_LOW = ascii(',"low":');
const C_TOTAL = ascii(',"total":');
const C_VULNERABILITY_RISK = ascii(',"vulnerabilityRiskScore":');
const C_COMPLIANCE_RISK = ascii(',"complianceRiskScore":');
const C_TOP_LAYER = ascii(',"topLayer":"sha256:');
const C_RISK_FACTORS = ascii('","riskFactors":{');
const RISK_FACTOR_JSON = RISK_FACTORS.map((factor) => ascii(`${JSON.stringify(factor)}:{}`));
const C_LABELS = ascii(',"labels":["org.opencontainers.image.ref.name:');
const C_OLD_SCAN_VERSION = ascii(',"scanVersion":"22.12.585","scanBuildDate":"20230110"');
const C_SCAN_VERSION = ascii(',"scanVersion":"34.04.145","scanBuildDate":"20250318"');
const C_FIRST_SCAN_TIME = ascii(',"firstScanTime":"');
const C_INSTANCES = ascii(',"cloudMetadata":{},"instances":[{"image":"');
const C_INSTANCE_HOST = ascii('","host":"scanner-');
const C_INSTANCE_MODIFIED = ascii('.ec2.internal","modified":"');
const C_REGISTRY = ascii('","registry":"');
const C_INSTANCES_END = ascii('"}],"hosts":{},"err":"","collections":["All"],"scanID":0');
const C_TRUST_STATUS = ascii(',"trustStatus":"untrusted"');
const C_TAIL = ascii(
  `,"appEmbedded":false,"wildFireUsage":null,"agentless":false,"malwareAnalyzedTime":"${ZERO_TIME}","redHatNonRPMImage":false`,
);
const C_CORRELATION_DONE = ascii(',"packageCorrelationDone":true');
const C_FIXES_SUMMARY = ascii(',"cveFixesSummary":{"fixable":');
const C_FIXES_DEBIAN = ascii(',"byVendor":{"debian":');
const C_FIXES_END = ascii('}}');
const C_TRUST = ascii(
  ',"trust":{"status":"untrusted","reason":"not learned or trusted by rule Default - alert all"}',
);

const QUOTE = 0x22;
const COMMA = 0x2c;
const SLASH = 0x2f;
const COLON = 0x3a;
const AT = 0x40;
const CLOSE_BRACE = 0x7d;
const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** `{"critical":…,"high":…,"medium":…,"low":…,"total":…}`. */
function writeDistribution(
  out: AsciiWriter,
  critical: number,
  high: number,
  medium: number,
  low: number,
  total: number,
): void {
  out.bytes(C_CRITICAL);
  out.uint(critical);
  out.bytes(C_HIGH);
  out.uint(high);
  out.bytes(C_MEDIUM);
  out.uint(medium);
  out.bytes(C_LOW);
  out.uint(low);
  out.bytes(C_TOTAL);
  out.uint(total);
  out.byte(CLOSE_BRACE);
}

/** Writes `rng.hex(length)` (the same draws, the same digits) without building the string. */
function writeHex(out: AsciiWriter, rng: Rng, length: number): void {
  for (let written = 0; written < length; written += 8) {
    const n = Math.floor(rng.float() * 4294967296);
    if (length - written >= 8) {
      out.hex32(n);
      continue;
    }
    for (let shift = 28; written < length; shift -= 4, written++) out.byte(HEX_CODES[(n >>> shift) & 15]!);
  }
}

/** The distro's keys of a compact report, as JSON text (`,"osDistro":…,"distro":…`). */
const DISTRO_JSON: ReadonlyMap<Distro, AsciiConstant> = new Map(
  DISTROS.map((d) => [
    d,
    ascii(
      `,"osDistro":${JSON.stringify(d.osDistro)},"osDistroVersion":${JSON.stringify(d.osDistroVersion)}` +
        `,"osDistroRelease":${JSON.stringify(d.osDistroRelease)},"distro":${JSON.stringify(d.distro)}`,
    ),
  ]),
);

/**
 * Whether vulnerability candidate `j` is in the report at `findingsVersion`. Version 0 is the
 * base set; each later version drops some base findings, adds some extras, and always adds at
 * least one new extra, so a "changed findings" rescan really changes them.
 */
function candidateIncluded(
  seed: number | string,
  index: number,
  findingsVersion: number,
  j: number,
  base: number,
  extras: number,
): boolean {
  if (findingsVersion === 0) return j < base;
  if (j === base + ((findingsVersion - 1) % extras)) return true;
  if (j < base) return !rngFor(seed, 'drop', index, findingsVersion, j).chance(0.1);
  return rngFor(seed, 'add', index, findingsVersion, j).chance(0.2);
}

function vulnerabilityOf(
  rng: Rng,
  cve: CatalogCve,
  distro: Distro,
  pkg: PackageEntry | undefined,
  firstScanEpoch: number,
  fallbackId: number,
): RawReport {
  const fixed = rng.chance(0.55);
  const status = fixed ? `fixed in ${rng.int(1, 9)}.${rng.int(0, 30)}.${rng.int(0, 20)}` : rng.pick(STATUSES);
  const factors: Record<string, Record<string, never>> = {};
  if (fixed) factors['Has fix'] = {};
  if (rng.chance(0.3)) factors['Attack vector: network'] = {};
  if (cve.published > 0 && firstScanEpoch - cve.published < 30 * 86_400) factors['Recent vulnerability'] = {};
  const vuln: RawReport = {
    applicableRules: [fixed ? `<${status.slice('fixed in '.length)}` : '*'],
    cause: '',
    cve: cve.emptyCve ? '' : cve.cve,
    cvss: cve.cvss,
    description: cve.description,
    exploit: cve.exploit,
    id: cve.emptyCve ? fallbackId : pkg?.type === 'package' ? 46 : 47,
    layerTime: pkg?.layerTime ?? 0,
    link: cve.emptyCve ? '' : `https://nvd.nist.gov/vuln/detail/${cve.cve}`,
    packageName: pkg?.name ?? '',
    packageVersion: pkg?.version ?? '',
    packageType: pkg?.type ?? 'package',
    published: cve.published,
    riskFactors: factors,
    severity: distro.severities[cve.level],
    status,
    templates: null,
    text: '',
    title: '',
    twistlock: cve.emptyCve,
    type: 'image',
    vecStr: cve.vecStr,
    discovered: rng.chance(0.1) ? ZERO_TIME : isoSeconds(firstScanEpoch - rng.int(0, 90 * 86_400)),
    functionLayer: '',
  };
  if (cve.cvss === undefined) delete vuln.cvss;
  // fixDate: epoch seconds when fixed, 0 when not, and missing on older feeds (as in the DataDog fixture).
  const fixDateStyle = rng.float();
  if (fixDateStyle < 0.7) vuln.fixDate = fixed ? Math.max(cve.published, 1) + rng.int(0, 200 * 86_400) : 0;
  if (rng.chance(0.05))
    vuln.exploits = [{ kind: 'poc', link: 'https://www.exploit-db.com/exploits/1', source: 'exploit-db' }];
  return vuln;
}

function groupPackages(packages: readonly PackageEntry[]): RawReport[] {
  const groups = new Map<string, RawReport[]>();
  for (const pkg of packages) {
    let list = groups.get(pkg.type);
    if (list === undefined) {
      list = [];
      groups.set(pkg.type, list);
    }
    const entry: RawReport = {
      version: pkg.version,
      name: pkg.name,
      cveCount: 0,
      license: pkg.license,
      layerTime: pkg.layerTime,
    };
    if (pkg.type !== 'package') entry.path = `/app/${pkg.type}/${pkg.name}`;
    list.push(entry);
  }
  return [...groups].map(([pkgsType, pkgs]) => ({ pkgsType, pkgs }));
}

function binariesOf(seed: number | string, index: number, heavy: boolean): RawReport[] {
  const rng = rngFor(seed, 'binaries', index);
  const count = heavy ? rng.int(200, 400) : rng.int(1, 8);
  const binaries: RawReport[] = [];
  for (let i = 0; i < count; i++) {
    binaries.push({
      name: `bin${i}`,
      path: `/usr/local/bin/bin${i}`,
      md5: rng.hex(32),
      cveCount: 0,
      layerTime: 0,
      fileMode: 493,
    });
  }
  return binaries;
}

/** Keys a report may miss (SPEC §2): the quirks remove up to two of them. */
const OPTIONAL_KEYS: readonly string[] = [
  'firstScanTime',
  'hostname',
  'pushTime',
  'repoDigests',
  'labels',
  'startupBinaries',
  'installedProducts',
];

/** SPEC §2 quirks that are not about content: missing fields, unknown fields, self-contradicting counts. */
function applyQuirks(rng: Rng, report: RawReport, oldConsole: boolean): void {
  const remove = (key: string) => {
    delete report[key];
  };
  if (rng.chance(0.25)) remove(rng.pick(OPTIONAL_KEYS));
  if (rng.chance(0.1)) remove(rng.pick(OPTIONAL_KEYS));
  if (rng.chance(0.02)) remove('packages');
  // Unknown fields from newer and older consoles: clients must keep or ignore them, never fail.
  if (rng.chance(0.3)) report.packageCorrelationDone = true;
  if (rng.chance(0.1))
    report.cveFixesSummary = { fixable: rng.int(0, 9), byVendor: { debian: rng.int(0, 4) } };
  if (oldConsole) {
    report.trust = { status: 'untrusted', reason: 'not learned or trusted by rule Default - alert all' };
    remove('trustStatus');
  }
  // Counts that disagree with the arrays, as on real consoles (trust the arrays).
  if (Array.isArray(report.vulnerabilities) && rng.chance(0.03)) {
    report.vulnerabilityDistribution = { critical: 0, high: 0, medium: 0, low: 0, total: 0 };
  }
  if (report.vulnerabilities === null && rng.chance(0.2)) report.vulnerabilitiesCount = rng.int(1, 40);
}

/** Top-level keys `compact=true` leaves out: vulnerabilities, compliance and extended image metadata. */
export const COMPACT_DROPPED_KEYS: readonly string[] = [
  'vulnerabilities',
  'complianceIssues',
  'allCompliance',
  'packages',
  'binaries',
  'startupBinaries',
  'files',
  'history',
  'applications',
  'Secrets',
  'foundSecrets',
  'layers',
  'image',
  'installedProducts',
  'firewallProtection',
];

/**
 * The `compact=true` form of a report: every key except {@link COMPACT_DROPPED_KEYS}.
 *
 * @example
 * compactReport(generateReport(opts, slot, v)).vulnerabilities; // undefined
 */
export function compactReport(report: RawReport): RawReport {
  const out: RawReport = {};
  for (const key in report) {
    if (!COMPACT_DROPPED.has(key)) out[key] = report[key];
  }
  return out;
}

const COMPACT_DROPPED: ReadonlySet<string> = new Set(COMPACT_DROPPED_KEYS);

/**
 * The `fields=` projection of a report: `_id` plus each listed dotted path (`repoTag.repo`).
 *
 * @example
 * projectFields(report, ['repoTag.repo']); // { _id: '…', repoTag: { repo: 'web/api' } }
 */
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
