import { describe, expect, it } from 'vitest';
import { parseStackConfig } from '../../infra/config.js';
import { resourcesOfType, synthesize } from './synth.js';

const consoles = [{ id: 'prod', url: 'https://console.prod.internal' }];

describe('the stack with its analytics path', () => {
  const synthesized = synthesize({ consoles, analytics: true });

  it('is on by default', () => {
    expect(parseStackConfig({ consoles }).analytics).toBe(true);
  });

  it('adds the export bucket, the Glue catalog and the Athena workgroup', () => {
    const { resources } = synthesized;
    expect(resourcesOfType(resources, 'AWS::Glue::Database')).toHaveLength(1);
    expect(resourcesOfType(resources, 'AWS::Athena::WorkGroup')).toHaveLength(1);
    expect(resourcesOfType(resources, 'AWS::S3::Bucket').length).toBeGreaterThanOrEqual(1);
    const outputs = synthesized.template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['AnalyticsBucketName', 'AnalyticsDatabaseName', 'AnalyticsWorkGroup']),
    );
  });

  it('stays clean under cdk-nag with analytics on', () => {
    expect(synthesized.nagViolations).toEqual([]);
  });

  it('leaves analytics out when the context says analytics=false', () => {
    const { resources } = synthesize({ consoles, analytics: 'false' });
    expect(resourcesOfType(resources, 'AWS::Glue::Database')).toHaveLength(0);
    expect(resourcesOfType(resources, 'AWS::Athena::WorkGroup')).toHaveLength(0);
  });
});
