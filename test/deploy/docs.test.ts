// docs/deploy.md stays in step with the stack: every setting in infra/cdk.json and every stack
// output is documented.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const doc = readFileSync(join(root, 'docs/deploy.md'), 'utf8');

describe('docs/deploy.md', () => {
  it('documents every trainyard:* setting in infra/cdk.json', () => {
    const context = (JSON.parse(readFileSync(join(root, 'infra/cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
    const keys = Object.keys(context).filter((k) => k.startsWith('trainyard:') && !['trainyard:stackName', 'trainyard:imageTag'].includes(k));
    expect(keys.length).toBeGreaterThan(5);
    for (const key of keys) {
      const name = key.slice('trainyard:'.length);
      expect(doc.includes(key) || doc.includes(`\`${name}\``) || doc.includes(`${name}\``) || doc.includes(`/ ${name}`) || doc.includes(`${name}=`), key).toBe(true);
    }
  });

  it('names every stack output', () => {
    const stack = readFileSync(join(root, 'infra/lib/trainyard-stack.ts'), 'utf8');
    const outputs = [...stack.matchAll(/new CfnOutput\(this, '(\w+)'/g)].map((m) => m[1]);
    expect(outputs).toContain('Url');
    for (const output of outputs.filter((o) => o !== 'GpuJobQueueArn' && !o.endsWith('LogGroupName'))) expect(doc, output).toContain(output);
  });

  it('covers bootstrap, first token, cost and deletion', () => {
    for (const phrase of ['cdk bootstrap', 'tokens create', 'TRAINYARD_URL', 'TRAINYARD_TOKEN', 'At rest', 'Per training hour', 'npm run destroy --prefix infra']) {
      expect(doc, phrase).toContain(phrase);
    }
  });
});
