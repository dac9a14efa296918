// The synthesized template, compared with the committed snapshots in test/snapshots/. Any change
// to the stack shows up here as a diff that has to be accepted on purpose:
//   UPDATE_SNAPSHOTS=1 npm test --prefix infra      (then review `git diff infra/test/snapshots`)
// The stack is built with infra/cdk.json's context (feature flags included), as `cdk synth` does.
//
// Separately, the logical IDs of the resources that hold data are pinned by name: a refactor that
// renames one (moving it into another construct, say) would make CloudFormation create a new,
// empty resource and delete or orphan the old one. Accepting a snapshot does not accept that.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TrainyardStack, type TrainyardSettings } from '../lib/trainyard-stack.ts';
import { VARIANTS } from './variants.ts';

const here = import.meta.dirname;
const snapshots = join(here, 'snapshots');
const cdkContext = (JSON.parse(readFileSync(join(here, '../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;


function synth(settings: Partial<TrainyardSettings>): Record<string, unknown> {
  const app = new App({ context: cdkContext });
  return Template.fromStack(new TrainyardStack(app, 'Trainyard', { settings })).toJSON();
}

/** Resources whose replacement loses data or breaks clients: logical ID → type. */
const STATEFUL: Record<string, string> = {
  Bucket83908E77: 'AWS::S3::Bucket',
  DatabaseB269D8BB: 'AWS::RDS::DBInstance',
  TrainyardDatabaseSecretBA7F6EED3fdaad7efa858a3daf9490cf0a702aeb: 'AWS::SecretsManager::Secret',
  DatabaseSecretAttachmentE5D1B020: 'AWS::SecretsManager::SecretTargetAttachment',
  AppDatabaseSecret8F772B62: 'AWS::SecretsManager::Secret',
  AppDatabaseSecretAttachment3B29ECD2: 'AWS::SecretsManager::SecretTargetAttachment',
  ApiRepositoryB8378B43: 'AWS::ECR::Repository',
  TrainerRepository83C964A8: 'AWS::ECR::Repository',
  ApiLogs3D05D88B: 'AWS::Logs::LogGroup',
  JobLogs4F84869B: 'AWS::Logs::LogGroup',
  Vpc8378EB38: 'AWS::EC2::VPC',
  LoadBalancerBE9EEC3A: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
};

describe('template snapshots', () => {
  for (const [name, settings] of Object.entries(VARIANTS)) {
    it(`${name}: matches test/snapshots/${name}.template.json`, () => {
      const file = join(snapshots, `${name}.template.json`);
      const actual = synth(settings);
      if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(file)) {
        mkdirSync(snapshots, { recursive: true });
        writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      }
      assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')));
    });

    it(`${name}: keeps the logical IDs of the resources that hold data`, () => {
      // Since 2026-12-03 (issue 17), every data-holding resource is also deletion-protected or retained.
      const resources = synth(settings).Resources as Record<string, { Type: string }>;
      for (const [id, type] of Object.entries(STATEFUL)) assert.equal(resources[id]?.Type, type, `${id} (${type}) is missing or renamed`);
    });
  }
});
