/**
 * A small crafted history written as the four export tables (NDJSON, every column of the schema), with
 * findings opened, resolved and reopened on known days, one image stale and one removed. The report's
 * expected numbers for it are worked out by hand in metrics.test.ts.
 *
 * The sync notices every change 20 hours after the console's scan (`changes.at`), so a timeline on
 * sync time would put some changes on the next day: the report must use scan times.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXPORT_TABLES, type ExportRow, type ExportTableName } from '../../lambda/export/schema.js';

export const CONSOLE = 'c1';
export const REGISTRY = 'reg.example';
/** The report's "now": day 2025-03-31, with days = 10 the period is 2025-03-22 to 2025-03-31. */
export const AS_OF = '2025-03-31T12:00:00.000Z';

const SYNC_LAG_MS = 20 * 3_600_000;
const later = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

interface ImageSpec {
  name: 'A' | 'B' | 'C';
  repo: string;
  tag: string;
  lastScannedAt: string;
  removedAt?: string;
}

const IMAGES: ImageSpec[] = [
  { name: 'A', repo: 'shop/api', tag: '1', lastScannedAt: '2025-03-30T10:00:00.000Z' },
  // Last scan over 30 days before AS_OF: stale.
  { name: 'B', repo: 'shop/web', tag: '2', lastScannedAt: '2025-02-20T00:00:00.000Z' },
  {
    name: 'C',
    repo: 'ops/cron',
    tag: '3',
    lastScannedAt: '2025-03-10T00:00:00.000Z',
    removedAt: '2025-03-27T09:00:00.000Z',
  },
];

interface FindingSpec {
  name: string;
  image: 'A' | 'B' | 'C';
  cve: string;
  severity: 'critical' | 'high' | 'medium' | 'low';
  pkg: string;
  status: string;
  /** Open periods by console scan time: [opened, resolved | undefined]; the last may be open. */
  periods: Array<[string, string | undefined]>;
  /** How the last period closed, when it did. */
  removedWithImage?: boolean;
}

export const FINDINGS: FindingSpec[] = [
  // Open 17 days at AS_OF: past the critical limit of 15.
  {
    name: 'f1',
    image: 'A',
    cve: 'CVE-1',
    severity: 'critical',
    pkg: 'openssl',
    status: 'fixed in 1.1',
    periods: [['2025-03-14T12:00:00.000Z', undefined]],
  },
  // Open exactly 15 days at AS_OF: at the limit, not a breach.
  {
    name: 'f2',
    image: 'A',
    cve: 'CVE-2',
    severity: 'critical',
    pkg: 'zlib',
    status: 'open',
    periods: [['2025-03-16T12:00:00.000Z', undefined]],
  },
  // Fixed after 9.75 days (the sync noticed on 03-25, the scan was on 03-24).
  {
    name: 'f3',
    image: 'A',
    cve: 'CVE-3',
    severity: 'high',
    pkg: 'curl',
    status: 'fixed in 8.0',
    periods: [['2025-03-14T12:00:00.000Z', '2025-03-24T06:00:00.000Z']],
  },
  // Fixed after 9.75 days, then back on 03-28: reopened.
  {
    name: 'f4',
    image: 'A',
    cve: 'CVE-4',
    severity: 'medium',
    pkg: 'libxml2',
    status: 'open',
    periods: [
      ['2025-03-14T12:00:00.000Z', '2025-03-24T06:00:00.000Z'],
      ['2025-03-28T00:00:00.000Z', undefined],
    ],
  },
  // Fixed before the period: in the trend's baseline, not in the period's time to fix.
  {
    name: 'f10',
    image: 'A',
    cve: 'CVE-7',
    severity: 'low',
    pkg: 'bash',
    status: 'fixed in 5.2',
    periods: [['2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z']],
  },
  // Image B (stale): open 39.5 days, critical, a fix exists.
  {
    name: 'f6',
    image: 'B',
    cve: 'CVE-1',
    severity: 'critical',
    pkg: 'openssl',
    status: 'fixed in 1.1',
    periods: [['2025-02-20T00:00:00.000Z', undefined]],
  },
  // Open 39.5 days, low: within its 180.
  {
    name: 'f7',
    image: 'B',
    cve: 'CVE-5',
    severity: 'low',
    pkg: 'tar',
    status: 'will not fix',
    periods: [['2025-02-20T00:00:00.000Z', undefined]],
  },
  // Image C: resolved by the image's removal on 03-27 (not a fix).
  {
    name: 'f8',
    image: 'C',
    cve: 'CVE-1',
    severity: 'critical',
    pkg: 'openssl',
    status: 'fixed in 1.1',
    periods: [['2025-03-10T00:00:00.000Z', '2025-03-27T09:00:00.000Z']],
    removedWithImage: true,
  },
  // Fixed after exactly 15 days.
  {
    name: 'f9',
    image: 'C',
    cve: 'CVE-6',
    severity: 'high',
    pkg: 'sudo',
    status: 'fixed in 1.9',
    periods: [['2025-03-10T00:00:00.000Z', '2025-03-25T00:00:00.000Z']],
  },
];

