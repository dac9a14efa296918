import { Construct } from 'constructs';

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
