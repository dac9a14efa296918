// infra/cdk.json sets every feature flag the installed aws-cdk-lib recommends, at the recommended
// value: after an upgrade of aws-cdk-lib this fails until the new flags are reviewed and added
// (and the template snapshot shows what each one changes).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';

const context = (JSON.parse(readFileSync(join(import.meta.dirname, '../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

it('cdk.json sets every recommended CDK feature flag to its recommended value', () => {
  const wrong = Object.entries(CURRENTLY_RECOMMENDED_FLAGS)
    .filter(([flag, value]) => JSON.stringify(context[flag]) !== JSON.stringify(value))
    .map(([flag, value]) => `${flag}: ${JSON.stringify(context[flag])}, recommended ${JSON.stringify(value)}`);
  assert.deepEqual(wrong, []);
  assert.ok(Object.keys(CURRENTLY_RECOMMENDED_FLAGS).length > 50);
});