function blank(table: ExportTableName): ExportRow {
  const definition = EXPORT_TABLES.find((t) => t.name === table);
  if (!definition) throw new Error(table);
  return Object.fromEntries(definition.columns.map((c) => [c.name, null]));
}

const imageOf = (name: string) => {
  const image = IMAGES.find((i) => i.name === name);
  if (!image) throw new Error(name);
  return image;
};
const identity = (image: ImageSpec) => ({
  console_id: CONSOLE,
  registry: REGISTRY,
  repo: image.repo,
  tag: image.tag,
  image_key: `${REGISTRY}/${image.repo}:${image.tag}`,
});
const runOf = (image: ImageSpec, scanTime: string) => `run-${image.name}-${scanTime}`;

/** The four tables' rows of the crafted history. */
export function craftedRows(): Record<ExportTableName, ExportRow[]> {
  const images: ExportRow[] = [];
  const findings: ExportRow[] = [];
  const changes: ExportRow[] = [];
  const scanTimes = new Map<string, Set<string>>();
  const scanOf = (image: ImageSpec, time: string) => {
    const set = scanTimes.get(image.name) ?? new Set<string>();
    set.add(time);
    scanTimes.set(image.name, set);
  };

  for (const f of FINDINGS) {
    const image = imageOf(f.image);
    const key = `${f.cve}|${f.pkg}|1.0`;
    f.periods.forEach(([opened, resolved], index) => {
      scanOf(image, opened);
      changes.push({
        ...blank('changes'),
        ...identity(image),
        change: 'new',
        at: later(opened, SYNC_LAG_MS),
        finding_key: key,
        vulnerability_id: f.cve,
        package_name: f.pkg,
        package_version: '1.0',
        severity: f.severity,
        run_id: runOf(image, opened),
      });
      if (resolved === undefined) return;
      const removal = f.removedWithImage === true && index === f.periods.length - 1;
      if (!removal) scanOf(image, resolved);
      changes.push({
        ...blank('changes'),
        ...identity(image),
        change: 'resolved',
        at: removal ? resolved : later(resolved, SYNC_LAG_MS),
        finding_key: key,
        vulnerability_id: f.cve,
        package_name: f.pkg,
        package_version: '1.0',
        severity: f.severity,
        reason: removal ? 'imageRemoved' : null,
        run_id: removal ? 'run-removal' : runOf(image, resolved),
      });
    });
    const last = f.periods[f.periods.length - 1] as [string, string | undefined];
    findings.push({
      ...blank('findings'),
      ...identity(image),
      finding_key: key,
      vulnerability_id: f.cve,
      severity: f.severity,
      package_name: f.pkg,
      package_version: '1.0',
      status: f.status,
      is_open: last[1] === undefined,
      first_seen: last[0],
      last_seen: last[1] ?? image.lastScannedAt,
      resolved_at: last[1] ?? null,
      resolved_reason: last[1] === undefined ? null : f.removedWithImage ? 'imageRemoved' : 'goneFromReport',
      occurrences: f.periods.length,
      updated_at: later(last[1] ?? last[0], SYNC_LAG_MS),
    });
  }
  for (const image of IMAGES) {
    images.push({
      ...blank('images'),
      ...identity(image),
      scan_time: image.lastScannedAt,
      last_scanned_at: image.lastScannedAt,
      first_seen_at: '2025-02-01T00:00:00.000Z',
      updated_at: image.removedAt ?? later(image.lastScannedAt, SYNC_LAG_MS),
      removed: image.removedAt !== undefined,
      removed_at: image.removedAt ?? null,
      vulnerabilities_critical: 0,
      vulnerabilities_high: 0,
      vulnerabilities_medium: 0,
      vulnerabilities_low: 0,
      vulnerabilities_total: 0,
      compliance_critical: 0,
      compliance_high: 0,
      compliance_medium: 0,
      compliance_low: 0,
      compliance_total: 0,
    });
  }
  const scans: ExportRow[] = [];
  for (const [name, times] of scanTimes) {
    const image = imageOf(name);
    for (const time of [...times].sort()) {
      scans.push({
        ...blank('scans'),
        ...identity(image),
        observed_at: time,
        scan_time: time,
        seen_at: later(time, SYNC_LAG_MS),
        content_hash: `hash-${time}`,
        vulnerabilities_critical: 0,
        vulnerabilities_high: 0,
        vulnerabilities_medium: 0,
        vulnerabilities_low: 0,
        vulnerabilities_total: 0,
        compliance_critical: 0,
        compliance_high: 0,
        compliance_medium: 0,
        compliance_low: 0,
        compliance_total: 0,
        run_id: runOf(image, time),
      });
    }
  }
  return { images, findings, scans, changes };
}

/** Writes the crafted history as `<table>.ndjson` files into `dir`. */
export async function writeCraftedExport(dir: string): Promise<void> {
  const rows = craftedRows();
  for (const table of EXPORT_TABLES) {
    await writeFile(
      join(dir, `${table.name}.ndjson`),
      `${rows[table.name].map((row) => JSON.stringify(row)).join('\n')}\n`,
    );
  }
}
