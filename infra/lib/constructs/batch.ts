// AWS Batch: the roles job containers run with; Fargate Spot first and on-demand Fargate after it
// in the job queue; separate job definitions (and sizes) for training and batch inference; a
// migrate job definition on its own on-demand queue, which deploy.yml runs before anything
// switches to a new release; and with `gpu`, GPU EC2 compute environments (Spot, then on-demand)
// with their own queue for training only.
//
// Every job definition retries what is not the job's fault: the host or Spot capacity going
// away, and the trainer's "interrupted, retry me" exit code (75, EX_TEMPFAIL: the job error code
// INTERRUPTED). Any other exit is final, so a user error is not run three times.
import { Aws, Duration, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { DATABASE_NAME, type TrainyardSettings } from '../settings.ts';
import type { Data } from './data.ts';
import { acknowledge, acknowledgeWildcards, StackPart } from './group.ts';
import type { Network } from './network.ts';

/** The trainer's exit status for "interrupted, resume me on another attempt" (EX_TEMPFAIL). */
export const INTERRUPTED_EXIT_CODE = 75;
/** Attempts per job, the first included. */
export const JOB_ATTEMPTS = 3;
/** Root volume of the GPU instances: the CUDA trainer image alone is ~8 GiB compressed. */
export const GPU_ROOT_VOLUME_GIB = 100;

/** Retry on lost capacity and on the trainer's retry-me code; exit on anything else. */
export function retryStrategies(): batch.RetryStrategy[] {
  return [
    // EC2 (GPU) Spot reclaim or host failure: statusReason "Host EC2 (instance i-…) terminated."
    batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
    // Fargate Spot reclaim: the task stops with "Your Spot Task was interrupted."
    batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom({ onStatusReason: 'Your Spot Task was interrupted*' })),
    // The image could not be pulled or the task could not start: infrastructure, not the job.
    batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom({ onReason: 'CannotPullContainerError*' })),
    batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom({ onExitCode: String(INTERRUPTED_EXIT_CODE) })),
    batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom({ onExitCode: '*' })),
  ];
}

export class Batch extends StackPart {
  /** Where training goes: the GPU queue with `gpu`, else the Fargate queue. */
  readonly trainingQueue: batch.JobQueue;
  /** Fargate Spot, then on-demand Fargate: inference always, training without `gpu`. */
  readonly fargateQueue: batch.JobQueue;
  /** On-demand Fargate only: the migrate job must not be reclaimed half-way. */
  readonly migrateQueue: batch.JobQueue;
  readonly trainingDefinitionName: string;
  readonly inferenceDefinitionName: string;
  readonly migrateDefinitionName: string;
  readonly trainingDefinition: batch.EcsJobDefinition;
  /** Every queue, for alarms on failed jobs. */
  readonly queues: batch.JobQueue[];

