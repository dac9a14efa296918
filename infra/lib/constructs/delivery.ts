// How a release reaches the stack: the CodeDeploy application and deployment group that roll the
// API onto the Auto Scaling group, and the role GitHub Actions assumes through OIDC to push images,
// run `cdk deploy` and start deployments.
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import type { Api } from './api.ts';
import type { Data } from './data.ts';
import { StackPart } from './group.ts';

export class Delivery extends StackPart {
  readonly application: codedeploy.ServerApplication;
  readonly deploymentGroup: codedeploy.ServerDeploymentGroup;
  /** Only when `githubRepository` is set. */
  readonly deployRole: iam.Role | undefined;

  constructor(scope: Construct, id: string, s: TrainyardSettings, data: Data, api: Api) {
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
      autoRollback: { failedDeployment: true, stoppedDeployment: true },
    });
    this.deploymentGroup = deploymentGroup;

    this.deployRole = undefined;
    if (!s.githubRepository) return;
    const providerArn = s.createGithubOidcProvider
      ? new iam.OpenIdConnectProvider(this.home, 'GithubOidc', { url: 'https://token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'] }).openIdConnectProviderArn
      : stack.formatArn({ service: 'iam', region: '', resource: 'oidc-provider', resourceName: 'token.actions.githubusercontent.com' });
    const deployRole = new iam.Role(this.home, 'GithubDeployRole', {
      description: `GitHub Actions (${s.githubRepository}, main branch): push images, cdk deploy, start CodeDeploy deployments`,
      maxSessionDuration: Duration.hours(1),
      assumedBy: new iam.WebIdentityPrincipal(providerArn, {
        StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
        StringLike: { 'token.actions.githubusercontent.com:sub': `repo:${s.githubRepository}:ref:refs/heads/main` },
      }),
    });
    this.deployRole = deployRole;
    // `cdk deploy` works through the roles `cdk bootstrap` created.
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'UseCdkBootstrapRoles', actions: ['sts:AssumeRole'], resources: [stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: 'cdk-*' })] }));
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadStackOutputs', actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));
    // GetAuthorizationToken supports no resource-level permissions.
    deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    data.apiRepository.grantPullPush(deployRole);
    data.trainerRepository.grantPullPush(deployRole);
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
    deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDeploymentConfig',
        actions: ['codedeploy:GetDeploymentConfig'],
        resources: [stack.formatArn({ service: 'codedeploy', resource: 'deploymentconfig', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
  }
}
