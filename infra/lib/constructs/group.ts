import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/**
 * A part of the stack (network, data, batch, api, delivery, alarms). Each part is a construct in
 * the tree, but it creates its resources in the scope it was given (the stack), not under itself:
 * a resource's construct path decides its logical ID and the names derived from it (security
 * group rule IDs, the database secret's name), so nesting them would rename nearly every resource
 * and CloudFormation would replace the database, the bucket and the secret.
 * test/template-snapshot.test.ts holds the template to that.
 */
export abstract class StackPart extends Construct {
  /** Where the part's resources live: the scope it was created in. */
  protected readonly home: Construct;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.home = scope;
  }
}

/**
 * Acknowledges cdk-nag findings (AwsSolutions pack) on constructs, each with the reason it does
 * not apply. infra/test/nag.test.ts fails on any finding that is not acknowledged.
 */
export function acknowledge(constructs: IConstruct | IConstruct[], findings: { id: string; reason: string }[]): void {
  for (const construct of Array.isArray(constructs) ? constructs : [constructs]) {
    for (const finding of findings) Validations.of(construct).acknowledge(finding);
  }
}

/** How cdk-nag names a resource in an IAM5 finding: `<LogicalId.Attribute>` for a resource attribute. */
export function nagRef(construct: IConstruct, attribute: string): string {
  const resource = construct.node.defaultChild as CfnElement;
  return `<${Stack.of(construct).getLogicalId(resource)}.${attribute}>`;
}

/** How cdk-nag names an ARN built with Stack.formatArn in an IAM5 finding. */
export function nagArn(service: string, resource: string): string {
  return `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:${resource}`;
}

/** Acknowledges cdk-nag's IAM5 (wildcard) finding for each resource, with one reason. */
export function acknowledgeWildcards(construct: IConstruct, resources: string[], reason: string): void {
  acknowledge(
    construct,
    resources.map((resource) => ({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason })),
  );
}
