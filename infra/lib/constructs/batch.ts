// AWS Batch: the roles the job containers run with, the Fargate Spot compute environment and job
// queue, the job definition that runs `trainyard run-job <id>` in the trainer image, and, with
// `gpu`, a GPU EC2 compute environment with its own queue and job definition.
import { Aws, Duration, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { DATABASE_NAME, type TrainyardSettings } from '../settings.ts';
import type { Data } from './data.ts';
import { StackPart } from './group.ts';
import type { Network } from './network.ts';

export class Batch extends StackPart {
  /** The queue the API submits to (the GPU queue with `gpu`). */
  readonly jobQueue: batch.JobQueue;
  readonly fargateQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly jobDefinitionName: string;

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
    data.dbSecret.grantRead(executionRole);

    const jobEnvironment = {
      TRAINYARD_BLOB_URL: data.blobUrl,
      TRAINYARD_DB_NAME: DATABASE_NAME,
      TRAINYARD_DATA_DIR: '/tmp/trainyard',
      AWS_REGION: Aws.REGION,
    };
    // The whole RDS secret (username, password, host, port) as one variable, resolved by the ECS
    // agent when the container starts; deploy/entrypoint.mjs turns it into TRAINYARD_DATABASE_URL.
    const jobSecrets = { TRAINYARD_DB_SECRET: batch.Secret.fromSecretsManager(data.dbSecret) };
    const command = ['run-job', 'Ref::jobId'];
    const fargateDefinitionName = `${s.stackName}-run-job`;
    const gpuDefinitionName = `${s.stackName}-run-job-gpu`;

    const fargateSpot = new batch.FargateComputeEnvironment(this.home, 'FargateSpot', {
      vpc,
      vpcSubnets: computeSubnets,
      securityGroups: [batchSg],
      spot: true,
      maxvCpus: s.batchMaxVcpus,
    });
    this.fargateQueue = new batch.JobQueue(this.home, 'JobQueue', {
      computeEnvironments: [{ computeEnvironment: fargateSpot, order: 1 }],
      priority: 1,
    });
    const fargateDefinition = new batch.EcsJobDefinition(this.home, 'RunJobDefinition', {
      jobDefinitionName: fargateDefinitionName,
      container: new batch.EcsFargateContainerDefinition(this.home, 'TrainerContainer', {
        image: ecs.ContainerImage.fromEcrRepository(data.trainerRepository, s.imageTag),
        cpu: 2,
        memory: Size.gibibytes(4),
        ephemeralStorageSize: Size.gibibytes(40),
        command,
        environment: { ...jobEnvironment, TRAINYARD_TRAINER_THREADS: '2' },
        secrets: jobSecrets,
        jobRole,
        executionRole,
        assignPublicIp: publicCompute,
        fargatePlatformVersion: ecs.FargatePlatformVersion.LATEST,
        fargateCpuArchitecture: ecs.CpuArchitecture.X86_64,
        logging: ecs.LogDriver.awsLogs({ logGroup: data.jobLogs, streamPrefix: 'fargate' }),
      }),
      parameters: { jobId: 'unset' },
      timeout: Duration.hours(24),
      propagateTags: true,
    });

    let jobQueue: batch.JobQueue = this.fargateQueue;
    let jobDefinition: batch.EcsJobDefinition = fargateDefinition;
    let jobDefinitionName = fargateDefinitionName;
    if (s.gpu) {
      const gpuEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this.home, 'GpuEc2', {
        vpc,
        vpcSubnets: computeSubnets,
        securityGroups: [batchSg],
        instanceTypes: [new ec2.InstanceType('g4dn.xlarge'), new ec2.InstanceType('g5.xlarge')],
        useOptimalInstanceClasses: false,
        images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
        minvCpus: 0,
        maxvCpus: s.batchMaxVcpus,
        allocationStrategy: batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      });
      jobQueue = new batch.JobQueue(this.home, 'GpuJobQueue', { computeEnvironments: [{ computeEnvironment: gpuEnvironment, order: 1 }], priority: 1 });
      jobDefinition = new batch.EcsJobDefinition(this.home, 'GpuRunJobDefinition', {
        jobDefinitionName: gpuDefinitionName,
        container: new batch.EcsEc2ContainerDefinition(this.home, 'GpuTrainerContainer', {
          image: ecs.ContainerImage.fromEcrRepository(data.trainerRepository, `${s.imageTag}-cuda`),
          cpu: 4,
          memory: Size.gibibytes(14),
          gpu: 1,
          command,
          environment: { ...jobEnvironment, TRAINYARD_TRAINER_THREADS: '4' },
          secrets: jobSecrets,
          jobRole,
          executionRole,
          logging: ecs.LogDriver.awsLogs({ logGroup: data.jobLogs, streamPrefix: 'gpu' }),
        }),
        parameters: { jobId: 'unset' },
        timeout: Duration.hours(24),
        propagateTags: true,
      });
      jobDefinitionName = gpuDefinitionName;
    }
    this.jobQueue = jobQueue;
    this.jobDefinition = jobDefinition;
    this.jobDefinitionName = jobDefinitionName;
  }
}
