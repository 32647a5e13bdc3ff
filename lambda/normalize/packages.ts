import type { PackageRecord } from '../common/records.js';
import { TEXT_MAX_CHARS } from './limits.js';
import { asObject, capText, field, list, presentText, type RawObject } from './read.js';
import type { Warnings } from './warnings.js';

/** `type` of a package whose report names none (the API's own `packages.Type` has `unknown`). */
const UNKNOWN_PACKAGE_TYPE = 'unknown';

/**
 * Installed packages, from either shape:
 * - API: `packages: [{ pkgsType, pkgs: [{ name, version, license, path, … }] }]`;
 * - twistcli: `packages: [{ type, name, version, files }]` (flat).
 *
 * Identical rows collapse (same type, name, version, license and path); the same name and
 * version at two paths are two packages. Sorted by type, name, version, path, license. Text is
 * capped at {@link TEXT_MAX_CHARS}. Package-level counters (`cveCount`) and file lists are
 * left to the raw report.
 *
 * @example
 * normalizePackages({ packages: [{ pkgsType: 'package', pkgs: [{ name: 'zlib', version: '1.2.11-r3', license: 'Zlib' }] }] }, warnings);
 * // [{ type: 'package', name: 'zlib', version: '1.2.11-r3', license: 'Zlib', path: null }]
 */
export function normalizePackages(report: RawObject, warnings: Warnings): PackageRecord[] {
  const unique = new Map<string, PackageRecord>();
  const add = (row: RawObject, type: string | null): void => {
    const name = presentText(field(row, 'name'));
    if (name === null) {
      warnings.tally('packages without a name were ignored');
      return;
    }
    const short = (value: string | null): string | null => {
      if (value === null) return null;
      const capped = capText(value, TEXT_MAX_CHARS);
      if (capped.truncated)
        warnings.tally(`package fields longer than ${TEXT_MAX_CHARS} characters were cut`);
      return capped.text;
    };
    const record: PackageRecord = {
      type: short(type) ?? UNKNOWN_PACKAGE_TYPE,
      name: short(name) ?? '',
      version: short(presentText(field(row, 'version'))) ?? '',
      license: short(presentText(field(row, 'license'))),
      path: short(presentText(field(row, 'path'))),
    };
    unique.set(
      JSON.stringify([record.type, record.name, record.version, record.path ?? '', record.license ?? '']),
      record,
    );
  };

  for (const entry of list(field(report, 'packages'))) {
    const group = asObject(entry);
    if (group === undefined) continue;
    const pkgs = field(group, 'pkgs');
    if (Array.isArray(pkgs)) {
      const type = presentText(field(group, 'pkgsType'));
      for (const pkg of pkgs) {
        const row = asObject(pkg);
        if (row !== undefined) add(row, presentText(field(row, 'type')) ?? type);
      }
    } else {
      add(group, presentText(field(group, 'type')) ?? presentText(field(group, 'pkgsType')));
    }
  }
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, record]) => record);
}
