// Trainyard on AWS, as one CloudFormation stack:
//
//   internet ─▶ ALB (:80, or :443 with a certificate) ─▶ Auto Scaling group of API instances
//                                                        (Amazon Linux 2023, systemd, CodeDeploy agent)
//   API ─▶ RDS MySQL 8.4 (credentials generated into Secrets Manager, read at process start)
//       ─▶ S3 bucket (data/ for blobs, releases/ for CodeDeploy revisions)
//       ─▶ AWS Batch job queue (Fargate Spot; optional GPU EC2) running `trainyard run-job <id>`
//   ECR repositories for the api and trainer images; CloudWatch log groups; a GitHub OIDC deploy
//   role when `trainyard:githubRepository` is set.
//
// The parts live in lib/constructs/: network (VPC, security groups), data (bucket, database,
// repositories, log groups, access logs), batch (queues, job definitions, retries), api
// (instances, settings, load balancer), alarms (SNS topic, CloudWatch alarms, failed jobs) and
// delivery (CodeDeploy, the GitHub deploy role). This file checks the settings, wires the parts
// together and declares the outputs.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { Alarms } from './constructs/alarms.ts';
import { Api } from './constructs/api.ts';
import { Batch } from './constructs/batch.ts';
import { Data } from './constructs/data.ts';
import { Delivery } from './constructs/delivery.ts';
import { Network } from './constructs/network.ts';
import { DATA_PREFIX, DEFAULT_SETTINGS, RELEASES_PREFIX, validateSettings, type TrainyardSettings } from './settings.ts';

export { DATA_PREFIX, DEFAULT_SETTINGS, RELEASES_PREFIX, settingsFromContext, validateSettings, type TrainyardSettings } from './settings.ts';

export interface TrainyardStackProps extends StackProps {
  settings?: Partial<TrainyardSettings>;
}

export class TrainyardStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly database: rds.DatabaseInstance;
  /** The queue and job definition training goes to. */
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly apiRole: iam.Role;

  constructor(scope: Construct, id: string, props: TrainyardStackProps = {}) {
    super(scope, id, props);
    const s: TrainyardSettings = { ...DEFAULT_SETTINGS, ...props.settings };
    validateSettings(s);

    const network = new Network(this, 'Network', s);
    const data = new Data(this, 'Data', s, network);
    const jobs = new Batch(this, 'Batch', s, network, data);
    const api = new Api(this, 'Api', s, network, data, jobs);
    const alarms = new Alarms(this, 'Alarms', s, data, api, jobs);
    const delivery = new Delivery(this, 'Delivery', s, data, api, jobs, alarms.deploymentAlarms);

    this.bucket = data.bucket;
    this.database = data.database;
    this.jobQueue = jobs.trainingQueue;
    this.jobDefinition = jobs.trainingDefinition;
    this.apiRole = api.role;

    const scheme = s.certificateArn ? 'https' : 'http';
    new CfnOutput(this, 'Url', { value: `${scheme}://${api.loadBalancer.loadBalancerDnsName}`, description: 'Trainyard API (TRAINYARD_URL for the CLI)' });
    new CfnOutput(this, 'BucketName', { value: data.bucket.bucketName, description: `Blobs under s3://<bucket>/${DATA_PREFIX}, CodeDeploy revisions under ${RELEASES_PREFIX}/` });
    new CfnOutput(this, 'JobQueueArn', { value: jobs.fargateQueue.jobQueueArn, description: 'AWS Batch job queue (Fargate Spot, then on-demand): inference, and training without gpu' });
    if (s.gpu) new CfnOutput(this, 'GpuJobQueueArn', { value: jobs.trainingQueue.jobQueueArn, description: 'AWS Batch GPU job queue (Spot, then on-demand): training' });
    new CfnOutput(this, 'JobDefinitionName', { value: jobs.trainingDefinitionName, description: 'AWS Batch job definition of training jobs' });
    new CfnOutput(this, 'InferenceJobDefinitionName', { value: jobs.inferenceDefinitionName, description: 'AWS Batch job definition of batch inference jobs' });
    new CfnOutput(this, 'MigrateJobQueueArn', { value: jobs.migrateQueue.jobQueueArn, description: 'AWS Batch queue (on-demand) of the migrate job deploy.yml runs' });
    new CfnOutput(this, 'MigrateJobDefinitionName', { value: jobs.migrateDefinitionName, description: 'AWS Batch job definition that runs `trainyard migrate`' });
    new CfnOutput(this, 'ImageTag', { value: s.imageTag, description: 'The release the job definitions run (deploy.yml reads it as the previous release)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn, description: 'SNS topic of the alarms and failed Batch jobs' });
    new CfnOutput(this, 'ApiSettingsParameter', { value: api.settings.parameterName, description: 'SSM parameter with the API instances\' env file' });
    new CfnOutput(this, 'DatabaseSecretArn', { value: data.dbSecret.secretArn, description: 'Secrets Manager secret with the database master credentials (migrations)' });
    new CfnOutput(this, 'AppDatabaseSecretArn', { value: data.appDbSecret.secretArn, description: 'Secrets Manager secret with the application user the API and jobs log in as' });
    new CfnOutput(this, 'ApiRepositoryUri', { value: data.apiRepository.repositoryUri });
    new CfnOutput(this, 'TrainerRepositoryUri', { value: data.trainerRepository.repositoryUri });
    new CfnOutput(this, 'CodeDeployApplicationName', { value: delivery.application.applicationName });
    new CfnOutput(this, 'CodeDeployDeploymentGroupName', { value: delivery.deploymentGroup.deploymentGroupName });
    new CfnOutput(this, 'ApiAutoScalingGroupName', { value: api.group.autoScalingGroupName });
    new CfnOutput(this, 'ApiLogGroupName', { value: data.apiLogs.logGroupName });
    new CfnOutput(this, 'JobLogGroupName', { value: data.jobLogs.logGroupName });
    if (delivery.deployRole) new CfnOutput(this, 'GithubDeployRoleArn', { value: delivery.deployRole.roleArn, description: 'Set as the AWS_DEPLOY_ROLE_ARN variable of the GitHub repository' });
  }
}
