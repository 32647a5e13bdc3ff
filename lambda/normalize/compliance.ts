import type { ComplianceRecord } from '../common/records.js';
import { TEXT_MAX_CHARS } from './limits.js';
import { asObject, capText, field, list, presentText, preview, type RawObject } from './read.js';
import { normalizeSeverity } from './severity.js';
import type { Warnings } from './warnings.js';

type ComplianceDraft = Omit<ComplianceRecord, 'key'>;

/**
 * Compliance issues from `complianceIssues[]` (API) and `compliances[]` (twistcli), sorted by key.
 *
 * Keys: the rule id (`41`) when it is unique in the report; twistcli rows carry no id, so their
 * title stands in. When several distinct issues share that, the cause is appended
 * (`41|<cause>`), and if they still collide a 1-based position in canonical order
 * (`41|<cause>|2`). Identical rows collapse; nothing else is dropped. Text is capped at
 * {@link TEXT_MAX_CHARS}; `|` and `\` inside key parts are escaped as in finding keys.
 *
 * @example
 * normalizeCompliance({ complianceIssues: [{ id: 41, severity: 'high', title: 'non-root user' }] }, warnings);
 * // [{ key: '41', id: '41', severity: 'high', vendorSeverity: 'high', title: 'non-root user', cause: null, type: null }]
 */
export function normalizeCompliance(report: RawObject, warnings: Warnings): ComplianceRecord[] {
  const unique = new Map<string, ComplianceDraft>();
  for (const entry of [...list(field(report, 'complianceIssues')), ...list(field(report, 'compliances'))]) {
    const row = asObject(entry);
    if (row === undefined) {
      warnings.tally('compliance entries that are not objects were ignored', preview(entry));
      continue;
    }
    const draft = readDraft(row, warnings);
    unique.set(JSON.stringify([draft.id, draft.vendorSeverity, draft.title, draft.cause, draft.type]), draft);
  }

  const ordered = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
  const byBase = groupBy(ordered, (draft) => escapeKeyPart(draft.id !== '' ? draft.id : (draft.title ?? '')));
  const records: ComplianceRecord[] = [];
  for (const [base, drafts] of byBase) {
    if (drafts.length === 1) {
      records.push({ key: base, ...(drafts[0] as ComplianceDraft) });
      continue;
    }
    for (const [withCause, sameCause] of groupBy(drafts, (d) => `${base}|${escapeKeyPart(d.cause ?? '')}`)) {
      sameCause.forEach((draft, index) => {
        records.push({ key: sameCause.length === 1 ? withCause : `${withCause}|${index + 1}`, ...draft });
      });
    }
  }
  return records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function readDraft(row: RawObject, warnings: Warnings): ComplianceDraft {
  const vendor = presentText(field(row, 'severity')) ?? '';
  const { severity, vendorSeverity, recognized } = normalizeSeverity(vendor);
  if (!recognized) warnings.tally('compliance issues with an unrecognized severity', vendor);
  const short = (value: string | null): string | null => {
    if (value === null) return null;
    const capped = capText(value, TEXT_MAX_CHARS);
    if (capped.truncated)
      warnings.tally(`compliance fields longer than ${TEXT_MAX_CHARS} characters were cut`);
    return capped.text;
  };
  return {
    id: short(presentText(field(row, 'id'))?.trim() ?? null) ?? '',
    severity,
    vendorSeverity: short(vendorSeverity) ?? '',
    title: short(presentText(field(row, 'title'))),
    cause: short(presentText(field(row, 'cause'))),
    type: short(presentText(field(row, 'type'))),
  };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

function escapeKeyPart(part: string): string {
  return part.replace(/[\\|]/g, '\\$&');
}
