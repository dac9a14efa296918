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
// Networking: with `trainyard:natGateways` = 0 (the default, cheapest) the API instances and
// Batch tasks sit in public subnets with public IPs and security groups that admit nothing from
// outside but the load balancer; with ≥ 1 they move to private subnets behind NAT gateways. The
// database is always in isolated subnets. S3 traffic uses a gateway endpoint.
import { ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

export interface TrainyardSettings {
  stackName: string;
  /** Tag of the trainer image the Batch job definition runs (deploy.yml passes the commit SHA). */
  imageTag: string;
  /** Also create a GPU EC2 compute environment, queue and job definition, and send jobs there. */
  gpu: boolean;
  natGateways: number;
  apiInstanceType: string;
  apiMinCapacity: number;
  apiMaxCapacity: number;
  dbInstanceType: string;
  dbMultiAz: boolean;
  batchMaxVcpus: number;
  /** Who may reach the load balancer. */
  allowedCidr: string;
  /** ACM certificate for an HTTPS listener (then :80 redirects to :443). */
  certificateArn: string | undefined;
  /** "owner/repo": create a role GitHub Actions in that repository's main branch can assume. */
  githubRepository: string | undefined;
  /** Create the account's GitHub OIDC provider (only one may exist per account). */
  createGithubOidcProvider: boolean;
}

export const DEFAULT_SETTINGS: TrainyardSettings = {
  stackName: 'Trainyard',
  imageTag: 'latest',
  gpu: false,
  natGateways: 0,
  apiInstanceType: 't4g.small',
  apiMinCapacity: 1,
  apiMaxCapacity: 3,
  dbInstanceType: 't4g.micro',
  dbMultiAz: false,
  batchMaxVcpus: 16,
  allowedCidr: '0.0.0.0/0',
  certificateArn: undefined,
  githubRepository: undefined,
  createGithubOidcProvider: false,
};

/** Reads `trainyard:<name>` context values (strings on the command line, JSON values in cdk.json). */
export function settingsFromContext(get: (key: string) => unknown): TrainyardSettings {
  const value = (name: keyof TrainyardSettings) => get(`trainyard:${name}`);
  const str = (name: keyof TrainyardSettings, fallback: string | undefined) => {
    const v = value(name);
    return v === undefined || v === null || v === '' ? fallback : String(v);
  };
  const bool = (name: keyof TrainyardSettings, fallback: boolean) => {
    const v = value(name);
    return v === undefined ? fallback : v === true || v === 'true';
  };
  const num = (name: keyof TrainyardSettings, fallback: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`trainyard:${name} must be a whole number, got ${String(v)}`);
    return n;
  };
  const d = DEFAULT_SETTINGS;
  return {
    stackName: str('stackName', d.stackName)!,
    imageTag: str('imageTag', d.imageTag)!,
    gpu: bool('gpu', d.gpu),
    natGateways: num('natGateways', d.natGateways),
    apiInstanceType: str('apiInstanceType', d.apiInstanceType)!,
    apiMinCapacity: num('apiMinCapacity', d.apiMinCapacity),
    apiMaxCapacity: num('apiMaxCapacity', d.apiMaxCapacity),
    dbInstanceType: str('dbInstanceType', d.dbInstanceType)!,
    dbMultiAz: bool('dbMultiAz', d.dbMultiAz),
    batchMaxVcpus: num('batchMaxVcpus', d.batchMaxVcpus),
    allowedCidr: str('allowedCidr', d.allowedCidr)!,
    certificateArn: str('certificateArn', d.certificateArn),
    githubRepository: str('githubRepository', d.githubRepository),
    createGithubOidcProvider: bool('createGithubOidcProvider', d.createGithubOidcProvider),
  };
}

export interface TrainyardStackProps extends StackProps {
  settings?: Partial<TrainyardSettings>;
}

