// Assertions on the synthesized CloudFormation template (offline: no AWS account or network).
//   npm test        (node --import tsx --test test/*.test.ts)
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { TrainyardStack, settingsFromContext, type TrainyardSettings } from '../lib/trainyard-stack.ts';

type Json = Record<string, unknown>;

function synth(settings: Partial<TrainyardSettings> = {}): Template {
  const app = new App();
  return Template.fromStack(new TrainyardStack(app, 'Trainyard', { settings }));
}

function resourcesOf(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type)) as [string, Json][];
}

/** Every IAM statement in the template: inline policies of roles and AWS::IAM::Policy documents. */
function statements(template: Template): { owner: string; statement: Json }[] {
  const out: { owner: string; statement: Json }[] = [];
  for (const [id, policy] of resourcesOf(template, 'AWS::IAM::Policy')) {
    const props = policy.Properties as Json;
    for (const statement of (props.PolicyDocument as Json).Statement as Json[]) out.push({ owner: id, statement });
  }
  for (const [id, role] of resourcesOf(template, 'AWS::IAM::Role')) {
    for (const inline of ((role.Properties as Json).Policies as Json[] | undefined) ?? []) {
      for (const statement of (inline.PolicyDocument as Json).Statement as Json[]) out.push({ owner: id, statement });
    }
  }
  return out;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

let template: Template;
let json: string;
before(() => {
  template = synth();
  json = JSON.stringify(template.toJSON());
});

describe('S3 bucket', () => {
  it('is encrypted, versioned, blocks all public access and refuses plain HTTP', () => {
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });
});

describe('RDS MySQL', () => {
  it('is MySQL 8.4, encrypted, private, and its password is a Secrets Manager reference', () => {
    const [[, db]] = resourcesOf(template, 'AWS::RDS::DBInstance');
    const props = db.Properties as Json;
    assert.equal(props.Engine, 'mysql');
    assert.match(String(props.EngineVersion), /^8\.4\./);
    assert.equal(props.StorageEncrypted, true);
    assert.equal(props.PubliclyAccessible, false);
    assert.equal(db.DeletionPolicy, 'Snapshot');
    // {{resolve:secretsmanager:<secret>:SecretString:password::}} assembled with Fn::Join, never a literal.
    const password = JSON.stringify(props.MasterUserPassword);
    assert.match(password, /\{\{resolve:secretsmanager:/);
    assert.match(password, /SecretString:password/);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"trainyard"}' }),
    });
    for (const [, secret] of resourcesOf(template, 'AWS::SecretsManager::Secret')) {
      assert.equal((secret.Properties as Json).SecretString, undefined, 'a secret with a literal value');
    }
  });

  it('has no plain-text password or database URL anywhere in the template', () => {
    assert.doesNotMatch(json, /mysql:\/\//);
    assert.doesNotMatch(json, /TRAINYARD_DATABASE_URL/);
    const offenders: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
      else if (value && typeof value === 'object') {
        for (const [key, v] of Object.entries(value)) {
          if (/password/i.test(key) && key !== 'GenerateStringKey' && typeof v === 'string') offenders.push(`${path}.${key}`);
          walk(v, `${path}.${key}`);
        }
      } else if (typeof value === 'string' && /password\s*[=:]\s*[^\s{"]/i.test(value) && !/SecretString:password/.test(value)) {
        offenders.push(path);
      }
    };
    walk(template.toJSON(), '$');
    assert.deepEqual(offenders, []);
  });
});

describe('IAM', () => {
  const WILDCARD_ALLOWED = new Set([
    'ecr:GetAuthorizationToken', // no resource-level permissions
    'batch:DescribeJobs', // no resource-level permissions
  ]);
  const MANAGED_ALLOWED = [/AmazonSSMManagedInstanceCore$/, /service-role\/AWSCodeDeployRole$/, /service-role\/AWSLambdaBasicExecutionRole$/];

  it('grants no "*" actions, and "*" resources only to actions that have no resource-level permissions', () => {
    for (const { owner, statement } of statements(template)) {
      if (statement.Effect !== 'Allow') continue;
      const actions = list(statement.Action).map(String);
      for (const action of actions) assert.ok(action !== '*' && !action.endsWith(':*'), `${owner}: action ${action}`);
      if (list(statement.Resource).includes('*')) {
        for (const action of actions) assert.ok(WILDCARD_ALLOWED.has(action), `${owner}: ${action} on "*"`);
      }
    }
  });

  it('attaches only the expected AWS managed policies', () => {
    for (const [id, role] of resourcesOf(template, 'AWS::IAM::Role')) {
      for (const arn of ((role.Properties as Json).ManagedPolicyArns as unknown[] | undefined) ?? []) {
        const text = JSON.stringify(arn).replace(/[^\w/:.-]/g, '');
        assert.ok(MANAGED_ALLOWED.some((r) => r.test(text)), `${id}: managed policy ${text}`);
      }
    }
  });

  it('lets the API submit, describe and terminate Batch jobs on its queue and job definition only', () => {
    const api = statements(template).filter((s) => s.owner.startsWith('ApiInstanceRole'));
    const byAction = (a: string) => api.filter((s) => list(s.statement.Action).includes(a));
    const submit = byAction('batch:SubmitJob');
    assert.equal(submit.length, 1);
    const resources = JSON.stringify(submit[0].statement.Resource);
    assert.match(resources, /JobQueue[\w]*","JobQueueArn"/);
    assert.match(resources, /job-definition\/Trainyard-run-job"/);
    assert.doesNotMatch(resources, /"\*"/);
    assert.match(JSON.stringify(byAction('batch:TerminateJob')[0].statement.Resource), /:job\/\*/);
    assert.deepEqual(byAction('batch:TagResource')[0].statement.Condition, { StringEquals: { 'batch:CreateAction': 'SubmitJob' } });
    const batchActions = new Set(api.flatMap((s) => list(s.statement.Action).map(String)).filter((a) => a.startsWith('batch:')));
    assert.deepEqual([...batchActions].sort(), ['batch:DescribeJobs', 'batch:SubmitJob', 'batch:TagResource', 'batch:TerminateJob']);
  });

  it('scopes the API and job roles to the bucket prefix and the database secret', () => {
    for (const prefix of ['ApiInstanceRole', 'JobRole']) {
      const own = statements(template).filter((s) => s.owner.startsWith(prefix) && !s.owner.startsWith('JobExecutionRole'));
      const s3 = own.filter((s) => list(s.statement.Action).some((a) => String(a).startsWith('s3:')));
      for (const { statement } of s3) {
        const resource = JSON.stringify(statement.Resource);
        if (list(statement.Action).includes('s3:ListBucket')) {
          assert.deepEqual(statement.Condition, { StringLikeIfExists: { 's3:prefix': ['data/*', 'data'] } });
        } else {
          assert.match(resource, /\/(data|releases)\/\*"/, `${prefix}: ${resource}`);
        }
      }
      const secrets = own.filter((s) => list(s.statement.Action).some((a) => String(a).startsWith('secretsmanager:')));
      assert.ok(secrets.length > 0 || prefix === 'JobRole');
      for (const { statement } of secrets) assert.match(JSON.stringify(statement.Resource), /^\{"Ref":"DatabaseSecretAttachment\w+"\}$/);
    }
    // The job role (inside the container) cannot read the secret: the ECS agent injects it.
    assert.equal(statements(template).filter((s) => s.owner.startsWith('JobRole') && JSON.stringify(s.statement).includes('secretsmanager')).length, 0);
  });
});

describe('API: load balancer, Auto Scaling group, CodeDeploy', () => {
  it('health-checks /readyz on the API port', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/readyz', Port: 8080, Protocol: 'HTTP', Matcher: { HttpCode: '200' } });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80 });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
  });

  it('runs instances with IMDSv2, encrypted disks and an env file that names the secret, not the password', () => {
    const [[, lt]] = resourcesOf(template, 'AWS::EC2::LaunchTemplate');
    const data = (lt.Properties as Json).LaunchTemplateData as Json;
    assert.deepEqual((data.MetadataOptions as Json).HttpTokens, 'required');
    assert.equal(((data.BlockDeviceMappings as Json[])[0].Ebs as Json).Encrypted, true);
    const userData = JSON.stringify(data.UserData);
    assert.match(userData, /TRAINYARD_DB_SECRET_ARN=/);
    assert.match(userData, /TRAINYARD_EXECUTOR=aws-batch/);
    assert.match(userData, /TRAINYARD_AUTH=on/);
    assert.match(userData, /codedeploy-agent/);
    assert.doesNotMatch(userData, /password/i);
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '1', MaxSize: '3', TargetGroupARNs: Match.anyValue() });
  });

  it('deploys with CodeDeploy to the Auto Scaling group, one instance at a time, rolling back on failure', () => {
    template.hasResourceProperties('AWS::CodeDeploy::Application', { ComputePlatform: 'Server' });
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AutoScalingGroups: [Match.anyValue()],
      DeploymentConfigName: 'CodeDeployDefault.OneAtATime',
      AutoRollbackConfiguration: { Enabled: true, Events: Match.arrayWith(['DEPLOYMENT_FAILURE']) },
      LoadBalancerInfo: { TargetGroupInfoList: [Match.anyValue()] },
    });
  });

  it('lets only the load balancer reach the API and only the API and jobs reach the database', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 8080, ToPort: 8080, SourceSecurityGroupId: Match.anyValue() });
    const dbIngress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => (r.Properties as Json).FromPort === 3306);
    assert.equal(dbIngress.length, 2);
    for (const [, r] of dbIngress) assert.ok((r.Properties as Json).SourceSecurityGroupId, 'database ingress from a CIDR');
  });
});

