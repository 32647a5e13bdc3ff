/**
 * Turns the trimmed official OpenAPI 3 document (shared/reference) into a JSON Schema ajv can
 * validate raw reports with. Three rewrites, each because real consoles do it:
 *
 * - `#/components/schemas/X` refs become `#/definitions/X`;
 * - Prisma's generator writes enums as a nested array (`enum: [["a", "b"]]`): flattened;
 * - every array and object may be `null` (the console is written in Go: nil slices, maps and
 *   pointers serialize as null, e.g. `vulnerabilities: null` on a clean image) — the document
 *   has no `nullable` at all;
 * - `vulnerability.RiskFactors` declares string values, but every real report carries `{}`
 *   values (`"Has fix": {}`, see the DataDog and XSOAR fixtures): values may be strings or objects.
 *
 * Additional properties stay allowed (the document does not forbid them; consoles add fields).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Copies of shared/reference (see its NOTICE), so the test runs from the repository alone. */
export const REFERENCE_DIR = fileURLToPath(new URL('./reference/', import.meta.url));

function rewrite(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace('#/components/schemas/', '#/definitions/');
    } else if (key === 'enum' && Array.isArray(value) && value.length === 1 && Array.isArray(value[0])) {
      out.enum = value[0];
    } else if (key === 'description') {
      // Descriptions are prose; some are refs to markdown files. Irrelevant to validation.
    } else {
      out[key] = rewrite(value);
    }
  }
  if (out.type === 'array' || out.type === 'object') out.type = [out.type, 'null'];
  // A $ref'd array or object property may also be null: wrap the ref.
  if (typeof out.$ref === 'string' && Object.keys(out).length === 1) {
    return { anyOf: [{ $ref: out.$ref }, { type: 'null' }] };
  }
  if (out.enum !== undefined && Array.isArray(out.enum)) out.enum = [...out.enum];
  return out;
}

/** A validator for one schema of the reference document, e.g. `shared.ImageScanResult`. */
export function referenceValidator(file: string, schemaName: string): ValidateFunction {
  const document = JSON.parse(readFileSync(`${REFERENCE_DIR}${file}`, 'utf8')) as {
    components: { schemas: { [key: string]: Json } };
  };
  const definitions = rewrite(document.components.schemas) as { [key: string]: Json };
  definitions['vulnerability.RiskFactors'] = {
    type: ['object', 'null'],
    additionalProperties: { anyOf: [{ type: 'string' }, { type: 'object' }] },
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('float', { type: 'number', validate: () => true });
  return ajv.compile({ definitions, $ref: `#/definitions/${schemaName}` });
}
