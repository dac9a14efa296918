// Assertions on the synthesized CloudFormation template (offline: no AWS account or network).
//   npm test        (node --import tsx --test test/*.test.ts)
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { INTERRUPTED_EXIT_CODE } from '../lib/constructs/batch.ts';
import { TrainyardStack, settingsFromContext, type TrainyardSettings } from '../lib/trainyard-stack.ts';

type Json = Record<string, unknown>;

const cdkContext = (JSON.parse(readFileSync(join(import.meta.dirname, '../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
export const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/abc';
/** What every deployment must set: the release's image tag and a certificate. */
const REQUIRED: Partial<TrainyardSettings> = { imageTag: 'abc123', certificateArn: CERTIFICATE };

function synth(settings: Partial<TrainyardSettings> = {}): Template {
  const app = new App({ context: cdkContext });
  return Template.fromStack(new TrainyardStack(app, 'Trainyard', { settings: { ...REQUIRED, ...settings } }));
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

/** The API settings parameter as NAME → value; a CloudFormation reference in a value is its JSON. */
function apiSettings(t: Template): Record<string, string> {
  const [[, parameter]] = resourcesOf(t, 'AWS::SSM::Parameter');
  const value = (parameter.Properties as Json).Value as string | { 'Fn::Join': [string, unknown[]] };
  const text = typeof value === 'string' ? value : value['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(value['Fn::Join'][0]);
  return Object.fromEntries(text.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

let template: Template;
let json: string;
before(() => {
  template = synth();
  json = JSON.stringify(template.toJSON());
});

describe('S3 bucket', () => {
  it('is encrypted, versioned, blocks all public access and refuses plain HTTP', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2); // data, and access logs
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
    assert.equal(props.DeletionProtection, true);
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

  it('requires TLS (parameter group), and every client is told to verify it with the RDS CA', () => {
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', { Family: Match.stringLikeRegexp('^mysql8\\.4'), Parameters: { require_secure_transport: '1' } });
    const [[groupId]] = resourcesOf(template, 'AWS::RDS::DBParameterGroup');
    template.hasResourceProperties('AWS::RDS::DBInstance', { DBParameterGroupName: { Ref: groupId } });
    for (const [id, definition] of resourcesOf(template, 'AWS::Batch::JobDefinition')) {
      const env = ((definition.Properties as Json).ContainerProperties as Json).Environment as Json[];
      assert.ok(env.some((e) => e.Name === 'TRAINYARD_DATABASE_TLS' && e.Value === 'rds'), id);
    }
    template.hasResourceProperties('AWS::SSM::Parameter', { Value: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('TRAINYARD_DATABASE_TLS=rds')])]) }) });
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
    assert.match(resources, /job-definition\/Trainyard-training"/);
    assert.match(resources, /job-definition\/Trainyard-inference"/);
    assert.doesNotMatch(resources, /migrate/);
    assert.doesNotMatch(resources, /"\*"/);
    const terminate = byAction('batch:TerminateJob')[0].statement;
    assert.match(JSON.stringify(terminate.Resource), /:job\/\*/);
    // Only jobs the API tagged at submit (src/…/aws-batch-executor.ts tags trainyard:job).
    assert.deepEqual(terminate.Condition, { StringLike: { 'aws:ResourceTag/trainyard:job': '*' } });
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
      // The application user's secret only (read at connect time); never the master user's.
      const secrets = own.filter((s) => list(s.statement.Action).some((a) => String(a).startsWith('secretsmanager:')));
      assert.ok(secrets.length > 0, prefix);
      for (const { statement } of secrets) assert.match(JSON.stringify(statement.Resource), /^\{"Ref":"AppDatabaseSecretAttachment\w+"\}$/);
    }
  });
});

describe('database secrets and their rotation', () => {
  it('rotates the master secret (single user) and the application secret (multi user, with the master) every 30 days, hosted, in the VPC', () => {
    const schedules = resourcesOf(template, 'AWS::SecretsManager::RotationSchedule').map(([, r]) => r.Properties as Json);
    const byType = Object.fromEntries(schedules.map((p) => [(p.HostedRotationLambda as Json).RotationType, p]));
    assert.deepEqual(Object.keys(byType).sort(), ['MySQLMultiUser', 'MySQLSingleUser']);
    assert.match(JSON.stringify(byType.MySQLSingleUser.SecretId), /^\{"Ref":"DatabaseSecretAttachment\w+"\}$/);
    assert.match(JSON.stringify(byType.MySQLMultiUser.SecretId), /^\{"Ref":"AppDatabaseSecretAttachment\w+"\}$/);
    assert.match(JSON.stringify((byType.MySQLMultiUser.HostedRotationLambda as Json).MasterSecretArn), /^\{"Ref":"DatabaseSecretAttachment\w+"\}$/);
    // The application user is created by the first migrate job: its rotation waits for the schedule.
    assert.equal(byType.MySQLMultiUser.RotateImmediatelyOnUpdate, false);
    for (const p of schedules) {
      assert.deepEqual(p.RotationRules, { ScheduleExpression: 'rate(30 days)' });
      assert.ok((p.HostedRotationLambda as Json).VpcSubnetIds && (p.HostedRotationLambda as Json).VpcSecurityGroupIds);
    }
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: { 'Fn::Join': ['', [Match.stringLikeRegexp('"username":"trainyard_app".*"masterarn":"'), Match.anyValue(), '"}']] } }),
    });
  });

  it('lets the rotation functions reach the database, and without NAT, Secrets Manager through an endpoint the API and jobs may use too', () => {
    const rules = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties as Json);
    assert.ok(rules.some((r) => r.FromPort === 3306 && JSON.stringify(r.SourceSecurityGroupId).includes('SecretRotationSecurityGroup')));
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Interface', PrivateDnsEnabled: true, ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['.secretsmanager'])] }) });
    const endpointRules = rules.filter((r) => r.FromPort === 443 && JSON.stringify(r.GroupId).includes('SecretsManagerEndpoint'));
    assert.deepEqual(endpointRules.map((r) => JSON.stringify(r.SourceSecurityGroupId).match(/(SecretRotation|Api|Batch)SecurityGroup/)?.[1]).sort(), ['Api', 'Batch', 'SecretRotation']);
    // With NAT gateways the functions use the private subnets' route out instead.
    synth({ natGateways: 1 }).resourceCountIs('AWS::EC2::VPCEndpoint', 1); // S3's gateway endpoint only
  });
});