describe('AWS Batch', () => {
  it('has a Fargate Spot compute environment and a job queue', () => {
    template.hasResourceProperties('AWS::Batch::ComputeEnvironment', { Type: 'managed', ComputeResources: Match.objectLike({ Type: 'FARGATE_SPOT' }) });
    template.resourceCountIs('AWS::Batch::JobQueue', 1);
  });

  it('runs `trainyard run-job <id>` in the trainer image with the database secret by reference', () => {
    const [[, definition]] = resourcesOf(template, 'AWS::Batch::JobDefinition');
    const props = definition.Properties as Json;
    const container = props.ContainerProperties as Json;
    assert.deepEqual(container.Command, ['run-job', 'Ref::jobId']);
    assert.deepEqual(props.PlatformCapabilities, ['FARGATE']);
    assert.match(JSON.stringify(container.Image), /TrainerRepository.*:latest/);
    assert.match(JSON.stringify(container.Secrets), /^\[\{"Name":"TRAINYARD_DB_SECRET","ValueFrom":\{"Ref":"DatabaseSecretAttachment\w+"\}\}\]$/);
    const names = (container.Environment as Json[]).map((e) => e.Name);
    assert.ok(names.includes('TRAINYARD_BLOB_URL'));
    for (const name of names) assert.doesNotMatch(String(name), /PASSWORD|DATABASE_URL/);
  });
});

