import { readFileSync } from 'node:fs';
import type { PolicyViolation } from 'aws-cdk-lib';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildSyncApp, type PrismaRegistrySyncStack } from '../../infra/stack.js';

export interface Synthesized {
  app: App;
  stack: PrismaRegistrySyncStack;
  template: Template;
  /** Resources of the template by logical id. */
  resources: Record<string, CfnResourceJson>;
  /** cdk-nag AwsSolutions violations that no acknowledgement covers. */
  nagViolations: PolicyViolation[];
}

export interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

/** The CDK feature flags pinned in cdk.json: tests synthesize with the flags a deploy uses. */
export const FEATURE_FLAGS: Record<string, unknown> = Object.fromEntries(
  Object.entries(
    (
      JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
        context: Record<string, unknown>;
      }
    ).context,
  ).filter(([key]) => key.startsWith('@aws-cdk')),
);

/**
 * Synthesizes the app the way `infra/app.ts` does (context → config → stack, cdk-nag registered) once.
 * Without `bundle`, asset bundling is skipped (CDK's `aws:cdk:bundling-stacks` = []), which keeps
 * template-only tests fast; the bundle itself is tested once.
 */
export function synthesize(
  context: Record<string, unknown>,
  options: { bundle?: boolean; handlerEntry?: string } = {},
): Synthesized {
  const app = new App({
    // The analytics path has its own tests (analytics.test.ts, stack-analytics.test.ts); off here unless asked.
    context: {
      ...FEATURE_FLAGS,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      analytics: false,
      ...context,
    },
  });
  const stack = buildSyncApp(app, options.handlerEntry ? { handlerEntry: options.handlerEntry } : {});
  // Synthesis runs the registered cdk-nag plugin: an unacknowledged finding fails right here.
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, CfnResourceJson>;
  const nagViolations = new AwsSolutionsChecks(app).validateScope(app).violations;
  return { app, stack, template, resources, nagViolations };
}

/** Resources of one CloudFormation type. */
export function resourcesOfType(
  resources: Record<string, CfnResourceJson>,
  type: string,
): [string, CfnResourceJson][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
  Sid?: string;
}

/** Every Allow statement of every IAM policy in the template, with the policy's logical id. */
export function allowStatements(resources: Record<string, CfnResourceJson>): [string, PolicyStatementJson][] {
  return resourcesOfType(resources, 'AWS::IAM::Policy').flatMap(([id, policy]) => {
    const document = policy.Properties?.PolicyDocument as { Statement: PolicyStatementJson[] };
    return document.Statement.filter((statement) => statement.Effect === 'Allow').map(
      (statement): [string, PolicyStatementJson] => [id, statement],
    );
  });
}

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The environment variables of a function resource. */
export function environmentOf(fn: CfnResourceJson | undefined): Record<string, unknown> {
  const environment = fn?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
  return environment?.Variables ?? {};
}