describe('API: load balancer, Auto Scaling group, CodeDeploy', () => {
  it('health-checks /readyz on the API port, and the Auto Scaling group replaces instances that fail it', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/readyz', Port: 8080, Protocol: 'HTTP', Matcher: { HttpCode: '200' } });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { HealthCheckType: 'ELB', HealthCheckGracePeriod: 900 });
  });

  it('serves HTTPS, redirects :80 to it, and answers /metrics with 403', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: CERTIFICATE }] });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' }) })],
    });
    const [[httpsId]] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::Listener').filter(([, l]) => (l.Properties as Json).Port === 443);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      ListenerArn: { Ref: httpsId },
      Conditions: [Match.objectLike({ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } })],
      Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '403' }) })],
    });
  });

  it('protects the load balancer from deletion and logs its requests to the logs bucket', () => {
    const [[, alb]] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const attributes = Object.fromEntries(((alb.Properties as Json).LoadBalancerAttributes as { Key: string; Value: unknown }[]).map((a) => [a.Key, a.Value]));
    assert.equal(attributes['deletion_protection.enabled'], 'true');
    assert.equal(attributes['access_logs.s3.enabled'], 'true');
    assert.equal(attributes['access_logs.s3.prefix'], 'alb');
    assert.deepEqual(attributes['access_logs.s3.bucket'], { Ref: 'AccessLogs8B620ECA' });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'AccessLogs8B620ECA' },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'LoadBalancerAccessLogs', Action: 's3:PutObject' })]) },
    });
  });

  it('without a certificate, refuses to synthesize unless insecureHttp is set, which serves plain :80', () => {
    assert.throws(() => synth({ certificateArn: undefined }), /certificateArn is required.*insecureHttp/s);
    const t = synth({ certificateArn: undefined, insecureHttp: true });
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP', DefaultActions: [Match.objectLike({ Type: 'forward' })] });
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::ListenerRule', 1);
  });

  it('runs instances with IMDSv2 and encrypted disks, no compiler or npm, settings from an SSM parameter that names the secret, not the password', () => {
    const [[, lt]] = resourcesOf(template, 'AWS::EC2::LaunchTemplate').filter(([id]) => id.startsWith('ApiLaunchTemplate'));
    const data = (lt.Properties as Json).LaunchTemplateData as Json;
    assert.deepEqual((data.MetadataOptions as Json).HttpTokens, 'required');
    assert.equal(((data.BlockDeviceMappings as Json[])[0].Ebs as Json).Encrypted, true);
    const userData = JSON.stringify(data.UserData);
    assert.match(userData, /codedeploy-agent/);
    assert.match(userData, /TRAINYARD_ENV_PARAMETER=\/Trainyard\/api\/env/);
    // The revision brings node_modules built in CI: hosts never compile or run npm.
    assert.doesNotMatch(userData, /gcc|g\+\+|make |npm/);
    assert.doesNotMatch(userData, /password/i);
    const [[parameterId, parameter]] = resourcesOf(template, 'AWS::SSM::Parameter');
    assert.equal((parameter.Properties as Json).Name, '/Trainyard/api/env');
    const settings = JSON.stringify((parameter.Properties as Json).Value);
    for (const line of ['TRAINYARD_DATABASE_SECRET_ARN=', 'TRAINYARD_EXECUTOR=aws-batch', 'TRAINYARD_AUTH=on', 'TRAINYARD_AUTO_MIGRATE=false', 'TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION=Trainyard-inference']) {
      assert.ok(settings.includes(line), line);
    }
    assert.doesNotMatch(settings, /password/i);
    const read = statements(template).filter((st) => st.owner.startsWith('ApiInstanceRole') && list(st.statement.Action).includes('ssm:GetParameter'));
    assert.equal(read.length, 1);
    assert.match(JSON.stringify(read[0].statement.Resource), new RegExp(`parameter/Trainyard/api/env|${parameterId}`));
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '1', MaxSize: '3', TargetGroupARNs: Match.anyValue() });
  });

  it('deploys with CodeDeploy to the Auto Scaling group, one instance at a time, rolling back on failure and on a load balancer alarm', () => {
    template.hasResourceProperties('AWS::CodeDeploy::Application', { ComputePlatform: 'Server' });
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AutoScalingGroups: [Match.anyValue()],
      DeploymentConfigName: 'CodeDeployDefault.OneAtATime',
      AutoRollbackConfiguration: { Enabled: true, Events: Match.arrayWith(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']) },
      LoadBalancerInfo: { TargetGroupInfoList: [Match.anyValue()] },
    });
    const [[, group]] = resourcesOf(template, 'AWS::CodeDeploy::DeploymentGroup');
    const alarms = ((group.Properties as Json).AlarmConfiguration as { Enabled: boolean; Alarms: { Name: { Ref: string } }[] });
    assert.equal(alarms.Enabled, true);
    assert.deepEqual(alarms.Alarms.map((a) => a.Name.Ref.replace(/[0-9A-F]{8}$/, '')).sort(), ['Api5xx', 'LoadBalancer5xx', 'UnhealthyHosts']);
  });

  it('lets only the load balancer reach the API and only the API, jobs and secret rotation reach the database', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 8080, ToPort: 8080, SourceSecurityGroupId: Match.anyValue() });
    const dbIngress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => (r.Properties as Json).FromPort === 3306);
    const sources = dbIngress.map(([, r]) => JSON.stringify((r.Properties as Json).SourceSecurityGroupId).match(/(Api|Batch|SecretRotation)SecurityGroup/)?.[1]);
    assert.deepEqual(sources.sort(), ['Api', 'Batch', 'SecretRotation'], 'database ingress only from these security groups');
  });
});

