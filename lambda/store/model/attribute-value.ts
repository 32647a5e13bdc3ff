/**
 * The store's own marshalling between plain items and DynamoDB AttributeValue maps. The write path
 * sends low-level commands with maps built here (the document client's generic marshalling walked
 * every item a second time per request), and every number is checked on the way: a non-finite
 * number, or one DynamoDB cannot hold, never reaches DynamoDB (it is a typed error the write path
 * turns into a quarantine of that report).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SyncError } from '../../common/errors.js';

/** A marshalled item. */
export type AttributeMap = Record<string, AttributeValue>;

/** DynamoDB numbers: magnitude below 1e126 and at least 1e-130, 38 significant digits. */
const MAX_MAGNITUDE = 9.9e125;
const MIN_MAGNITUDE = 1e-130;

/**
 * True when DynamoDB stores `value` exactly as JavaScript reads it back: finite, within DynamoDB's
 * range, and (for integers) a safe integer.
 *
 * @example
 * isStorableNumber(7.5) // true
 * isStorableNumber(1e308) // false
 */
export function isStorableNumber(value: number): boolean {
  if (!Number.isFinite(value)) return false;
  if (Number.isInteger(value)) return Number.isSafeInteger(value);
  const magnitude = Math.abs(value);
  return magnitude < MAX_MAGNITUDE && magnitude >= MIN_MAGNITUDE;
}

function marshalValue(value: unknown, path: string): AttributeValue | undefined {
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!isStorableNumber(value)) {
        throw new SyncError(
          'store.unsafeNumber',
          `${path} is ${String(value)}: not a number DynamoDB stores exactly`,
          { attribute: path },
        );
      }
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    case 'undefined':
      return undefined;
    case 'object': {
      if (value === null) return { NULL: true };
      if (value instanceof Uint8Array) return { B: value };
      if (Array.isArray(value)) {
        const list: AttributeValue[] = [];
        for (let i = 0; i < value.length; i++) {
          list.push(marshalValue(value[i], `${path}[${i}]`) ?? { NULL: true });
        }
        return { L: list };
      }
      return { M: toAttributeMap(value, path) };
    }
    default:
      throw new SyncError(
        'store.invalidInput',
        `${path} has a type DynamoDB cannot store (${typeof value})`,
        {
          attribute: path,
        },
      );
  }
}

/**
 * A plain item as an AttributeValue map; `undefined` attributes are left out.
 *
 * @throws SyncError `store.unsafeNumber` naming the attribute, for a number DynamoDB cannot hold.
 * @example
 * toAttributeMap({ pk: 'a', n: 1, gone: undefined }) // { pk: { S: 'a' }, n: { N: '1' } }
 */
export function toAttributeMap(item: object, path = ''): AttributeMap {
  const map: AttributeMap = {};
  for (const name in item) {
    const marshalled = marshalValue((item as Record<string, unknown>)[name], path ? `${path}.${name}` : name);
    if (marshalled !== undefined) map[name] = marshalled;
  }
  return map;
}

function unmarshalValue(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.M !== undefined) return fromAttributeMap(value.M);
  if (value.L !== undefined) return value.L.map(unmarshalValue);
  if (value.B !== undefined) return value.B;
  if (value.SS !== undefined) return new Set(value.SS);
  if (value.NS !== undefined) return new Set(value.NS.map(Number));
  if (value.BS !== undefined) return new Set(value.BS);
  return undefined;
}

/**
 * An AttributeValue map as a plain object (numbers as JavaScript numbers): what the decoders of
 * the item model read.
 */
export function fromAttributeMap(map: AttributeMap): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const name in map) item[name] = unmarshalValue(map[name] as AttributeValue);
  return item;
}

/**
 * DynamoDB's size of a marshalled item in bytes (attribute names + values, numbers at their 21-byte
 * maximum), as it bills and limits items (400 KB).
 */
export function attributeMapSize(map: AttributeMap): number {
  let size = 0;
  for (const name in map)
    size += Buffer.byteLength(name, 'utf8') + attributeValueSize(map[name] as AttributeValue);
  return size;
}

function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, 'utf8');
  if (value.N !== undefined) return 21;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + attributeValueSize(v), 0);
  if (value.M !== undefined) return 3 + attributeMapSize(value.M);
  if (value.SS !== undefined) return value.SS.reduce((sum, v) => sum + Buffer.byteLength(v, 'utf8'), 0);
  if (value.NS !== undefined) return 21 * value.NS.length;
  if (value.BS !== undefined) return value.BS.reduce((sum, v) => sum + v.byteLength, 0);
  return 0;
}
