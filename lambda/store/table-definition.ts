/**
 * The shape of one table as the store defines it. `lambda/store/tables.ts` exports the list
 * (`TABLE_DEFINITIONS`); both `tables create` and the CDK stack build tables from it, so the
 * two can never drift apart.
 */
export type KeyType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  name: string;
  type: KeyType;
}

export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** `ALL`, `KEYS_ONLY`, or the non-key attributes to project. */
  projection: 'ALL' | 'KEYS_ONLY' | { include: string[] };
}

export interface TableDefinition {
  /** Logical name; the physical name is `${prefix}-${name}` (see `physicalTableName`). */
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalSecondaryIndexes: IndexDefinition[];
  /** Epoch-seconds attribute DynamoDB expires items by, where the model uses one. */
  timeToLiveAttribute?: string;
  /** Downstream consumers (analytics) read changes from the stream. */
  stream?: 'NEW_AND_OLD_IMAGES' | 'NEW_IMAGE' | 'KEYS_ONLY' | 'OLD_IMAGE';
}

/** The physical table name for a prefix (`SYNC_TABLE_PREFIX`) and a definition. */
export function physicalTableName(prefix: string, definition: Pick<TableDefinition, 'name'>): string {
  return `${prefix}-${definition.name}`;
}
