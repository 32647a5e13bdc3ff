/** The console registry item (`CONSOLES` / `<console>` in the runs table). */
import { CONSOLES_PK } from '../keys.js';
import { type RawItem, str, strOrUndefined } from './common.js';

export interface ConsoleItem {
  consoleId: string;
  registeredAt?: string;
  lastActiveAt?: string;
  /** Earliest change-feed time of the console: where "changes since T" starts its month buckets. */
  firstChangeAt?: string;
}

/** The one decoder of a console registry item. */
export function decodeConsole(item: RawItem): ConsoleItem {
  const decoded: ConsoleItem = { consoleId: str(item.consoleId) };
  const registeredAt = strOrUndefined(item.registeredAt);
  const lastActiveAt = strOrUndefined(item.lastActiveAt);
  const firstChangeAt = strOrUndefined(item.firstChangeAt);
  if (registeredAt !== undefined) decoded.registeredAt = registeredAt;
  if (lastActiveAt !== undefined) decoded.lastActiveAt = lastActiveAt;
  if (firstChangeAt !== undefined) decoded.firstChangeAt = firstChangeAt;
  return decoded;
}

/**
 * UpdateItem parameters registering a console in the console registry (`query --console` lists
 * consoles without a Scan): the first registration time is kept.
 */
export function consoleRegistration(consoleId: string, at: string) {
  return {
    Key: { pk: CONSOLES_PK, sk: consoleId },
    UpdateExpression:
      'SET consoleId = :console, lastActiveAt = :at, registeredAt = if_not_exists(registeredAt, :at)',
    ExpressionAttributeValues: { ':console': consoleId, ':at': at },
  };
}

/**
 * UpdateItem parameters lowering the console's `firstChangeAt` marker to `at` (never raising it): the
 * change-feed query starts its month buckets there instead of at whatever `--since` says.
 */
export function firstChangeMarker(consoleId: string, at: string) {
  return {
    Key: { pk: CONSOLES_PK, sk: consoleId },
    UpdateExpression:
      'SET consoleId = :console, firstChangeAt = :at, lastActiveAt = :at, registeredAt = if_not_exists(registeredAt, :at)',
    ConditionExpression: 'attribute_not_exists(firstChangeAt) OR firstChangeAt > :at',
    ExpressionAttributeValues: { ':console': consoleId, ':at': at },
  };
}
