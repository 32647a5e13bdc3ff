import { SyncError } from '../common/errors.js';
import { asObject, field, list, type RawObject } from './read.js';

/** The document shapes scan reports arrive in. */
export type ReportDialect =
  /** `/api/v1/registry` (and `/images`): a JSON array of reports. */
  | 'registry'
  /** `/api/v1/scans` (CI scans): an array of `{ _id, entityInfo: <report>, pass, time }`. */
  | 'ciScans'
  /** An XSOAR context: `{ "PrismaCloudCompute": { "ReportsImagesScan": [<report>…] } }`. */
  | 'xsoarContext'
  /** `twistcli images scan --output-file`: `{ "results": [<report>…] }`. */
  | 'twistcli'
  /** A single report object. */
  | 'report';

/** The reports found in a document, and which shape it had. */
export interface ExtractedReports {
  dialect: ReportDialect;
  reports: unknown[];
}

/**
 * Finds the image scan reports inside a parsed document of any known shape (see
 * {@link ReportDialect}), so an importer can take a saved API response, a CI-scan listing,
 * an XSOAR context or a twistcli output file. The reports are returned as they are: feed each
 * to `normalizeReport` (twistcli reports need `context.imageName`, they name no image).
 *
 * @throws SyncError `normalize.invalid` when the document has none of these shapes.
 *
 * @example
 * extractReports(JSON.parse('{"results":[{"id":"sha256:f4c0"}]}'));
 * // { dialect: 'twistcli', reports: [{ id: 'sha256:f4c0' }] }
 */
export function extractReports(document: unknown): ExtractedReports {
  if (Array.isArray(document)) {
    const objects = document.filter((item) => asObject(item) !== undefined) as RawObject[];
    const isCiScans =
      objects.length > 0 && objects.every((item) => asObject(field(item, 'entityInfo')) !== undefined);
    if (isCiScans) return { dialect: 'ciScans', reports: objects.map((item) => field(item, 'entityInfo')) };
    return { dialect: 'registry', reports: [...document] };
  }
  const object = asObject(document);
  if (object !== undefined) {
    const results = field(object, 'results');
    if (Array.isArray(results)) return { dialect: 'twistcli', reports: [...results] };
    const xsoar =
      field(asObject(field(object, 'PrismaCloudCompute')), 'ReportsImagesScan') ??
      field(object, 'PrismaCloudCompute.ReportsImagesScan');
    if (xsoar !== undefined) return { dialect: 'xsoarContext', reports: [...list(xsoar)] };
    const entityInfo = asObject(field(object, 'entityInfo'));
    if (entityInfo !== undefined) return { dialect: 'ciScans', reports: [entityInfo] };
    if (['_id', 'repoTag', 'id', 'vulnerabilities'].some((name) => Object.hasOwn(object, name))) {
      return { dialect: 'report', reports: [object] };
    }
  }
  throw new SyncError(
    'normalize.invalid',
    'document holds no scan reports: expected an array of reports, {results:[…]}, {entityInfo:…} or an XSOAR context',
    { field: '(document)' },
  );
}
