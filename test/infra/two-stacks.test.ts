import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CfnResourceJson, synthesize } from './synth.js';

/** Properties that name a resource in the account and region (IAM inline policy names are per role). */
const NAME_PROPERTIES = [
  'TableName',
  'FunctionName',
  'LogGroupName',
  'AlarmName',
  'BucketName',
  'TopicName',
  'QueueName',
  'RoleName',
  'ManagedPolicyName',
  'AliasName',
] as const;
/** Types whose `Name` property is their physical name. */
const NAMED_BY_NAME = ['AWS::Scheduler::Schedule', 'AWS::Athena::WorkGroup', 'AWS::SecretsManager::Secret'];

/**
 * Every physical name a template fixes, as `<type> <name>`, Glue tables by database. A resource
 * without one gets a name generated from its stack, which two stacks never share.
 */
function physicalNames(resources: Record<string, CfnResourceJson>): string[] {
  const names: string[] = [];
  for (const resource of Object.values(resources)) {
    const properties = resource.Properties ?? {};
    const keys: string[] = [...NAME_PROPERTIES, ...(NAMED_BY_NAME.includes(resource.Type) ? ['Name'] : [])];
    for (const key of keys) {
      const value = properties[key];
      if (typeof value === 'string') names.push(`${resource.Type} ${value}`);
    }
    const database = properties.DatabaseInput as { Name?: string } | undefined;
    if (database?.Name) names.push(`${resource.Type} ${database.Name}`);
    const table = properties.TableInput as { Name?: string } | undefined;
    if (table?.Name) names.push(`${resource.Type} ${String(properties.DatabaseName)}.${table.Name}`);
  }
  return names;
}

/** The `-c key=value` pairs of the docs' throwaway dev stack command. */
function devStackContext(): Record<string, string> {
  const docs = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('A throwaway dev stack'));
  const command = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const context: Record<string, string> = {};
  for (const match of command.matchAll(/-c (\w+)=('[^']*'|\S+)/g)) {
    context[match[1] ?? ''] = (match[2] ?? '').replace(/^'|'$/g, '');
  }
  return context;
}

describe('two stacks in one account and region', () => {
  const consoles = [{ id: 'prod', url: 'https://console.corp.test' }];

  it('share no physical name when their prefixes differ, with every optional part on', () => {
    const common = {
      consoles,
      analytics: true,
      alarmEmail: 'secops@corp.test',
      tableEncryption: 'customer-managed',
    };
    const first = synthesize({ ...common, stackName: 'SyncA', tablePrefix: 'team-a' });
    const second = synthesize({ ...common, stackName: 'SyncB', tablePrefix: 'team-b' });
    const names = physicalNames(first.resources);
    // Tables, function, schedule, alarms, Glue database and tables, Athena workgroup.
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((name) => physicalNames(second.resources).includes(name))).toEqual([]);
    for (const name of names) expect(name).toMatch(/team[-_]a/);
  });

  it("are what the docs' dev example deploys beside the default stack: its own stack name and prefix", () => {
    const dev = devStackContext();
    expect(dev.stackName).toBeDefined();
    expect(dev.tablePrefix).toBeDefined();
    const production = synthesize({ consoles, analytics: true });
    const throwaway = synthesize({ ...dev, analytics: true });
    expect(throwaway.stack.stackName).not.toBe(production.stack.stackName);
    const shared = physicalNames(throwaway.resources).filter((name) =>
      physicalNames(production.resources).includes(name),
    );
    expect(shared).toEqual([]);
  });
});
