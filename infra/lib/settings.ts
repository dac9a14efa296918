// The stack's settings: `trainyard:<name>` CDK context values (infra/cdk.json, or `-c` on the
// command line), their defaults, and the constants the constructs share.

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

export const API_PORT = 8080;
export const DATABASE_NAME = 'trainyard';
/** Blob store prefix (TRAINYARD_BLOB_URL) and CodeDeploy revision prefix inside the bucket. */
export const DATA_PREFIX = 'data';
export const RELEASES_PREFIX = 'releases';
