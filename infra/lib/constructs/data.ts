// What outlives a deployment: the S3 bucket (blobs under data/, CodeDeploy revisions under
// releases/), the RDS MySQL database with its two secrets (the master user, for migrations, and
// the application user the API and jobs log in as, both rotated every 30 days), the ECR
// repositories, the log groups, and the bucket that keeps access logs (S3 server access, ALB, VPC
// flow logs).
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { APP_DATABASE_USER, DATABASE_NAME, DATA_PREFIX, RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import { acknowledge, acknowledgeWildcards, nagRef, StackPart } from './group.ts';
import type { Network } from './network.ts';

export class Data extends StackPart {
  readonly bucket: s3.Bucket;
  /** S3 server access logs of the data bucket, ALB access logs (alb/), VPC flow logs (vpc/). */
  readonly logsBucket: s3.Bucket;
  /** TRAINYARD_BLOB_URL: the data prefix of the bucket. */
  readonly blobUrl: string;
  readonly database: rds.DatabaseInstance;
  /** The master user: only the migrate job (which also creates the application user) and rotation. */
  readonly dbSecret: secretsmanager.ISecret;
  /** The application user (DML only): the API instances and the jobs, read at connect time. */
  readonly appDbSecret: secretsmanager.ISecret;
  readonly apiRepository: ecr.Repository;
  readonly trainerRepository: ecr.Repository;
  readonly apiLogs: logs.LogGroup;
  readonly jobLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, s: TrainyardSettings, network: Network) {
    super(scope, id);
    this.logsBucket = new s3.Bucket(this.home, 'AccessLogs', {
      // SSE-S3: the only encryption ALB access logs can be delivered to.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire', expiration: Duration.days(90) }],
    });
    acknowledge(this.logsBucket, [
      { id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging it into itself would loop.' },
    ]);
    network.vpc.addFlowLog('FlowLogs', { destination: ec2.FlowLogDestination.toS3(this.logsBucket, 'vpc/'), trafficType: ec2.FlowLogTrafficType.REJECT });

    this.bucket = new s3.Bucket(this.home, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logsBucket,
      serverAccessLogsPrefix: 's3/',
      // Datasets and trained models outlive the stack: deleting the stack leaves the bucket (docs/deploy.md).
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(2) },
        { id: 'old-releases', prefix: `${RELEASES_PREFIX}/`, expiration: Duration.days(90) },
      ],
    });
    this.blobUrl = `s3://${this.bucket.bucketName}/${DATA_PREFIX}`;

    const engine = rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.VER_8_4_7 });
    // Connections without TLS are refused; the clients verify the server with the RDS CA
    // (src/store/metadata/mysql-store.ts, TRAINYARD_DATABASE_TLS=rds).
    const parameterGroup = new rds.ParameterGroup(this.home, 'DatabaseParameters', {
      engine,
      description: 'Trainyard MySQL: TLS required',
      parameters: { require_secure_transport: '1' },
    });
    this.database = new rds.DatabaseInstance(this.home, 'Database', {
      engine,
      parameterGroup,
      instanceType: new ec2.InstanceType(s.dbInstanceType),
      vpc: network.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [network.dbSg],
      credentials: rds.Credentials.fromGeneratedSecret('trainyard'),
      databaseName: DATABASE_NAME,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 200,
      multiAz: s.dbMultiAz,
      backupRetention: Duration.days(7),
      // Deleting the stack (or a change that would replace the instance) fails until this is
      // switched off by hand (docs/deploy.md, "Deleting the stack"); then a final snapshot is kept.
      deletionProtection: true,
      autoMinorVersionUpgrade: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
    });
    this.dbSecret = this.database.secret!;
    // The application user's secret names the master secret (masterarn), which multi-user rotation
    // uses to set the password of whichever of trainyard_app / trainyard_app_clone is not current:
    // the previous password keeps working until the next rotation, so a process that read it
    // before a rotation logs in until it reads the secret again (it does when a login is refused).
    this.appDbSecret = new rds.DatabaseSecret(this.home, 'AppDatabaseSecret', { username: APP_DATABASE_USER, dbname: DATABASE_NAME, masterSecret: this.dbSecret }).attach(this.database);
    this.rotate(network);
    acknowledge(this.database, [
      { id: 'AwsSolutions-RDS3', reason: 'Multi-AZ doubles the database cost; it is the dbMultiAz setting, off by default for small deployments.' },
      { id: 'AwsSolutions-RDS11', reason: 'The default port is reachable only from the API and job security groups; a custom port adds no protection here.' },
      { id: 'AwsSolutions-RDS6', reason: 'Clients authenticate with the generated secret over TLS; IAM database auth tokens expire every 15 minutes and the pools do not refresh them.' },
    ]);

    const repositoryProps: ecr.RepositoryProps = {
      imageScanOnPush: true,
      // A tag names one build for ever (the commit SHA): what CI tested is what runs.
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      lifecycleRules: [{ description: 'keep the last 30 images', maxImageCount: 30 }],
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.apiRepository = new ecr.Repository(this.home, 'ApiRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/api` });
    this.trainerRepository = new ecr.Repository(this.home, 'TrainerRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/trainer` });

    this.apiLogs = new logs.LogGroup(this.home, 'ApiLogs', { logGroupName: `/${s.stackName.toLowerCase()}/api`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.jobLogs = new logs.LogGroup(this.home, 'JobLogs', { logGroupName: `/${s.stackName.toLowerCase()}/jobs`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  }

  /**
   * Secrets Manager's hosted rotation (a Lambda function in the VPC that logs in to the database):
   * the master user alone (single user: only short-lived migrate jobs use it), the application
   * user with two alternating users (multi user). Without NAT gateways the functions sit in the
   * database's isolated subnets and reach Secrets Manager through an interface endpoint.
   * The application secret's first rotation waits for the schedule: the user is created by the
   * first migrate job (deploy/app-user.mjs), and rotation needs it to exist.
   */
  private rotate(network: Network): void {
    const { vpc } = network;
    const rotationSg = new ec2.SecurityGroup(this.home, 'SecretRotationSecurityGroup', { vpc, description: 'Trainyard database secret rotation' });
    network.dbSg.addIngressRule(rotationSg, ec2.Port.tcp(3306), 'secret rotation');
    let vpcSubnets: ec2.SubnetSelection = network.computeSubnets;
    let endpoint: ec2.InterfaceVpcEndpoint | undefined;
    if (network.publicCompute) {
      vpcSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
      // Its private DNS name is what every client in the VPC then resolves Secrets Manager to, so
      // the API instances and the jobs reach it too. One AZ is enough for a monthly rotation (the
      // others use it across zones), and halves the endpoint's cost.
      const endpointSg = new ec2.SecurityGroup(this.home, 'SecretsManagerEndpointSecurityGroup', { vpc, description: 'Secrets Manager endpoint: from rotation, the API and jobs', allowAllOutbound: false });
      for (const [peer, what] of [[rotationSg, 'secret rotation'], [network.apiSg, 'API instances'], [network.batchSg, 'jobs']] as const) endpointSg.addIngressRule(peer, ec2.Port.tcp(443), what);
      endpoint = vpc.addInterfaceEndpoint('SecretsManagerEndpoint', {
        service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        subnets: { subnets: [vpc.isolatedSubnets[0]!] },
        securityGroups: [endpointSg],
        open: false,
      });
    }
    const placement = { vpc, vpcSubnets, securityGroups: [rotationSg] };
    const schedules = [
      this.dbSecret.addRotationSchedule('Rotation', { hostedRotation: secretsmanager.HostedRotation.mysqlSingleUser(placement), automaticallyAfter: Duration.days(30) }),
      this.appDbSecret.addRotationSchedule('Rotation', {
        hostedRotation: secretsmanager.HostedRotation.mysqlMultiUser({ ...placement, masterSecret: this.dbSecret }),
        automaticallyAfter: Duration.days(30),
        rotateImmediatelyOnUpdate: false,
      }),
    ];
    // The master secret is rotated as soon as its schedule exists: the endpoint must be there.
    if (endpoint) for (const schedule of schedules) schedule.node.addDependency(endpoint);
  }

  /** Read, write and list the blob store prefix of the bucket, nothing else in it. */
  grantDataPrefix(role: iam.Role): void {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DataObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [this.bucket.arnForObjects(`${DATA_PREFIX}/*`)],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListDataPrefix',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        // IfExists: the blob store's readiness probe is HeadBucket, which needs s3:ListBucket and
        // carries no prefix. Listings that name a prefix are held to the data prefix.
        conditions: { StringLikeIfExists: { 's3:prefix': [`${DATA_PREFIX}/*`, DATA_PREFIX] } },
      }),
    );
    acknowledgeWildcards(role, [`${nagRef(this.bucket, 'Arn')}/${DATA_PREFIX}/*`], 'Any object under the data/ prefix of the bucket: blob keys are made at run time.');
  }
}