  constructor(scope: Construct, id: string, s: TrainyardSettings, network: Network, data: Data) {
    super(scope, id);
    const { vpc, computeSubnets, batchSg, publicCompute } = network;
    const jobRole = new iam.Role(this.home, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Trainyard training containers: read and write the data prefix of the bucket',
    });
    data.grantDataPrefix(jobRole);
    const executionRole = new iam.Role(this.home, 'JobExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS agent for Trainyard jobs: pull the trainer image, write logs, inject the database secret',
    });
    data.trainerRepository.grantPull(executionRole);
    data.jobLogs.grantWrite(executionRole);
    // Injected into the migrate job only (master user, and the application user it creates).
    data.dbSecret.grantRead(executionRole);
    data.appDbSecret.grantRead(executionRole);
    // Training and inference read the application user's secret when they connect (a rotation
    // during a long job is picked up): with the job role, not injected at start.
    data.appDbSecret.grantRead(jobRole);
    acknowledgeWildcards(executionRole, ['*'], 'ecr:GetAuthorizationToken has no resource-level permissions (pulls are limited to the trainer repository).');

    const baseEnvironment = {
      TRAINYARD_BLOB_URL: data.blobUrl,
      TRAINYARD_DB_NAME: DATABASE_NAME,
      TRAINYARD_DATABASE_TLS: 'rds',
      TRAINYARD_DATA_DIR: '/tmp/trainyard',
      AWS_REGION: Aws.REGION,
    };
    // Jobs read the application user's secret (username, password, host, port) themselves.
    const environment = { ...baseEnvironment, TRAINYARD_DATABASE_SECRET_ARN: data.appDbSecret.secretArn };
    // The migrate job gets the master secret as one variable, resolved by the ECS agent when the
    // container starts (deploy/entrypoint.mjs turns it into TRAINYARD_DATABASE_URL), and the
    // application user's, which it creates if missing (deploy/app-user.mjs).
    const migrateSecrets = {
      TRAINYARD_DB_SECRET: batch.Secret.fromSecretsManager(data.dbSecret),
      TRAINYARD_APP_DB_SECRET: batch.Secret.fromSecretsManager(data.appDbSecret),
    };
    const image = (tag: string) => ecs.ContainerImage.fromEcrRepository(data.trainerRepository, tag);
    this.trainingDefinitionName = `${s.stackName}-training`;
    this.inferenceDefinitionName = `${s.stackName}-inference`;
    this.migrateDefinitionName = `${s.stackName}-migrate`;

    const fargateSpot = new batch.FargateComputeEnvironment(this.home, 'FargateSpot', {
      vpc,
      vpcSubnets: computeSubnets,
      securityGroups: [batchSg],
      spot: true,
      maxvCpus: s.batchMaxVcpus,
    });
    const fargateOnDemand = new batch.FargateComputeEnvironment(this.home, 'FargateOnDemand', {
      vpc,
      vpcSubnets: computeSubnets,
      securityGroups: [batchSg],
      spot: false,
      maxvCpus: s.batchMaxVcpus,
    });
    this.fargateQueue = new batch.JobQueue(this.home, 'JobQueue', {
      computeEnvironments: [
        { computeEnvironment: fargateSpot, order: 1 },
        { computeEnvironment: fargateOnDemand, order: 2 },
      ],
      priority: 1,
    });
    this.migrateQueue = new batch.JobQueue(this.home, 'MigrateQueue', {
      computeEnvironments: [{ computeEnvironment: fargateOnDemand, order: 1 }],
      priority: 10,
    });

    const fargateDefinition = (definitionId: string, props: { name: string; tag: string; cpu: number; memoryGiB: number; command: string[]; threads: number; streamPrefix: string; retry: boolean; migrate?: boolean }) =>
      new batch.EcsJobDefinition(this.home, definitionId, {
        jobDefinitionName: props.name,
        container: new batch.EcsFargateContainerDefinition(this.home, `${definitionId}Container`, {
          image: image(props.tag),
          cpu: props.cpu,
          memory: Size.gibibytes(props.memoryGiB),
          ephemeralStorageSize: Size.gibibytes(40),
          command: props.command,
          environment: { ...(props.migrate ? baseEnvironment : environment), TRAINYARD_TRAINER_THREADS: String(props.threads) },
          secrets: props.migrate ? migrateSecrets : undefined,
          jobRole,
          executionRole,
          assignPublicIp: publicCompute,
          fargatePlatformVersion: ecs.FargatePlatformVersion.LATEST,
          fargateCpuArchitecture: ecs.CpuArchitecture.X86_64,
          logging: ecs.LogDriver.awsLogs({ logGroup: data.jobLogs, streamPrefix: props.streamPrefix }),
        }),
        parameters: props.command.includes('Ref::jobId') ? { jobId: 'unset' } : undefined,
        timeout: Duration.hours(props.migrate ? 1 : 24),
        propagateTags: true,
        retryAttempts: JOB_ATTEMPTS,
        retryStrategies: props.retry ? retryStrategies() : [batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER), batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom({ onExitCode: '*' }))],
      });

    const runJob = ['run-job', 'Ref::jobId'];
    const fargateTraining = fargateDefinition('RunJobDefinition', {
      name: this.trainingDefinitionName,
      tag: s.imageTag,
      cpu: s.trainingCpu,
      memoryGiB: s.trainingMemoryGiB,
      command: runJob,
      threads: s.trainingCpu,
      streamPrefix: 'training',
      retry: true,
    });
    fargateDefinition('InferenceJobDefinition', {
      name: this.inferenceDefinitionName,
      tag: s.imageTag,
      cpu: s.inferenceCpu,
      memoryGiB: s.inferenceMemoryGiB,
      command: runJob,
      threads: s.inferenceCpu,
      streamPrefix: 'inference',
      retry: true,
    });
    // Migrations are not retried after they started: a half-applied MySQL migration (DDL is not
    // transactional there) needs a person, not a second run.
    fargateDefinition('MigrateJobDefinition', {
      name: this.migrateDefinitionName,
      tag: s.migrateImageTag ?? s.imageTag,
      cpu: 1,
      memoryGiB: 2,
      command: ['migrate'],
      threads: 1,
      streamPrefix: 'migrate',
      retry: false,
      migrate: true,
    });

    this.trainingQueue = this.fargateQueue;
    this.trainingDefinition = fargateTraining;
    this.queues = [this.fargateQueue, this.migrateQueue];
    if (s.gpu) {
      // Batch adds this launch template's root volume to the ECS GPU AMI's instances.
      const launchTemplate = new ec2.LaunchTemplate(this.home, 'GpuLaunchTemplate', {
        requireImdsv2: true,
        blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(GPU_ROOT_VOLUME_GIB, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) }],
      });
      const gpuEnvironment = (ceId: string, spot: boolean) =>
        new batch.ManagedEc2EcsComputeEnvironment(this.home, ceId, {
          vpc,
          vpcSubnets: computeSubnets,
          securityGroups: [batchSg],
          instanceTypes: [new ec2.InstanceType('g4dn.xlarge'), new ec2.InstanceType('g5.xlarge')],
          useOptimalInstanceClasses: false,
          images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
          launchTemplate,
          minvCpus: 0,
          maxvCpus: s.batchMaxVcpus,
          spot,
          allocationStrategy: spot ? batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED : batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
        });
      const gpuSpot = gpuEnvironment('GpuSpot', true);
      const gpuOnDemand = gpuEnvironment('GpuOnDemand', false);
      this.trainingQueue = new batch.JobQueue(this.home, 'GpuJobQueue', {
        computeEnvironments: [
          { computeEnvironment: gpuSpot, order: 1 },
          { computeEnvironment: gpuOnDemand, order: 2 },
        ],
        priority: 1,
      });
      this.trainingDefinitionName = `${s.stackName}-training-gpu`;
      this.trainingDefinition = new batch.EcsJobDefinition(this.home, 'GpuRunJobDefinition', {
        jobDefinitionName: this.trainingDefinitionName,
        container: new batch.EcsEc2ContainerDefinition(this.home, 'GpuTrainerContainer', {
          image: image(`${s.imageTag}-cuda`),
          cpu: 4,
          memory: Size.gibibytes(14),
          gpu: 1,
          command: runJob,
          environment: { ...environment, TRAINYARD_TRAINER_THREADS: '4' },
          jobRole,
          executionRole,
          logging: ecs.LogDriver.awsLogs({ logGroup: data.jobLogs, streamPrefix: 'gpu' }),
        }),
        parameters: { jobId: 'unset' },
        timeout: Duration.hours(24),
        propagateTags: true,
        retryAttempts: JOB_ATTEMPTS,
        retryStrategies: retryStrategies(),
      });
      this.queues.push(this.trainingQueue);
      acknowledge(
        [gpuSpot, gpuOnDemand],
        [
          {
            id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
            reason: 'The instance role policy AWS documents for ECS container instances that Batch launches.',
          },
        ],
      );
    }
  }
}
