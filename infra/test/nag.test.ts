// cdk-nag's AwsSolutions pack over the stack, in every shape the snapshot tests synthesize: zero
// findings that are not acknowledged. Acknowledgements live next to their resources in
// lib/constructs/ (acknowledge(), acknowledgeWildcards()), each with its reason; this also checks
// that every one has a real reason. bin/app.ts runs the same pack, so `cdk synth` stops too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { TrainyardStack, type TrainyardSettings } from '../lib/trainyard-stack.ts';
import { VARIANTS } from './variants.ts';

const cdkContext = (JSON.parse(readFileSync(join(import.meta.dirname, '../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

interface Report {
  pluginReports: { pluginName: string; violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
}

function check(settings: Partial<TrainyardSettings>): { findings: string[]; acknowledgements: { id: string; reason: string }[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'trainyard-nag-'));
  try {
    const app = new App({ context: cdkContext, outdir });
    new TrainyardStack(app, 'Trainyard', { settings });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let error: unknown;
    try {
      app.synth();
    } catch (e) {
      error = e;
    }
    const file = join(outdir, 'validation-report.json');
    const findings = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Report).pluginReports.flatMap((p) => p.violations.map((v) => `${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`))
      : [];
    if (error && findings.length === 0) throw error;
    const acknowledgements: { id: string; reason: string }[] = [];
    const walk = (c: IConstruct) => {
      for (const entry of c.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        // { ruleId: reason }; aws-cdk-lib acknowledges some of its own checks here too.
        for (const [key, reason] of Object.entries(entry.data as Record<string, string>)) {
          const id = key.replace(/^[\w-]+::/, '');
          if (id.startsWith('AwsSolutions-')) acknowledgements.push({ id, reason });
        }
      }
      c.node.children.forEach(walk);
    };
    walk(app);
    return { findings, acknowledgements };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('cdk-nag AwsSolutions', () => {
  for (const [name, settings] of Object.entries({ ...VARIANTS, 'insecure-http': { imageTag: 'abc123', insecureHttp: true } })) {
    it(`${name}: no finding is left unacknowledged, and every acknowledgement says why`, () => {
      const { findings, acknowledgements } = check(settings);
      assert.deepEqual(findings, []);
      assert.ok(acknowledgements.length > 5, 'acknowledgements were recorded');
      for (const { id, reason } of acknowledgements) {
        assert.match(id, /^AwsSolutions-[A-Z]+\d+(\[.+\])?$/, id);
        assert.ok(reason.length >= 30 && !/TODO|FIXME/i.test(reason), `${id}: "${reason}"`);
      }
    });
  }

  it('would fail on a finding: a bucket without SSL enforcement or access logs', async () => {
    const { Bucket } = await import('aws-cdk-lib/aws-s3');
    const outdir = mkdtempSync(join(tmpdir(), 'trainyard-nag-'));
    try {
      const app = new App({ context: cdkContext, outdir });
      const stack = new TrainyardStack(app, 'Trainyard', { settings: VARIANTS.defaults });
      new Bucket(stack, 'Careless');
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      assert.throws(() => app.synth(), /Validation failed/);
      assert.match(readFileSync(join(outdir, 'validation-report.json'), 'utf8'), /AwsSolutions-S10[\s\S]*Careless/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