const API_PORT = 8080;
const DATABASE_NAME = 'trainyard';
/** Blob store prefix (TRAINYARD_BLOB_URL) and CodeDeploy revision prefix inside the bucket. */
export const DATA_PREFIX = 'data';
export const RELEASES_PREFIX = 'releases';

export class TrainyardStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly database: rds.DatabaseInstance;
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly apiRole: iam.Role;

  constructor(scope: Construct, id: string, props: TrainyardStackProps = {}) {
    super(scope, id, props);
    const s: TrainyardSettings = { ...DEFAULT_SETTINGS, ...props.settings };
    const publicCompute = s.natGateways === 0;

    // ---------------------------------------------------------------- network
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: s.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        ...(publicCompute ? [] : [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 }]),
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const computeSubnets: ec2.SubnetSelection = { subnetType: publicCompute ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS };

    const albSg = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', { vpc, description: 'Trainyard load balancer', allowAllOutbound: false });
    const apiSg = new ec2.SecurityGroup(this, 'ApiSecurityGroup', { vpc, description: 'Trainyard API instances: only the load balancer gets in' });
    const batchSg = new ec2.SecurityGroup(this, 'BatchSecurityGroup', { vpc, description: 'Trainyard training containers: nothing gets in' });
    const dbSg = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', { vpc, description: 'Trainyard database', allowAllOutbound: false });
    albSg.addIngressRule(ec2.Peer.ipv4(s.allowedCidr), ec2.Port.tcp(80), 'HTTP');
    if (s.certificateArn) albSg.addIngressRule(ec2.Peer.ipv4(s.allowedCidr), ec2.Port.tcp(443), 'HTTPS');
    albSg.addEgressRule(apiSg, ec2.Port.tcp(API_PORT), 'to the API instances');
    apiSg.addIngressRule(albSg, ec2.Port.tcp(API_PORT), 'from the load balancer');
    dbSg.addIngressRule(apiSg, ec2.Port.tcp(3306), 'API instances');
    dbSg.addIngressRule(batchSg, ec2.Port.tcp(3306), 'training containers');

    // ---------------------------------------------------------------- storage
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Datasets and trained models outlive the stack: deleting the stack leaves the bucket (docs/deploy.md).
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(2) },
        { id: 'old-releases', prefix: `${RELEASES_PREFIX}/`, expiration: Duration.days(90) },
      ],
    });
    const blobUrl = `s3://${this.bucket.bucketName}/${DATA_PREFIX}`;

    this.database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.VER_8_4_7 }),
      instanceType: new ec2.InstanceType(s.dbInstanceType),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      credentials: rds.Credentials.fromGeneratedSecret('trainyard'),
      databaseName: DATABASE_NAME,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 200,
      multiAz: s.dbMultiAz,
      backupRetention: Duration.days(7),
      deletionProtection: false,
      // Deleting the stack keeps a final snapshot (docs/deploy.md says how to remove it).
      removalPolicy: RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
    });
    const dbSecret = this.database.secret!;

    // ---------------------------------------------------------------- images and logs
    const repositoryProps: ecr.RepositoryProps = {
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.MUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      lifecycleRules: [{ description: 'keep the last 30 images', maxImageCount: 30 }],
      removalPolicy: RemovalPolicy.RETAIN,
    };
    const apiRepository = new ecr.Repository(this, 'ApiRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/api` });
    const trainerRepository = new ecr.Repository(this, 'TrainerRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/trainer` });

    const apiLogs = new logs.LogGroup(this, 'ApiLogs', { logGroupName: `/${s.stackName.toLowerCase()}/api`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const jobLogs = new logs.LogGroup(this, 'JobLogs', { logGroupName: `/${s.stackName.toLowerCase()}/jobs`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });

    // ---------------------------------------------------------------- AWS Batch
    const jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Trainyard training containers: read and write the data prefix of the bucket',
    });
    grantDataPrefix(jobRole, this.bucket);
    const executionRole = new iam.Role(this, 'JobExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS agent for Trainyard jobs: pull the trainer image, write logs, inject the database secret',
    });
    trainerRepository.grantPull(executionRole);
    jobLogs.grantWrite(executionRole);
    dbSecret.grantRead(executionRole);

    const jobEnvironment = {
      TRAINYARD_BLOB_URL: blobUrl,
      TRAINYARD_DB_NAME: DATABASE_NAME,
      TRAINYARD_DATA_DIR: '/tmp/trainyard',
      AWS_REGION: Aws.REGION,
    };
    // The whole RDS secret (username, password, host, port) as one variable, resolved by the ECS
    // agent when the container starts; deploy/entrypoint.mjs turns it into TRAINYARD_DATABASE_URL.
    const jobSecrets = { TRAINYARD_DB_SECRET: batch.Secret.fromSecretsManager(dbSecret) };
    const command = ['run-job', 'Ref::jobId'];
    const fargateDefinitionName = `${s.stackName}-run-job`;
    const gpuDefinitionName = `${s.stackName}-run-job-gpu`;

    const fargateSpot = new batch.FargateComputeEnvironment(this, 'FargateSpot', {
      vpc,
      vpcSubnets: computeSubnets,
      securityGroups: [batchSg],
      spot: true,
      maxvCpus: s.batchMaxVcpus,
    });
    const fargateQueue = new batch.JobQueue(this, 'JobQueue', {
      computeEnvironments: [{ computeEnvironment: fargateSpot, order: 1 }],
      priority: 1,
    });
    const fargateDefinition = new batch.EcsJobDefinition(this, 'RunJobDefinition', {
      jobDefinitionName: fargateDefinitionName,
      container: new batch.EcsFargateContainerDefinition(this, 'TrainerContainer', {
        image: ecs.ContainerImage.fromEcrRepository(trainerRepository, s.imageTag),
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
        logging: ecs.LogDriver.awsLogs({ logGroup: jobLogs, streamPrefix: 'fargate' }),
      }),
      parameters: { jobId: 'unset' },
      timeout: Duration.hours(24),
      propagateTags: true,
    });

    let jobQueue: batch.JobQueue = fargateQueue;
    let jobDefinition: batch.EcsJobDefinition = fargateDefinition;
    let jobDefinitionName = fargateDefinitionName;
    if (s.gpu) {
      const gpuEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'GpuEc2', {
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
      jobQueue = new batch.JobQueue(this, 'GpuJobQueue', { computeEnvironments: [{ computeEnvironment: gpuEnvironment, order: 1 }], priority: 1 });
      jobDefinition = new batch.EcsJobDefinition(this, 'GpuRunJobDefinition', {
        jobDefinitionName: gpuDefinitionName,
        container: new batch.EcsEc2ContainerDefinition(this, 'GpuTrainerContainer', {
          image: ecs.ContainerImage.fromEcrRepository(trainerRepository, `${s.imageTag}-cuda`),
          cpu: 4,
          memory: Size.gibibytes(14),
          gpu: 1,
          command,
          environment: { ...jobEnvironment, TRAINYARD_TRAINER_THREADS: '4' },
          secrets: jobSecrets,
          jobRole,
          executionRole,
          logging: ecs.LogDriver.awsLogs({ logGroup: jobLogs, streamPrefix: 'gpu' }),
        }),
        parameters: { jobId: 'unset' },
        timeout: Duration.hours(24),
        propagateTags: true,
      });
      jobDefinitionName = gpuDefinitionName;
      new CfnOutput(this, 'GpuJobQueueArn', { value: jobQueue.jobQueueArn, description: 'AWS Batch GPU job queue (the API submits here)' });
    }
    this.jobQueue = jobQueue;
    this.jobDefinition = jobDefinition;

    // ---------------------------------------------------------------- API instances
    this.apiRole = new iam.Role(this, 'ApiInstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Trainyard API instances: Batch jobs on one queue, one bucket prefix, one secret',
      // Session Manager shell (no SSH keys, no port 22): how an operator runs `trainyard tokens create`.
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    const apiRole = this.apiRole;
    grantDataPrefix(apiRole, this.bucket);
    // The CodeDeploy agent downloads revisions with the instance's credentials.
    apiRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadReleases', actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [this.bucket.arnForObjects(`${RELEASES_PREFIX}/*`)] }));
    dbSecret.grantRead(apiRole);
    const jobDefinitionArns = [jobDefinitionName].flatMap((name) => {
      const base = Stack.of(this).formatArn({ service: 'batch', resource: 'job-definition', resourceName: name });
      return [base, `${base}:*`];
    });
    const jobArns = Stack.of(this).formatArn({ service: 'batch', resource: 'job', resourceName: '*' });
    apiRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SubmitJobs',
        actions: ['batch:SubmitJob'],
        resources: [jobQueue.jobQueueArn, ...jobDefinitionArns],
      }),
    );
    apiRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TagSubmittedJobs',
        actions: ['batch:TagResource'],
        resources: [jobArns],
        conditions: { StringEquals: { 'batch:CreateAction': 'SubmitJob' } },
      }),
    );
    apiRole.addToPolicy(new iam.PolicyStatement({ sid: 'TerminateJobs', actions: ['batch:TerminateJob'], resources: [jobArns] }));
    // DescribeJobs supports no resource-level permissions: AWS requires "*" here.
    apiRole.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeJobs', actions: ['batch:DescribeJobs'], resources: ['*'] }));
    apiLogs.grantWrite(apiRole);
    apiRole.addToPolicy(new iam.PolicyStatement({ sid: 'ShipLogs', actions: ['logs:DescribeLogStreams'], resources: [apiLogs.logGroupArn] }));

    const envFile = [
      'TRAINYARD_HOST=0.0.0.0',
      `TRAINYARD_PORT=${API_PORT}`,
      'TRAINYARD_DATA_DIR=/var/lib/trainyard',
      `TRAINYARD_BLOB_URL=${blobUrl}`,
      'TRAINYARD_EXECUTOR=aws-batch',
      `TRAINYARD_BATCH_JOB_QUEUE=${jobQueue.jobQueueArn}`,
      `TRAINYARD_BATCH_JOB_DEFINITION=${jobDefinitionName}`,
      'TRAINYARD_AUTH=on',
      'TRAINYARD_AUTO_MIGRATE=false',
      `TRAINYARD_DB_SECRET_ARN=${dbSecret.secretArn}`,
      `TRAINYARD_DB_NAME=${DATABASE_NAME}`,
      `AWS_REGION=${Aws.REGION}`,
      'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true',
      'TRAINYARD_NODE=/usr/bin/node',
      'TRAINYARD_NPM=/usr/bin/npm',
    ].join('\n');
    const agentConfig = JSON.stringify({
      logs: {
        logs_collected: {
          files: {
            collect_list: [
              { file_path: '/var/log/trainyard/api.log', log_group_name: apiLogs.logGroupName, log_stream_name: '{instance_id}/api' },
              {
                file_path: '/opt/codedeploy-agent/deployment-root/deployment-logs/codedeploy-agent-deployments.log',
                log_group_name: apiLogs.logGroupName,
                log_stream_name: '{instance_id}/codedeploy',
              },
            ],
          },
        },
      },
    });
    const userData = ec2.UserData.forLinux();
    userData.addCommands(
      'set -euxo pipefail',
      // Node 20 (plus a compiler in case better-sqlite3 must build), the CodeDeploy agent's Ruby, the CloudWatch agent.
      'dnf install -y nodejs20 nodejs20-npm gcc-c++ make python3 ruby wget amazon-cloudwatch-agent logrotate',
      '[ -e /usr/bin/node ] || ln -s /usr/bin/node-20 /usr/bin/node',
      '[ -e /usr/bin/npm ] || ln -s /usr/bin/npm-20 /usr/bin/npm',
      // Non-secret configuration; the database password is fetched from Secrets Manager at start.
      'install -d -m 0755 /etc/trainyard',
      `cat > /etc/trainyard/trainyard.env <<'TRAINYARD_ENV'\n${envFile}\nTRAINYARD_ENV`,
      'chmod 0644 /etc/trainyard/trainyard.env',
      "printf '/var/log/trainyard/*.log {\\n  daily\\n  rotate 7\\n  compress\\n  missingok\\n  copytruncate\\n}\\n' > /etc/logrotate.d/trainyard",
      `cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CW_AGENT'\n${agentConfig}\nCW_AGENT`,
      '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json',
      // The CodeDeploy agent; once it runs, CodeDeploy deploys the last good revision to this instance.
      `wget -q -O /tmp/codedeploy-install https://aws-codedeploy-${Aws.REGION}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}/latest/install`,
      'chmod +x /tmp/codedeploy-install && /tmp/codedeploy-install auto && rm -f /tmp/codedeploy-install',
      'systemctl enable --now codedeploy-agent',
    );

    const launchTemplate = new ec2.LaunchTemplate(this, 'ApiLaunchTemplate', {
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType: new ec2.InstanceType(s.apiInstanceType).architecture === ec2.InstanceArchitecture.ARM_64 ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64,
      }),
      instanceType: new ec2.InstanceType(s.apiInstanceType),
      role: apiRole,
      securityGroup: apiSg,
      userData,
      requireImdsv2: true,
      associatePublicIpAddress: publicCompute ? true : undefined,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(20, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) }],
    });
    const apiGroup = new autoscaling.AutoScalingGroup(this, 'ApiGroup', {
      vpc,
      vpcSubnets: computeSubnets,
      launchTemplate,
      minCapacity: s.apiMinCapacity,
      maxCapacity: s.apiMaxCapacity,
      // EC2 status checks replace broken instances; the load balancer routes only to instances
      // whose /readyz passes. (ELB health checks would also recycle instances that have not had a
      // first CodeDeploy deployment yet.)
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(10) }),
    });
    apiGroup.scaleOnCpuUtilization('CpuScaling', { targetUtilizationPercent: 60 });

    const alb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      // Server-Sent Events (job progress) and large uploads keep connections open.
      idleTimeout: Duration.minutes(5),
      dropInvalidHeaderFields: true,
    });
    const targets = new elbv2.ApplicationTargetGroup(this, 'ApiTargets', {
      vpc,
      port: API_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [apiGroup],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (s.certificateArn) {
      alb.addListener('Https', { port: 443, certificates: [elbv2.ListenerCertificate.fromArn(s.certificateArn)], defaultTargetGroups: [targets], open: false, sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS });
      alb.addListener('Http', { port: 80, open: false, defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }) });
    } else {
      alb.addListener('Http', { port: 80, open: false, defaultTargetGroups: [targets] });
    }

    // ---------------------------------------------------------------- CodeDeploy
    const application = new codedeploy.ServerApplication(this, 'CodeDeployApplication', { applicationName: s.stackName });
    const deploymentGroup = new codedeploy.ServerDeploymentGroup(this, 'ApiDeploymentGroup', {
      application,
      deploymentGroupName: `${s.stackName}-api`,
      autoScalingGroups: [apiGroup],
      installAgent: false, // the launch template's user data installs it
      loadBalancers: [codedeploy.LoadBalancer.application(targets)],
      deploymentConfig: codedeploy.ServerDeploymentConfig.ONE_AT_A_TIME,
      autoRollback: { failedDeployment: true, stoppedDeployment: true },
    });

    // ---------------------------------------------------------------- GitHub Actions deploy role
    if (s.githubRepository) {
      const providerArn = s.createGithubOidcProvider
        ? new iam.OpenIdConnectProvider(this, 'GithubOidc', { url: 'https://token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'] }).openIdConnectProviderArn
        : Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'oidc-provider', resourceName: 'token.actions.githubusercontent.com' });
      const deployRole = new iam.Role(this, 'GithubDeployRole', {
        description: `GitHub Actions (${s.githubRepository}, main branch): push images, cdk deploy, start CodeDeploy deployments`,
        maxSessionDuration: Duration.hours(1),
        assumedBy: new iam.WebIdentityPrincipal(providerArn, {
          StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
          StringLike: { 'token.actions.githubusercontent.com:sub': `repo:${s.githubRepository}:ref:refs/heads/main` },
        }),
      });
      // `cdk deploy` works through the roles `cdk bootstrap` created.
      deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'UseCdkBootstrapRoles', actions: ['sts:AssumeRole'], resources: [Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: 'cdk-*' })] }));
      deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadStackOutputs', actions: ['cloudformation:DescribeStacks'], resources: [this.stackId] }));
      // GetAuthorizationToken supports no resource-level permissions.
      deployRole.addToPolicy(new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
      apiRepository.grantPullPush(deployRole);
      trainerRepository.grantPullPush(deployRole);
      deployRole.addToPolicy(
        new iam.PolicyStatement({ sid: 'UploadReleases', actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], resources: [this.bucket.arnForObjects(`${RELEASES_PREFIX}/*`)] }),
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
          resources: [Stack.of(this).formatArn({ service: 'codedeploy', resource: 'deploymentconfig', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
      );
      new CfnOutput(this, 'GithubDeployRoleArn', { value: deployRole.roleArn, description: 'Set as the AWS_DEPLOY_ROLE_ARN variable of the GitHub repository' });
    }

    // ---------------------------------------------------------------- outputs
    const scheme = s.certificateArn ? 'https' : 'http';
    new CfnOutput(this, 'Url', { value: `${scheme}://${alb.loadBalancerDnsName}`, description: 'Trainyard API (TRAINYARD_URL for the CLI)' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: `Blobs under s3://<bucket>/${DATA_PREFIX}, CodeDeploy revisions under ${RELEASES_PREFIX}/` });
    new CfnOutput(this, 'JobQueueArn', { value: fargateQueue.jobQueueArn, description: 'AWS Batch job queue (Fargate Spot)' });
    new CfnOutput(this, 'JobDefinitionName', { value: jobDefinitionName, description: 'AWS Batch job definition the API submits' });
    new CfnOutput(this, 'DatabaseSecretArn', { value: dbSecret.secretArn, description: 'Secrets Manager secret with the database credentials' });
    new CfnOutput(this, 'ApiRepositoryUri', { value: apiRepository.repositoryUri });
    new CfnOutput(this, 'TrainerRepositoryUri', { value: trainerRepository.repositoryUri });
    new CfnOutput(this, 'CodeDeployApplicationName', { value: application.applicationName });
    new CfnOutput(this, 'CodeDeployDeploymentGroupName', { value: deploymentGroup.deploymentGroupName });
    new CfnOutput(this, 'ApiAutoScalingGroupName', { value: apiGroup.autoScalingGroupName });
    new CfnOutput(this, 'ApiLogGroupName', { value: apiLogs.logGroupName });
    new CfnOutput(this, 'JobLogGroupName', { value: jobLogs.logGroupName });
  }
}

/** Read, write and list the blob store prefix of the bucket, nothing else in it. */
function grantDataPrefix(role: iam.Role, bucket: s3.Bucket): void {
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DataObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [bucket.arnForObjects(`${DATA_PREFIX}/*`)],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ListDataPrefix',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      // IfExists: the blob store's readiness probe is HeadBucket, which needs s3:ListBucket and
      // carries no prefix. Listings that name a prefix are held to the data prefix.
      conditions: { StringLikeIfExists: { 's3:prefix': [`${DATA_PREFIX}/*`, DATA_PREFIX] } },
    }),
  );
}
