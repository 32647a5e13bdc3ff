import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { IndexDefinition, KeyAttribute, TableDefinition } from '../lambda/store/table-definition.js';
import { physicalTableName } from '../lambda/store/table-definition.js';

export interface SyncTablesProps {
  /** The store's single table definition list (`TABLE_DEFINITIONS`). */
  definitions: readonly TableDefinition[];
  /** `SYNC_TABLE_PREFIX`: every physical table name is `${prefix}-${name}`. */
  prefix: string;
  /**
   * `retain` keeps tables and the customer-managed key (and turns on deletion protection); `destroy`
   * deletes them, for throwaway dev stacks.
   */
  removalPolicy: 'retain' | 'destroy';
  /**
   * `aws-managed` (default) encrypts with the `aws/dynamodb` KMS key: every use is in CloudTrail, no key
   * policy to maintain and no per-key cost. `customer-managed` creates one rotating KMS key for all
   * tables, for accounts whose policy demands key control (revocation, cross-account grants); stream
   * consumers then also need `kms:Decrypt` on it.
   */
  encryption: 'aws-managed' | 'customer-managed';
}

const ATTRIBUTE_TYPES: Record<KeyAttribute['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

const STREAM_VIEWS: Record<NonNullable<TableDefinition['stream']>, dynamodb.StreamViewType> = {
  NEW_AND_OLD_IMAGES: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
  NEW_IMAGE: dynamodb.StreamViewType.NEW_IMAGE,
  OLD_IMAGE: dynamodb.StreamViewType.OLD_IMAGE,
  KEYS_ONLY: dynamodb.StreamViewType.KEYS_ONLY,
};

function attribute(key: KeyAttribute): dynamodb.Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] };
}

function indexProps(index: IndexDefinition): dynamodb.GlobalSecondaryIndexProps {
  const keys = {
    indexName: index.indexName,
    partitionKey: attribute(index.partitionKey),
    ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
  };
  if (index.projection === 'ALL') return { ...keys, projectionType: dynamodb.ProjectionType.ALL };
  if (index.projection === 'KEYS_ONLY') return { ...keys, projectionType: dynamodb.ProjectionType.KEYS_ONLY };
  return {
    ...keys,
    projectionType: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: index.projection.include,
  };
}

/** `images` → `Images`, `raw-reports` → `RawReports`: construct ids and output names. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * Every table of the store, built from the store's definition list so the stack and `tables create`
 * can never drift apart: keys, GSIs with their projections, TTL and stream come from the definition;
 * on-demand billing, point-in-time recovery, encryption and retention are set here for all of them.
 *
 * @example
 * const tables = new SyncTables(stack, 'Tables', {
 *   definitions: TABLE_DEFINITIONS, prefix: 'prisma-registry', removalPolicy: 'retain', encryption: 'aws-managed',
 * });
 * tables.byName.get('images')?.tableName; // 'prisma-registry-images'
 */
export class SyncTables extends Construct {
  /** Tables by logical name (the definition's `name`), in definition order. */
  readonly byName: ReadonlyMap<string, dynamodb.Table>;
  /** The customer-managed key, when `encryption` is `customer-managed`. */
  readonly key: kms.Key | undefined;
  /** Tables that have global secondary indexes (their `/index/*` ARNs need permissions too). */
  readonly indexed: readonly dynamodb.Table[];

  constructor(scope: Construct, id: string, props: SyncTablesProps) {
    super(scope, id);
    const retain = props.removalPolicy === 'retain';
    this.key =
      props.encryption === 'customer-managed'
        ? new kms.Key(this, 'Key', {
            description: `Encrypts the ${props.prefix}-* sync tables`,
            enableKeyRotation: true,
            // Retained with retained tables: a deleted key would make them and their backups unreadable.
            // Under `destroy` the tables go, and the key is scheduled for deletion after 7 days (the
            // shortest window KMS allows; `aws kms cancel-key-deletion` undoes it meanwhile).
            removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
            ...(retain ? {} : { pendingWindow: Duration.days(7) }),
          })
        : undefined;

    const tables = new Map<string, dynamodb.Table>();
    const indexed: dynamodb.Table[] = [];
    for (const definition of props.definitions) {
      const table = new dynamodb.Table(this, pascalCase(definition.name), {
        tableName: physicalTableName(props.prefix, definition),
        partitionKey: attribute(definition.partitionKey),
        ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        ...(this.key
          ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: this.key }
          : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
        ...(definition.timeToLiveAttribute ? { timeToLiveAttribute: definition.timeToLiveAttribute } : {}),
        ...(definition.stream ? { stream: STREAM_VIEWS[definition.stream] } : {}),
        deletionProtection: retain,
        removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
      for (const index of definition.globalSecondaryIndexes) table.addGlobalSecondaryIndex(indexProps(index));
      if (definition.globalSecondaryIndexes.length > 0) indexed.push(table);
      tables.set(definition.name, table);
    }
    this.byName = tables;
    this.indexed = indexed;
  }

  /** The ARNs item-level permissions need: every table, and the indexes of tables that have any. */
  get itemArns(): string[] {
    return [
      ...this.all.map((table) => table.tableArn),
      ...this.indexed.map((table) => `${table.tableArn}/index/*`),
    ];
  }

  /** All tables, in definition order. */
  get all(): dynamodb.Table[] {
    return [...this.byName.values()];
  }
}
