// The API: the instance role, the runtime settings (an SSM parameter the BeforeInstall hook
// writes to /etc/trainyard/trainyard.env on every deployment, so a settings change reaches the
// running instances with the next deployment), the user data that prepares an instance (Node,
// CloudWatch agent, CodeDeploy agent), the launch template and Auto Scaling group (ELB health
// checks: a hung process is replaced), and the load balancer (HTTPS, :80 redirects, /metrics 403,
// access logs, deletion protection).
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import { FactName } from 'aws-cdk-lib/region-info';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { API_PORT, DATABASE_NAME, RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import type { Batch } from './batch.ts';
import type { Data } from './data.ts';
import { acknowledge, acknowledgeWildcards, nagArn, nagRef, StackPart } from './group.ts';
import type { Network } from './network.ts';

export class Api extends StackPart {
  readonly role: iam.Role;
  readonly group: autoscaling.AutoScalingGroup;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targets: elbv2.ApplicationTargetGroup;
  /** The env file's contents, read by the hooks (TRAINYARD_ENV_PARAMETER). */
  readonly settings: ssm.StringParameter;

  constructor(scope: Construct, id: string, s: TrainyardSettings, network: Network, data: Data, jobs: Batch) {
    super(scope, id);
    const { vpc, computeSubnets, publicCompute, albSg, apiSg } = network;
    const { bucket, appDbSecret, apiLogs, blobUrl } = data;
    const apiRole = new iam.Role(this.home, 'ApiInstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Trainyard API instances: Batch jobs on one queue, one bucket prefix, one secret',
      // Session Manager shell (no SSH keys, no port 22): how an operator runs `trainyard tokens create`.
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.role = apiRole;
    data.grantDataPrefix(apiRole);
    // The CodeDeploy agent downloads revisions with the instance's credentials.
    apiRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadReleases', actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [bucket.arnForObjects(`${RELEASES_PREFIX}/*`)] }));
    // The application user's secret, read when a pool connects and again after a refused login.
    appDbSecret.grantRead(apiRole);
    const jobDefinitionArns = [jobs.trainingDefinitionName, jobs.inferenceDefinitionName].flatMap((name) => {
      const base = Stack.of(this).formatArn({ service: 'batch', resource: 'job-definition', resourceName: name });
      return [base, `${base}:*`];
    });
    const jobArns = Stack.of(this).formatArn({ service: 'batch', resource: 'job', resourceName: '*' });
    apiRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SubmitJobs',
        actions: ['batch:SubmitJob'],
        resources: [...new Set([jobs.trainingQueue, jobs.fargateQueue])].map((q) => q.jobQueueArn).concat(jobDefinitionArns),
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
    // Only jobs a Trainyard API submitted: the executor tags each with trainyard:job at SubmitJob.
    apiRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TerminateJobs',
        actions: ['batch:TerminateJob'],
        resources: [jobArns],
        conditions: { StringLike: { 'aws:ResourceTag/trainyard:job': '*' } },
      }),
    );
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
      `TRAINYARD_BATCH_JOB_QUEUE=${jobs.trainingQueue.jobQueueArn}`,
      `TRAINYARD_BATCH_JOB_DEFINITION=${jobs.trainingDefinitionName}`,
      `TRAINYARD_BATCH_INFERENCE_JOB_QUEUE=${jobs.fargateQueue.jobQueueArn}`,
      `TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION=${jobs.inferenceDefinitionName}`,
      'TRAINYARD_AUTH=on',
      'TRAINYARD_AUTO_MIGRATE=false',
      `TRAINYARD_DATABASE_SECRET_ARN=${appDbSecret.secretArn}`,
      `TRAINYARD_DB_NAME=${DATABASE_NAME}`,
      'TRAINYARD_DATABASE_TLS=rds',
      `AWS_REGION=${Aws.REGION}`,
      'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true',
      'TRAINYARD_NODE=/usr/bin/node',
    ].join('\n');
    const settingsName = `/${s.stackName}/api/env`;
    this.settings = new ssm.StringParameter(this.home, 'ApiSettings', {
      parameterName: settingsName,
      description: 'Trainyard API settings: the env file the BeforeInstall hook writes on every deployment',
      stringValue: envFile,
      tier: ssm.ParameterTier.STANDARD,
    });
    this.settings.grantRead(apiRole);
    // Static for the life of the stack: where the settings are, and the region to ask.
    const instanceEnv = [`TRAINYARD_ENV_PARAMETER=${settingsName}`, `AWS_REGION=${Aws.REGION}`].join('\n');
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
      // Node 20 (the revision brings its node_modules, built in CI: no npm, no compiler here), the
      // CodeDeploy agent's Ruby, the CloudWatch agent.
      'dnf install -y nodejs20 ruby wget amazon-cloudwatch-agent logrotate',
      '[ -e /usr/bin/node ] || ln -s /usr/bin/node-20 /usr/bin/node',
      // Where the settings live; BeforeInstall writes them to /etc/trainyard/trainyard.env on
      // every deployment (the database password is fetched from Secrets Manager at start).
      'install -d -m 0755 /etc/trainyard',
      `cat > /etc/trainyard/instance.env <<'TRAINYARD_ENV'\n${instanceEnv}\nTRAINYARD_ENV`,
      'chmod 0644 /etc/trainyard/instance.env',
      "printf '/var/log/trainyard/*.log {\\n  daily\\n  rotate 7\\n  compress\\n  missingok\\n  copytruncate\\n}\\n' > /etc/logrotate.d/trainyard",
      `cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CW_AGENT'\n${agentConfig}\nCW_AGENT`,
      '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json',
      // The CodeDeploy agent; once it runs, CodeDeploy deploys the last good revision to this instance.
      `wget -q -O /tmp/codedeploy-install https://aws-codedeploy-${Aws.REGION}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}/latest/install`,
      'chmod +x /tmp/codedeploy-install && /tmp/codedeploy-install auto && rm -f /tmp/codedeploy-install',
      'systemctl enable --now codedeploy-agent',
    );

    const launchTemplate = new ec2.LaunchTemplate(this.home, 'ApiLaunchTemplate', {
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
    this.group = new autoscaling.AutoScalingGroup(this.home, 'ApiGroup', {
      vpc,
      vpcSubnets: computeSubnets,
      launchTemplate,
      minCapacity: s.apiMinCapacity,
      maxCapacity: s.apiMaxCapacity,
      // EC2 status checks and the load balancer's: an instance whose /readyz keeps failing (a hung
      // process) is replaced. The grace period covers boot plus CodeDeploy's first deployment to
      // a new instance, which holds it in Pending:Wait until the revision is installed; a stack
      // with no deployment yet replaces its instances until deploy.yml's first one (docs/deploy.md).
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
        gracePeriod: Duration.minutes(15),
      }),
    });
    acknowledge(this.group, [
      { id: 'AwsSolutions-AS3', reason: 'Scaling events are not alarms; unhealthy hosts and 5xx alarm through the stack SNS topic instead.' },
    ]);
    this.group.scaleOnCpuUtilization('CpuScaling', { targetUtilizationPercent: 60 });

    const alb = new elbv2.ApplicationLoadBalancer(this.home, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      // Server-Sent Events (job progress) and large uploads keep connections open.
      idleTimeout: Duration.minutes(5),
      dropInvalidHeaderFields: true,
      deletionProtection: true,
    });
    // Access logs under alb/ of the logs bucket. Written out rather than alb.logAccessLogs(),
    // which needs the region at synth time: the template is region-agnostic. Regions from before
    // August 2022 deliver as their regional ELB account, newer ones as the log delivery service.
    const elbAccount = Stack.of(this).regionalFact(FactName.ELBV2_ACCOUNT, Aws.ACCOUNT_ID);
    data.logsBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'LoadBalancerAccessLogs',
        actions: ['s3:PutObject'],
        principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com'), new iam.AccountPrincipal(elbAccount)],
        resources: [data.logsBucket.arnForObjects(`alb/AWSLogs/${Aws.ACCOUNT_ID}/*`)],
      }),
    );
    alb.setAttribute('access_logs.s3.enabled', 'true');
    alb.setAttribute('access_logs.s3.bucket', data.logsBucket.bucketName);
    alb.setAttribute('access_logs.s3.prefix', 'alb');
    // ELB checks that it may write when the attribute is set: the policy must exist first.
    if (data.logsBucket.policy) alb.node.addDependency(data.logsBucket.policy);
    this.loadBalancer = alb;
    this.targets = new elbv2.ApplicationTargetGroup(this.home, 'ApiTargets', {
      vpc,
      port: API_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.group],
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
    let serving: elbv2.ApplicationListener;
    if (s.certificateArn) {
      serving = alb.addListener('Https', { port: 443, certificates: [elbv2.ListenerCertificate.fromArn(s.certificateArn)], defaultTargetGroups: [this.targets], open: false, sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS });
      alb.addListener('Http', { port: 80, open: false, defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }) });
    } else {
      // Only with insecureHttp (validateSettings refuses a stack with neither).
      serving = alb.addListener('Http', { port: 80, open: false, defaultTargetGroups: [this.targets] });
    }
    // Prometheus scrapes the instances inside the VPC; the internet gets no metrics.
    serving.addAction('MetricsForbidden', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(403, { contentType: 'text/plain', messageBody: 'Forbidden' }),
    });
    acknowledge(network.albSg, [
      { id: 'AwsSolutions-EC23', reason: 'A public API: the load balancer admits allowedCidr (0.0.0.0/0 by default) on 80 and 443 only; 80 only redirects to 443.' },
    ]);
    acknowledge(apiRole, [
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]', reason: 'Session Manager shell access, instead of SSH keys and port 22.' },
    ]);
    acknowledgeWildcards(apiRole, [`${nagRef(bucket, 'Arn')}/${RELEASES_PREFIX}/*`], 'The CodeDeploy agent reads any revision under releases/.');
    acknowledgeWildcards(
      apiRole,
      [jobs.trainingDefinitionName, jobs.inferenceDefinitionName].map((name) => nagArn('batch', `job-definition/${name}:*`)),
      'Any revision of the two job definitions the API submits to.',
    );
    acknowledgeWildcards(apiRole, [nagArn('batch', 'job/*')], 'Job IDs are made at submit; TagResource is limited to SubmitJob and TerminateJob to jobs tagged trainyard:job.');
    acknowledgeWildcards(apiRole, ['*'], 'batch:DescribeJobs has no resource-level permissions.');
  }
}
