// The API: the instance role, the user data that prepares an instance (env file, CloudWatch
// agent, CodeDeploy agent), the launch template and Auto Scaling group, and the load balancer.
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { API_PORT, DATABASE_NAME, RELEASES_PREFIX, type TrainyardSettings } from '../settings.ts';
import type { Batch } from './batch.ts';
import type { Data } from './data.ts';
import { StackPart } from './group.ts';
import type { Network } from './network.ts';

export class Api extends StackPart {
  readonly role: iam.Role;
  readonly group: autoscaling.AutoScalingGroup;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targets: elbv2.ApplicationTargetGroup;

  constructor(scope: Construct, id: string, s: TrainyardSettings, network: Network, data: Data, jobs: Batch) {
    super(scope, id);
    const { vpc, computeSubnets, publicCompute, albSg, apiSg } = network;
    const { bucket, dbSecret, apiLogs, blobUrl } = data;
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
    dbSecret.grantRead(apiRole);
    const jobDefinitionArns = [jobs.jobDefinitionName].flatMap((name) => {
      const base = Stack.of(this).formatArn({ service: 'batch', resource: 'job-definition', resourceName: name });
      return [base, `${base}:*`];
    });
    const jobArns = Stack.of(this).formatArn({ service: 'batch', resource: 'job', resourceName: '*' });
    apiRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SubmitJobs',
        actions: ['batch:SubmitJob'],
        resources: [jobs.jobQueue.jobQueueArn, ...jobDefinitionArns],
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
      `TRAINYARD_BATCH_JOB_QUEUE=${jobs.jobQueue.jobQueueArn}`,
      `TRAINYARD_BATCH_JOB_DEFINITION=${jobs.jobDefinitionName}`,
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
      // EC2 status checks replace broken instances; the load balancer routes only to instances
      // whose /readyz passes. (ELB health checks would also recycle instances that have not had a
      // first CodeDeploy deployment yet.)
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(10) }),
    });
    this.group.scaleOnCpuUtilization('CpuScaling', { targetUtilizationPercent: 60 });

    const alb = new elbv2.ApplicationLoadBalancer(this.home, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      // Server-Sent Events (job progress) and large uploads keep connections open.
      idleTimeout: Duration.minutes(5),
      dropInvalidHeaderFields: true,
    });
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
    if (s.certificateArn) {
      alb.addListener('Https', { port: 443, certificates: [elbv2.ListenerCertificate.fromArn(s.certificateArn)], defaultTargetGroups: [this.targets], open: false, sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS });
      alb.addListener('Http', { port: 80, open: false, defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }) });
    } else {
      alb.addListener('Http', { port: 80, open: false, defaultTargetGroups: [this.targets] });
    }
  }
}