describe('images, logs and outputs', () => {
  it('has api and trainer ECR repositories that scan on push', () => {
    template.resourceCountIs('AWS::ECR::Repository', 2);
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'trainyard/api', ImageScanningConfiguration: { ScanOnPush: true } });
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'trainyard/trainer' });
  });

  it('keeps logs for a month', () => {
    for (const [, group] of resourcesOf(template, 'AWS::Logs::LogGroup')) assert.equal((group.Properties as Json).RetentionInDays, 30);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  it('outputs the URL, bucket, queue and what the deploy workflow needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs as Json);
    for (const name of ['Url', 'BucketName', 'JobQueueArn', 'JobDefinitionName', 'DatabaseSecretArn', 'ApiRepositoryUri', 'TrainerRepositoryUri', 'CodeDeployApplicationName', 'CodeDeployDeploymentGroupName']) {
      assert.ok(outputs.includes(name), `output ${name}`);
    }
  });
});

describe('options', () => {
  it('reads settings from CDK context (strings from -c, values from cdk.json)', () => {
    const context: Record<string, unknown> = { 'trainyard:gpu': 'true', 'trainyard:natGateways': '1', 'trainyard:imageTag': 'abc123', 'trainyard:dbMultiAz': false };
    const s = settingsFromContext((k) => context[k]);
    assert.equal(s.gpu, true);
    assert.equal(s.natGateways, 1);
    assert.equal(s.imageTag, 'abc123');
    assert.equal(s.dbMultiAz, false);
    assert.throws(() => settingsFromContext((k) => (k === 'trainyard:natGateways' ? 'two' : undefined)), /whole number/);
  });

  it('with gpu, private subnets and a GitHub repository: GPU queue, NAT, HTTPS and an OIDC deploy role locked to main', () => {
    const t = synth({ gpu: true, natGateways: 1, githubRepository: 'acme/trainyard', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc', imageTag: 'sha1' });
    t.hasResourceProperties('AWS::Batch::ComputeEnvironment', { ComputeResources: Match.objectLike({ Type: 'EC2', Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }] }) });
    t.hasResourceProperties('AWS::Batch::JobDefinition', {
      JobDefinitionName: 'Trainyard-run-job-gpu',
      ContainerProperties: Match.objectLike({ Command: ['run-job', 'Ref::jobId'], ResourceRequirements: Match.arrayWith([{ Type: 'GPU', Value: '1' }]) }),
    });
    assert.match(JSON.stringify(t.toJSON()), /:sha1-cuda/);
    t.resourceCountIs('AWS::EC2::NatGateway', 1);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS' });
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: {
              StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
              StringLike: { 'token.actions.githubusercontent.com:sub': 'repo:acme/trainyard:ref:refs/heads/main' },
            },
          }),
        ],
      },
    });
    // Still least privilege with every option on.
    for (const { owner, statement } of statements(t)) {
      for (const action of list(statement.Action).map(String)) assert.ok(action !== '*' && !action.endsWith(':*'), `${owner}: ${action}`);
    }
  });
});
