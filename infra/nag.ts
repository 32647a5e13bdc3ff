/** cdk-nag acknowledgements shared by the stack's constructs, each with the reason it is acceptable. */
import { type Stack, Validations } from 'aws-cdk-lib';

/** CDK's X-Ray grant for active tracing: the X-Ray write actions support no resource-level scoping. */
export const XRAY_ACKNOWLEDGEMENT = {
  id: 'AwsSolutions-IAM5[Resource::*]',
  reason:
    'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (Resource must be *). Turn tracing off with -c tracing=false.',
} as const;

/**
 * The singleton function CDK adds to empty the buckets under `removalPolicy=destroy` (one per stack,
 * outside this construct). Its findings are CDK's own code and a throwaway-stack feature.
 */
export function acknowledgeAutoDeleteProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild('Custom::S3AutoDeleteObjectsCustomResourceProvider');
  if (!provider) return;
  Validations.of(provider).acknowledge(
    {
      id: 'AwsSolutions-IAM4',
      reason:
        "CDK's auto-delete provider for removalPolicy=destroy logs through AWSLambdaBasicExecutionRole; its bucket rights come from each bucket's policy, scoped to that bucket.",
    },
    {
      id: 'AwsSolutions-L1',
      reason: "CDK's auto-delete provider: CDK picks and updates its runtime.",
    },
  );
}
