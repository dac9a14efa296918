// The stack shapes the snapshot and cdk-nag tests synthesize.
import type { TrainyardSettings } from '../lib/trainyard-stack.ts';

export const VARIANTS: Record<string, Partial<TrainyardSettings>> = {
  // cdk.json as shipped, plus what every deployment must set (a release and a certificate).
  defaults: { imageTag: 'abc123', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc' },
  'gpu-nat-https-github': {
    gpu: true,
    natGateways: 1,
    certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
    githubRepository: 'acme/trainyard',
    createGithubOidcProvider: true,
    imageTag: 'sha1',
  },
};