function definitionNamed(t: Template, name: string): Json {
  const found = resourcesOf(t, 'AWS::Batch::JobDefinition').find(([, d]) => (d.Properties as Json).JobDefinitionName === name);
  assert.ok(found, `job definition ${name}`);
  return found[1].Properties as Json;
}

describe('AWS Batch', () => {
  it('queues on Fargate Spot first, then on-demand Fargate; migrations on on-demand only', () => {
    const environments = resourcesOf(template, 'AWS::Batch::ComputeEnvironment');
    const typeOf = (id: string) => ((environments.find(([e]) => e === id)![1].Properties as Json).ComputeResources as Json).Type;
    const queues = resourcesOf(template, 'AWS::Batch::JobQueue');
    assert.equal(queues.length, 2);
    const order = (queue: Json) =>
      ((queue.Properties as Json).ComputeEnvironmentOrder as { Order: number; ComputeEnvironment: { 'Fn::GetAtt': [string, string] } }[])
        .sort((a, b) => a.Order - b.Order)
        .map((e) => typeOf(e.ComputeEnvironment['Fn::GetAtt'][0]));
    assert.deepEqual(order(queues.find(([id]) => id.startsWith('JobQueue'))![1]), ['FARGATE_SPOT', 'FARGATE']);
    assert.deepEqual(order(queues.find(([id]) => id.startsWith('MigrateQueue'))![1]), ['FARGATE']);
  });

  it('has separate training and inference job definitions, sized per stack', () => {
    const t = synth({ trainingCpu: 4, trainingMemoryGiB: 16, inferenceCpu: 1, inferenceMemoryGiB: 3 });
    const size = (name: string) =>
      Object.fromEntries((((definitionNamed(t, name).ContainerProperties as Json).ResourceRequirements as { Type: string; Value: string }[]) ?? []).map((r) => [r.Type, r.Value]));
    assert.deepEqual(size('Trainyard-training'), { VCPU: '4', MEMORY: '16384' });
    assert.deepEqual(size('Trainyard-inference'), { VCPU: '1', MEMORY: '3072' });
  });

  it(`retries lost hosts, Spot reclaims and the trainer's exit ${INTERRUPTED_EXIT_CODE}, and exits on any other failure`, () => {
    for (const name of ['Trainyard-training', 'Trainyard-inference']) {
      const retry = definitionNamed(template, name).RetryStrategy as { Attempts: number; EvaluateOnExit: Json[] };
      assert.equal(retry.Attempts, 3);
      const rules = retry.EvaluateOnExit;
      const retried = rules.filter((r) => r.Action === 'RETRY');
      assert.ok(retried.some((r) => r.OnStatusReason === 'Host EC2*'), 'EC2 host or Spot termination');
      assert.ok(retried.some((r) => String(r.OnStatusReason).startsWith('Your Spot Task was interrupted')), 'Fargate Spot interruption');
      assert.ok(retried.some((r) => r.OnExitCode === String(INTERRUPTED_EXIT_CODE)), 'trainer: interrupted, retry me');
      // Batch takes the first rule that matches: the catch-all EXIT comes last.
      assert.deepEqual(rules[rules.length - 1], { Action: 'EXIT', OnExitCode: '*' });
    }
    const migrate = definitionNamed(template, 'Trainyard-migrate').RetryStrategy as { EvaluateOnExit: Json[] };
    assert.ok(!migrate.EvaluateOnExit.some((r) => r.Action === 'RETRY' && r.OnExitCode), 'a migration that started is never re-run');
  });

  it('names a training target and an inference target in the API settings: with gpu only training goes to the GPU queue', () => {
    for (const [t, gpu] of [[template, false], [synth({ gpu: true }), true]] as const) {
      const env = apiSettings(t);
      const queueOf = (name: string) => {
        const ref = env[name]!.match(/^\{"Fn::GetAtt":\["(\w+?)[0-9A-F]{8}","JobQueueArn"\]\}$/);
        assert.ok(ref, `${name}=${env[name]} is a job queue reference`);
        return ref[1];
      };
      assert.equal(queueOf('TRAINYARD_BATCH_JOB_QUEUE'), gpu ? 'GpuJobQueue' : 'JobQueue');
      assert.equal(env.TRAINYARD_BATCH_JOB_DEFINITION, gpu ? 'Trainyard-training-gpu' : 'Trainyard-training');
      assert.equal(queueOf('TRAINYARD_BATCH_INFERENCE_JOB_QUEUE'), 'JobQueue');
      assert.equal(env.TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION, 'Trainyard-inference');
      // Everything but training (inference, tuning drivers, exports) runs on Fargate, without a GPU.
      const inference = definitionNamed(t, 'Trainyard-inference');
      assert.deepEqual(inference.PlatformCapabilities, ['FARGATE']);
      assert.doesNotMatch(JSON.stringify(inference.ContainerProperties), /"GPU"/);
    }
  });

  it('runs `trainyard migrate` on migrateImageTag, and everything else on imageTag', () => {
    const t = synth({ imageTag: 'old111', migrateImageTag: 'new222' });
    const image = (name: string) => JSON.stringify((definitionNamed(t, name).ContainerProperties as Json).Image);
    assert.deepEqual((definitionNamed(t, 'Trainyard-migrate').ContainerProperties as Json).Command, ['migrate']);
    assert.match(image('Trainyard-migrate'), /:new222"/);
    assert.match(image('Trainyard-training'), /:old111"/);
    assert.match(image('Trainyard-inference'), /:old111"/);
    assert.match(JSON.stringify((definitionNamed(template, 'Trainyard-migrate').ContainerProperties as Json).Image), /:abc123"/);
  });

  it('runs `trainyard run-job <id>` in the trainer image with the database secret by reference', () => {
    const props = definitionNamed(template, 'Trainyard-training');
    const container = props.ContainerProperties as Json;
    assert.deepEqual(container.Command, ['run-job', 'Ref::jobId']);
    assert.deepEqual(props.PlatformCapabilities, ['FARGATE']);
    assert.match(JSON.stringify(container.Image), /TrainerRepository.*:abc123"/);
    // The job reads the application user's secret itself when it connects (rotation); only the
    // migrate job gets secrets injected: the master user's, and the application user's to create it.
    assert.equal(container.Secrets, undefined);
    assert.match(JSON.stringify(container.Environment), /\{"Name":"TRAINYARD_DATABASE_SECRET_ARN","Value":\{"Ref":"AppDatabaseSecretAttachment\w+"\}\}/);
    const migrate = definitionNamed(template, 'Trainyard-migrate').ContainerProperties as Json;
    assert.match(JSON.stringify(migrate.Secrets), /^\[\{"Name":"TRAINYARD_DB_SECRET","ValueFrom":\{"Ref":"DatabaseSecretAttachment\w+"\}\},\{"Name":"TRAINYARD_APP_DB_SECRET","ValueFrom":\{"Ref":"AppDatabaseSecretAttachment\w+"\}\}\]$/);
    assert.doesNotMatch(JSON.stringify(migrate.Environment), /TRAINYARD_DATABASE_SECRET_ARN/);
    const names = (container.Environment as Json[]).map((e) => e.Name);
    assert.ok(names.includes('TRAINYARD_BLOB_URL'));
    for (const name of names) assert.doesNotMatch(String(name), /PASSWORD|DATABASE_URL/);
  });
});

describe('images, logs and outputs', () => {
  it('has api and trainer ECR repositories that scan on push and never move a tag', () => {
    template.resourceCountIs('AWS::ECR::Repository', 2);
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'trainyard/api', ImageScanningConfiguration: { ScanOnPush: true }, ImageTagMutability: 'IMMUTABLE' });
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'trainyard/trainer', ImageTagMutability: 'IMMUTABLE' });
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'trainyard/trainer' });
  });

  it('keeps logs for a month', () => {
    for (const [, group] of resourcesOf(template, 'AWS::Logs::LogGroup')) assert.equal((group.Properties as Json).RetentionInDays, 30);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  it('outputs the URL, bucket, queue and what the deploy workflow needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs as Json);
    for (const name of ['Url', 'BucketName', 'JobQueueArn', 'JobDefinitionName', 'InferenceJobDefinitionName', 'MigrateJobQueueArn', 'MigrateJobDefinitionName', 'ImageTag', 'DatabaseSecretArn', 'AppDatabaseSecretArn', 'ApiRepositoryUri', 'TrainerRepositoryUri', 'CodeDeployApplicationName', 'CodeDeployDeploymentGroupName', 'AlarmTopicArn']) {
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

  it('refuses a deployment without an image tag, or with `latest`', () => {
    assert.throws(() => synth({ imageTag: '' }), /imageTag is required/);
    assert.throws(() => synth({ imageTag: 'latest' }), /not "latest"/);
    assert.throws(() => synth({ migrateImageTag: 'latest-cuda' }), /migrateImageTag must name one build/);
    assert.doesNotMatch(json, /:latest/);
  });

  it('with gpu, private subnets and a GitHub repository: GPU training on Spot then on-demand, NAT, and a deploy role for the environment', () => {
    const t = synth({ gpu: true, natGateways: 1, githubRepository: 'acme/trainyard', imageTag: 'sha1' });
    const environments = resourcesOf(t, 'AWS::Batch::ComputeEnvironment').map(([id, e]) => [id, (e.Properties as Json).ComputeResources as Json] as const);
    const gpu = environments.filter(([, r]) => r.Type === 'EC2' || r.Type === 'SPOT');
    assert.deepEqual(gpu.map(([, r]) => r.Type).sort(), ['EC2', 'SPOT']);
    for (const [, r] of gpu) assert.deepEqual(r.Ec2Configuration, [{ ImageType: 'ECS_AL2023_NVIDIA' }]);
    const [[, gpuQueue]] = resourcesOf(t, 'AWS::Batch::JobQueue').filter(([id]) => id.startsWith('GpuJobQueue'));
    const order = ((gpuQueue.Properties as Json).ComputeEnvironmentOrder as { Order: number; ComputeEnvironment: { 'Fn::GetAtt': [string] } }[]).sort((a, b) => a.Order - b.Order);
    assert.deepEqual(order.map((o) => gpu.find(([id]) => id === o.ComputeEnvironment['Fn::GetAtt'][0])![1].Type), ['SPOT', 'EC2']);
    // A root volume the CUDA image fits on.
    const [[, gpuTemplate]] = resourcesOf(t, 'AWS::EC2::LaunchTemplate').filter(([id]) => id.startsWith('GpuLaunchTemplate'));
    assert.equal((((gpuTemplate.Properties as Json).LaunchTemplateData as Json).BlockDeviceMappings as { Ebs: Json }[])[0].Ebs.VolumeSize, 100);
    const training = definitionNamed(t, 'Trainyard-training-gpu');
    assert.deepEqual((training.ContainerProperties as Json).Command, ['run-job', 'Ref::jobId']);
    assert.deepEqual(((training.ContainerProperties as Json).ResourceRequirements as Json[]).find((r) => r.Type === 'GPU'), { Type: 'GPU', Value: '1' });
    assert.match(JSON.stringify((training.ContainerProperties as Json).Image), /:sha1-cuda"/);
    // Inference stays on Fargate: only training goes to GPU instances.
    assert.deepEqual(definitionNamed(t, 'Trainyard-inference').PlatformCapabilities, ['FARGATE']);
    t.resourceCountIs('AWS::EC2::NatGateway', 1);
    const deployRole = statements(t).filter((st) => st.owner.startsWith('GithubDeployRole'));
    const assume = deployRole.find((st) => list(st.statement.Action).includes('sts:AssumeRole'))!;
    // Exactly the four roles `cdk bootstrap` made, not any cdk-* role.
    assert.deepEqual(
      list(assume.statement.Resource).map((r) => JSON.stringify(r).match(/role\/cdk-hnb659fds-([a-z-]+)-role-/)?.[1]).sort(),
      ['deploy', 'file-publishing', 'image-publishing', 'lookup'],
    );
    assert.doesNotMatch(JSON.stringify(assume.statement.Resource), /cdk-\*/);
    const submit = deployRole.find((st) => list(st.statement.Action).includes('batch:SubmitJob'))!;
    assert.match(JSON.stringify(submit.statement.Resource), /job-definition\/Trainyard-migrate"/);
    assert.doesNotMatch(JSON.stringify(submit.statement.Resource), /training|inference/);
    // Still least privilege with every option on.
    for (const { owner, statement } of statements(t)) {
      for (const action of list(statement.Action).map(String)) assert.ok(action !== '*' && !action.endsWith(':*'), `${owner}: ${action}`);
    }
  });
});
