// The GitHub deploy role trusts the OIDC subject that deploy.yml's deploy job really presents.
// GitHub puts the environment in the subject when a job runs in one
// (repo:OWNER/REPO:environment:NAME) and the branch only when it does not
// (repo:OWNER/REPO:ref:refs/heads/BRANCH); a role that trusts the wrong form is denied
// AssumeRoleWithWebIdentity on the first deploy. Both are derived here from deploy.yml itself.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parse } from 'yaml';
import { TrainyardStack } from '../lib/trainyard-stack.ts';

interface Job {
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  steps?: { uses?: string }[];
}
interface Workflow {
  on: { push?: { branches?: string[] } };
  jobs: Record<string, Job>;
}

const workflow = parse(readFileSync(join(import.meta.dirname, '../../.github/workflows/deploy.yml'), 'utf8')) as Workflow;
const cdkContext = (JSON.parse(readFileSync(join(import.meta.dirname, '../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** The `sub` claim GitHub issues to a job, from the job's definition. */
function subjectOf(repository: string, job: Job, branch: string): string {
  const environment = typeof job.environment === 'string' ? job.environment : job.environment?.name;
  return environment ? `repo:${repository}:environment:${environment}` : `repo:${repository}:ref:refs/heads/${branch}`;
}

it("trusts the subject of deploy.yml's job that assumes the role, and nothing broader", () => {
  const assuming = Object.entries(workflow.jobs).filter(([, job]) => (job.steps ?? []).some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')));
  assert.ok(assuming.length > 0, 'a job assumes the deploy role');
  const branches = workflow.on.push?.branches ?? [];
  assert.deepEqual(branches, ['main']);
  const repository = 'acme/trainyard';
  const subjects = new Set(assuming.map(([, job]) => subjectOf(repository, job, branches[0])));
  assert.equal(subjects.size, 1, `every assuming job presents the same subject: ${[...subjects].join(', ')}`);
  const [expected] = subjects;
  // With cdk.json's githubEnvironment, as deployed.
  const app = new App({ context: cdkContext });
  const stack = new TrainyardStack(app, 'Trainyard', {
    settings: { imageTag: 'abc123', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc', githubRepository: repository, githubEnvironment: String(cdkContext['trainyard:githubEnvironment']) },
  });
  const roles = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Role')).filter((r) =>
    JSON.stringify(r).includes('sts:AssumeRoleWithWebIdentity'),
  ) as { Properties: { AssumeRolePolicyDocument: { Statement: { Condition: Record<string, Record<string, unknown>> }[] } } }[];
  assert.equal(roles.length, 1);
  const [statement] = roles[0].Properties.AssumeRolePolicyDocument.Statement;
  assert.deepEqual(statement.Condition, {
    StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com', 'token.actions.githubusercontent.com:sub': expected },
  });
  assert.match(expected, /:environment:production$/);
});

it('the job that assumes the role may request an OIDC token, and only it', () => {
  for (const [name, job] of Object.entries(workflow.jobs)) {
    const assumes = (job.steps ?? []).some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    assert.equal(job.permissions?.['id-token'] === 'write', assumes, name);
  }
});
