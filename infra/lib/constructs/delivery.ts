// How a release reaches the stack: the CodeDeploy application and deployment group that roll the
// API onto the Auto Scaling group (stopping and rolling back when a load balancer alarm fires),
// and the role GitHub Actions assumes through OIDC to push images, run `cdk deploy`, run the
// migrate job and start deployments.
//
// The role trusts exactly the OIDC subject deploy.yml presents: its deploy job runs in a GitHub
// environment, so the subject is repo:OWNER/REPO:environment:NAME (not …:ref:refs/heads/main);
// the environment's deployment branch rule is what limits it to main (docs/deploy.md step 5).
// infra/test/oidc.test.ts derives the subject from deploy.yml and checks it against this role.
import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Api } from './api.ts';
import type { Batch } from './batch.ts';
import type { Data } from './data.ts';
import { acknowledge, acknowledgeWildcards, nagArn, nagRef, StackPart } from './group.ts';

export class Delivery extends StackPart {
  readonly application: codedeploy.ServerApplication;
  readonly deploymentGroup: codedeploy.ServerDeploymentGroup;
  /** Only when `githubRepository` is set. */
  readonly deployRole: iam.Role | undefined;

  constructor(scope: Construct, id: string, s: TrainyardSettings, data: Data, api: Api, jobs: Batch, alarms: cloudwatch.IAlarm[]) {
    super(scope, id);
    const stack = Stack.of(this);
    const application = new codedeploy.ServerApplication(this.home, 'CodeDeployApplication', { applicationName: s.stackName });
    this.application = application;
    const deploymentGroup = new codedeploy.ServerDeploymentGroup(this.home, 'ApiDeploymentGroup', {
      application,
      deploymentGroupName: `${s.stackName}-api`,
      autoScalingGroups: [api.group],
      installAgent: false, // the launch template's user data installs it
      loadBalancers: [codedeploy.LoadBalancer.application(api.targets)],
      deploymentConfig: codedeploy.ServerDeploymentConfig.ONE_AT_A_TIME,
      alarms,
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    this.deploymentGroup = deploymentGroup;
    acknowledge(deploymentGroup.role!, [
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole]', reason: 'The service role policy CodeDeploy documents for EC2/Auto Scaling deployments.' },
    ]);

    this.deployRole = undefined;
    if (!s.githubRepository) return;
    const providerArn = s.createGithubOidcProvider
      ? new iam.OpenIdConnectProvider(this.home, 'GithubOidc', { url: 'https://token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'] }).openIdConnectProviderArn
      : stack.formatArn({ service: 'iam', region: '', resource: 'oidc-provider', resourceName: 'token.actions.githubusercontent.com' });
    const deployRole = new iam.Role(this.home, 'GithubDeployRole', {
      description: `GitHub Actions (${s.githubRepository}, environment ${s.githubEnvironment}): push images, cdk deploy, migrate, start CodeDeploy deployments`,
      maxSessionDuration: Duration.hours(2),
      assumedBy: new iam.WebIdentityPrincipal(providerArn, {
        StringEquals: {
          'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
          'token.actions.githubusercontent.com:sub': githubOidcSubject(s.githubRepository, s.githubEnvironment),
        },
      }),
    });
    this.deployRole = deployRole;
    // `cdk deploy` works through the roles `cdk bootstrap` created in this account and region, and no others.
    const bootstrapRoles = ['deploy', 'file-publishing', 'image-publishing', 'lookup'].map((kind) =>
      stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `cdk-${s.cdkQualifier}-${kind}-role-${Aws.ACCOUNT_ID}-${Aws.REGION}` }),
    );
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'UseCdkBootstrapRoles', actions: ['sts:AssumeRole'], resources: bootstrapRoles }));
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadStackOutputs', actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));
    // GetAuthorizationToken supports no resource-level permissions.
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    data.apiRepository.grantPullPush(deployRole);
    data.trainerRepository.grantPullPush(deployRole);
    // deploy.yml pushes a tag only when it is not there yet (tags are immutable: a re-run would fail).
    data.apiRepository.grant(deployRole, 'ecr:DescribeImages');
    data.trainerRepository.grant(deployRole, 'ecr:DescribeImages');
    deployRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'UploadReleases', actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], resources: [data.bucket.arnForObjects(`${RELEASES_PREFIX}/*`)] }),
    );
    deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'StartDeployments',
        actions: ['codedeploy:CreateDeployment', 'codedeploy:GetDeployment', 'codedeploy:RegisterApplicationRevision', 'codedeploy:GetApplicationRevision'],
        resources: [deploymentGroup.deploymentGroupArn, application.applicationArn],
      }),
    );
    // The migrate job, before anything switches to the new release.
    const migrateDefinition = stack.formatArn({ service: 'batch', resource: 'job-definition', resourceName: jobs.migrateDefinitionName });
    deployRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'RunMigrations', actions: ['batch:SubmitJob'], resources: [jobs.migrateQueue.jobQueueArn, migrateDefinition, `${migrateDefinition}:*`] }),
    );
    // DescribeJobs has no resource-level permissions.
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'WatchMigrations', actions: ['batch:DescribeJobs'], resources: ['*'] }));
    deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDeploymentConfig',
        actions: ['codedeploy:GetDeploymentConfig'],
        resources: [stack.formatArn({ service: 'codedeploy', resource: 'deploymentconfig', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
    acknowledgeWildcards(deployRole, [`${nagRef(data.bucket, 'Arn')}/${RELEASES_PREFIX}/*`], 'Uploads revisions under releases/ (named by commit SHA).');
    acknowledgeWildcards(deployRole, [nagArn('batch', `job-definition/${jobs.migrateDefinitionName}:*`)], 'Any revision of the migrate job definition (cdk deploy registers a new one per release).');
    acknowledgeWildcards(deployRole, [`${nagArn('codedeploy', 'deploymentconfig')}:*`], 'Reading deployment configurations (built-in ones included) grants nothing else.');
    acknowledgeWildcards(deployRole, ['*'], 'ecr:GetAuthorizationToken and batch:DescribeJobs have no resource-level permissions.');
  }
}

/** The `sub` claim of GitHub's OIDC token for a job that runs in a deployment environment. */
export function githubOidcSubject(repository: string, environment: string): string {
  return `repo:${repository}:environment:${environment}`;
}
