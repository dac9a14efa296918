// Alarms, to one SNS topic (plus an email subscription with `alarmEmail`): the load balancer's
// 5xx, unhealthy hosts and response time, the database's CPU, free storage and connections, and
// every failed Batch job of the stack's queues (an EventBridge rule: Batch publishes no metric for
// it). The load balancer alarms also stop a CodeDeploy deployment and roll it back (delivery.ts).
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { TrainyardSettings } from '../settings.ts';
import type { Api } from './api.ts';
import type { Batch } from './batch.ts';
import type { Data } from './data.ts';
import { StackPart } from './group.ts';

export class Alarms extends StackPart {
  readonly topic: sns.Topic;
  /** The alarms a deployment watches: it stops and rolls back when one fires. */
  readonly deploymentAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, s: TrainyardSettings, data: Data, api: Api, jobs: Batch) {
    super(scope, id);
    // A key of our own: the AWS-managed SNS key does not let CloudWatch or EventBridge publish.
    const key = new kms.Key(this.home, 'AlarmTopicKey', { enableKeyRotation: true, description: 'Trainyard alarm topic' });
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      key.addToResourcePolicy(
        new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], principals: [new iam.ServicePrincipal(service)], resources: ['*'] }),
      );
    }
    this.topic = new sns.Topic(this.home, 'AlarmTopic', { displayName: `${s.stackName} alarms`, masterKey: key, enforceSSL: true });
    if (s.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(s.alarmEmail));
    const notify = new actions.SnsAction(this.topic);

    const alarm = (alarmId: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this.home, alarmId, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props });
      a.addAlarmAction(notify);
      a.addOkAction(notify);
      return a;
    };
    const lb = api.loadBalancer.metrics;
    const tg = api.targets.metrics;
    const minute = Duration.minutes(1);
    const elb5xx = alarm('LoadBalancer5xx', {
      alarmDescription: 'The load balancer answered 5xx itself (no healthy target, target refused or timed out)',
      metric: lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: minute, statistic: 'Sum' }),
      threshold: 10,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const target5xx = alarm('Api5xx', {
      alarmDescription: 'The API answered 5xx',
      metric: tg.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: minute, statistic: 'Sum' }),
      threshold: 10,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const unhealthy = alarm('UnhealthyHosts', {
      alarmDescription: 'An API instance fails /readyz',
      metric: tg.unhealthyHostCount({ period: minute, statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('ResponseTime', {
      alarmDescription: 'API p90 response time above 3 s for 15 minutes (job event streams are excluded: they count when they open)',
      metric: tg.targetResponseTime({ period: Duration.minutes(5), statistic: 'p90' }),
      threshold: 3,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    const db = data.database;
    alarm('DatabaseCpu', {
      alarmDescription: 'Database CPU above 80 % for 15 minutes',
      metric: db.metricCPUUtilization({ period: Duration.minutes(5) }),
      threshold: 80,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DatabaseFreeStorage', {
      alarmDescription: 'Database free storage below 2 GiB (storage autoscaling tops out at 200 GiB)',
      metric: db.metricFreeStorageSpace({ period: Duration.minutes(5) }),
      threshold: 2 * 1024 ** 3,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });
    alarm('DatabaseConnections', {
      alarmDescription: 'Database connections above 50 (a t4g.micro allows about 60)',
      metric: db.metricDatabaseConnections({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 50,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    new events.Rule(this.home, 'FailedJobs', {
      description: 'A Trainyard Batch job failed (after its retries)',
      eventPattern: {
        source: ['aws.batch'],
        detailType: ['Batch Job State Change'],
        detail: { status: ['FAILED'], jobQueue: jobs.queues.map((q) => q.jobQueueArn) },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });

    this.deploymentAlarms = [elb5xx, target5xx, unhealthy];
  }
}
