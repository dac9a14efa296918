// What outlives a deployment: the S3 bucket (blobs under data/, CodeDeploy revisions under
// releases/), the RDS MySQL database and its generated secret, the ECR repositories, the log groups.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { DATABASE_NAME, DATA_PREFIX, RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import { StackPart } from './group.ts';
import type { Network } from './network.ts';

export class Data extends StackPart {
  readonly bucket: s3.Bucket;
  /** TRAINYARD_BLOB_URL: the data prefix of the bucket. */
  readonly blobUrl: string;
  readonly database: rds.DatabaseInstance;
  readonly dbSecret: secretsmanager.ISecret;
  readonly apiRepository: ecr.Repository;
  readonly trainerRepository: ecr.Repository;
  readonly apiLogs: logs.LogGroup;
  readonly jobLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, s: TrainyardSettings, network: Network) {
    super(scope, id);
    this.bucket = new s3.Bucket(this.home, 'Bucket', {
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
    this.blobUrl = `s3://${this.bucket.bucketName}/${DATA_PREFIX}`;

    this.database = new rds.DatabaseInstance(this.home, 'Database', {
      engine: rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.VER_8_4_7 }),
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
      deletionProtection: false,
      // Deleting the stack keeps a final snapshot (docs/deploy.md says how to remove it).
      removalPolicy: RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
    });
    this.dbSecret = this.database.secret!;

    const repositoryProps: ecr.RepositoryProps = {
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.MUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      lifecycleRules: [{ description: 'keep the last 30 images', maxImageCount: 30 }],
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.apiRepository = new ecr.Repository(this.home, 'ApiRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/api` });
    this.trainerRepository = new ecr.Repository(this.home, 'TrainerRepository', { ...repositoryProps, repositoryName: `${s.stackName.toLowerCase()}/trainer` });

    this.apiLogs = new logs.LogGroup(this.home, 'ApiLogs', { logGroupName: `/${s.stackName.toLowerCase()}/api`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.jobLogs = new logs.LogGroup(this.home, 'JobLogs', { logGroupName: `/${s.stackName.toLowerCase()}/jobs`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
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
  }
}
