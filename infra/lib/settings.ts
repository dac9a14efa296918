// The stack's settings: `trainyard:<name>` CDK context values (infra/cdk.json, or `-c` on the
// command line), their defaults, and the constants the constructs share.

export interface TrainyardSettings {
  stackName: string;
  /**
   * Tag of the trainer image the training and inference job definitions run: the commit SHA
   * (deploy.yml passes it). Required, and never `latest`: ECR tags are immutable.
   */
  imageTag: string;
  /**
   * Tag of the image the migrate job definition runs; defaults to imageTag. deploy.yml first
   * deploys with the new tag here and the running one in imageTag, runs the migrate job, and
   * only then switches imageTag (docs/deploy.md, "How a release rolls out").
   */
  migrateImageTag: string | undefined;
  /** Also create GPU EC2 compute environments (Spot, then on-demand) and send training there. */
  gpu: boolean;
  natGateways: number;
  apiInstanceType: string;
  apiMinCapacity: number;
  apiMaxCapacity: number;
  dbInstanceType: string;
  dbMultiAz: boolean;
  batchMaxVcpus: number;
  /** Fargate size of a training job (vCPU, GiB); a valid Fargate pair. */
  trainingCpu: number;
  trainingMemoryGiB: number;
  /** Fargate size of a batch inference job (vCPU, GiB); a valid Fargate pair. */
  inferenceCpu: number;
  inferenceMemoryGiB: number;
  /** Who may reach the load balancer. */
  allowedCidr: string;
  /** ACM certificate for the HTTPS listener (:80 redirects to :443). Required unless insecureHttp. */
  certificateArn: string | undefined;
  /** Serve plain HTTP on :80 without a certificate: trials only, tokens travel in clear text. */
  insecureHttp: boolean;
  /** Where alarm notifications go besides the SNS topic (an email subscription), if set. */
  alarmEmail: string | undefined;
  /** "owner/repo": create a role GitHub Actions in that repository can assume from githubEnvironment. */
  githubRepository: string | undefined;
  /** The GitHub environment deploy.yml's deploy job runs in: the OIDC subject the role trusts. */
  githubEnvironment: string;
  /** Create the account's GitHub OIDC provider (only one may exist per account). */
  createGithubOidcProvider: boolean;
  /** `cdk bootstrap` qualifier: the deploy role may assume exactly those bootstrap roles. */
  cdkQualifier: string;
}

export const DEFAULT_SETTINGS: TrainyardSettings = {
  stackName: 'Trainyard',
  imageTag: '',
  migrateImageTag: undefined,
  gpu: false,
  natGateways: 0,
  apiInstanceType: 't4g.small',
  apiMinCapacity: 1,
  apiMaxCapacity: 3,
  dbInstanceType: 't4g.micro',
  dbMultiAz: false,
  batchMaxVcpus: 16,
  trainingCpu: 2,
  trainingMemoryGiB: 4,
  inferenceCpu: 1,
  inferenceMemoryGiB: 2,
  allowedCidr: '0.0.0.0/0',
  certificateArn: undefined,
  insecureHttp: false,
  alarmEmail: undefined,
  githubRepository: undefined,
  githubEnvironment: 'production',
  createGithubOidcProvider: false,
  cdkQualifier: 'hnb659fds',
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
    migrateImageTag: str('migrateImageTag', d.migrateImageTag),
    gpu: bool('gpu', d.gpu),
    natGateways: num('natGateways', d.natGateways),
    apiInstanceType: str('apiInstanceType', d.apiInstanceType)!,
    apiMinCapacity: num('apiMinCapacity', d.apiMinCapacity),
    apiMaxCapacity: num('apiMaxCapacity', d.apiMaxCapacity),
    dbInstanceType: str('dbInstanceType', d.dbInstanceType)!,
    dbMultiAz: bool('dbMultiAz', d.dbMultiAz),
    batchMaxVcpus: num('batchMaxVcpus', d.batchMaxVcpus),
    trainingCpu: num('trainingCpu', d.trainingCpu),
    trainingMemoryGiB: num('trainingMemoryGiB', d.trainingMemoryGiB),
    inferenceCpu: num('inferenceCpu', d.inferenceCpu),
    inferenceMemoryGiB: num('inferenceMemoryGiB', d.inferenceMemoryGiB),
    allowedCidr: str('allowedCidr', d.allowedCidr)!,
    certificateArn: str('certificateArn', d.certificateArn),
    insecureHttp: bool('insecureHttp', d.insecureHttp),
    alarmEmail: str('alarmEmail', d.alarmEmail),
    githubRepository: str('githubRepository', d.githubRepository),
    githubEnvironment: str('githubEnvironment', d.githubEnvironment)!,
    createGithubOidcProvider: bool('createGithubOidcProvider', d.createGithubOidcProvider),
    cdkQualifier: str('cdkQualifier', d.cdkQualifier)!,
  };
}

/** Refuses settings that would deploy something broken or unsafe; each message says what to set. */
export function validateSettings(s: TrainyardSettings): void {
  const problems: string[] = [];
  const tag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$/;
  if (!s.imageTag) problems.push('trainyard:imageTag is required: the commit SHA whose images CI pushed (deploy.yml passes -c trainyard:imageTag=$GITHUB_SHA)');
  for (const [name, value] of [['imageTag', s.imageTag], ['migrateImageTag', s.migrateImageTag]] as const) {
    if (!value) continue;
    if (/^latest\b/.test(value)) problems.push(`trainyard:${name} must name one build (the commit SHA), not "${value}": ECR tags are immutable and "latest" would deploy whatever was pushed last`);
    else if (!tag.test(value)) problems.push(`trainyard:${name} "${value}" is not a valid image tag`);
  }
  if (!s.certificateArn && !s.insecureHttp) {
    problems.push('trainyard:certificateArn is required (an ACM certificate for the load balancer, docs/deploy.md step 3); for a trial without one set trainyard:insecureHttp=true, and tokens travel in clear text');
  }
  if (s.certificateArn && !/^arn:aws[\w-]*:acm:[\w-]+:\d{12}:certificate\/[\w-]+$/.test(s.certificateArn)) problems.push(`trainyard:certificateArn "${s.certificateArn}" is not an ACM certificate ARN`);
  if (s.githubRepository && !/^[\w.-]+\/[\w.-]+$/.test(s.githubRepository)) problems.push(`trainyard:githubRepository must be owner/repo, got "${s.githubRepository}"`);
  if (s.apiMinCapacity < 1 || s.apiMaxCapacity < s.apiMinCapacity) problems.push('trainyard:apiMinCapacity must be at least 1 and at most apiMaxCapacity');
  if (problems.length) throw new Error(`Trainyard settings:\n  - ${problems.join('\n  - ')}`);
}

export const API_PORT = 8080;
export const DATABASE_NAME = 'trainyard';
/** The user the API and the jobs log in as (DML only; the master user runs migrations). */
export const APP_DATABASE_USER = 'trainyard_app';
/** Blob store prefix (TRAINYARD_BLOB_URL) and CodeDeploy revision prefix inside the bucket. */
export const DATA_PREFIX = 'data';
export const RELEASES_PREFIX = 'releases';
