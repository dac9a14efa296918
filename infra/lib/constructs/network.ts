// VPC and security groups. With natGateways = 0 (the default, cheapest) the API instances and
// Batch tasks sit in public subnets with public IPs and security groups that admit nothing from
// outside but the load balancer; with ≥ 1 they move to private subnets behind NAT gateways. The
// database is always in isolated subnets. S3 traffic uses a gateway endpoint.
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { API_PORT, type TrainyardSettings } from '../settings.ts';
import { StackPart } from './group.ts';

export class Network extends StackPart {
  readonly vpc: ec2.Vpc;
  /** Public subnets (no NAT) or private ones with egress: where instances and Batch tasks run. */
  readonly computeSubnets: ec2.SubnetSelection;
  readonly publicCompute: boolean;
  readonly albSg: ec2.SecurityGroup;
  readonly apiSg: ec2.SecurityGroup;
  readonly batchSg: ec2.SecurityGroup;
  readonly dbSg: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, s: TrainyardSettings) {
    super(scope, id);
    this.publicCompute = s.natGateways === 0;
    const vpc = new ec2.Vpc(this.home, 'Vpc', {
      maxAzs: 2,
      natGateways: s.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        ...(this.publicCompute ? [] : [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 }]),
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    this.vpc = vpc;
    this.computeSubnets = { subnetType: this.publicCompute ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS };

    const albSg = new ec2.SecurityGroup(this.home, 'LoadBalancerSecurityGroup', { vpc, description: 'Trainyard load balancer', allowAllOutbound: false });
    const apiSg = new ec2.SecurityGroup(this.home, 'ApiSecurityGroup', { vpc, description: 'Trainyard API instances: only the load balancer gets in' });
    const batchSg = new ec2.SecurityGroup(this.home, 'BatchSecurityGroup', { vpc, description: 'Trainyard training containers: nothing gets in' });
    const dbSg = new ec2.SecurityGroup(this.home, 'DatabaseSecurityGroup', { vpc, description: 'Trainyard database', allowAllOutbound: false });
    albSg.addIngressRule(ec2.Peer.ipv4(s.allowedCidr), ec2.Port.tcp(80), 'HTTP');
    if (s.certificateArn) albSg.addIngressRule(ec2.Peer.ipv4(s.allowedCidr), ec2.Port.tcp(443), 'HTTPS');
    albSg.addEgressRule(apiSg, ec2.Port.tcp(API_PORT), 'to the API instances');
    apiSg.addIngressRule(albSg, ec2.Port.tcp(API_PORT), 'from the load balancer');
    dbSg.addIngressRule(apiSg, ec2.Port.tcp(3306), 'API instances');
    dbSg.addIngressRule(batchSg, ec2.Port.tcp(3306), 'training containers');
    this.albSg = albSg;
    this.apiSg = apiSg;
    this.batchSg = batchSg;
    this.dbSg = dbSg;
  }
}
